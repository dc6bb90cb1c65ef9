import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { DEMO_DEV, DEMO_TRAIN, makeDemoData, writeDemoDatabase } from "../data/make-demo-data.js";
import { formatMSchema, readSqliteSchema } from "../src/mschema/index.js";

const committed = join(dirname(fileURLToPath(import.meta.url)), "..", "data", "demo");

interface Line {
  question: string;
  db_schema: string;
  query: string;
  dialect: string;
}
const readLines = (p: string): Line[] =>
  readFileSync(p, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));

// The JSONL files are committed; shop.sqlite is made by `npm install` (prepare) and here in a temp folder.
const made = mkdtempSync(join(tmpdir(), "sqlfocus-demo-"));
makeDemoData(made);

test("the committed demo set is what the script writes (same bytes); the database is deterministic", () => {
  for (const f of ["train.jsonl", "dev.jsonl"]) {
    assert.ok(
      readFileSync(join(made, f)).equals(readFileSync(join(committed, f))),
      `${f} differs: run 'npx tsx data/make-demo-data.ts'`,
    );
  }
  const again = mkdtempSync(join(tmpdir(), "sqlfocus-demo-"));
  writeDemoDatabase(join(again, "shop.sqlite"));
  assert.ok(
    readFileSync(join(again, "shop.sqlite")).equals(readFileSync(join(made, "shop.sqlite"))),
    "shop.sqlite is not the same bytes twice",
  );
  if (existsSync(join(committed, "shop.sqlite"))) {
    assert.ok(
      readFileSync(join(committed, "shop.sqlite")).equals(readFileSync(join(made, "shop.sqlite"))),
      "data/demo/shop.sqlite is stale: delete it and run npm run prepare",
    );
  }
});

test("every gold query runs on the demo database and returns rows; splits are disjoint", () => {
  const train = readLines(join(committed, "train.jsonl"));
  const dev = readLines(join(committed, "dev.jsonl"));
  assert.equal(train.length, DEMO_TRAIN.length);
  assert.equal(dev.length, DEMO_DEV.length);
  assert.ok(train.length >= 45 && dev.length >= 10);
  const db = new Database(join(made, "shop.sqlite"), { readonly: true, fileMustExist: true });
  try {
    const schema = formatMSchema(readSqliteSchema(join(made, "shop.sqlite"), { dbId: "shop" }));
    for (const [i, e] of [...train, ...dev].entries()) {
      assert.deepEqual(Object.keys(e), ["question", "db_schema", "query", "dialect"]);
      assert.equal(e.db_schema, schema, `line ${i + 1}: db_schema is the database's M-Schema`);
      assert.equal(e.dialect, "SQLite");
      let rows: unknown[];
      try {
        rows = db.prepare(e.query).raw().all();
      } catch (err) {
        throw new Error(`'${e.question}': ${e.query} fails: ${(err as Error).message}`);
      }
      assert.ok(rows.length > 0 && (rows[0] as unknown[])[0] !== null, `'${e.question}' returns no rows`);
    }
  } finally {
    db.close();
  }
  const questions = new Set(train.map((e) => e.question));
  for (const e of dev) assert.ok(!questions.has(e.question), `dev question also in train: ${e.question}`);
  assert.equal(new Set([...train, ...dev].map((e) => e.question)).size, train.length + dev.length);
});

test("the demo schema text names every table and the foreign keys", () => {
  const schema = readLines(join(committed, "dev.jsonl"))[0].db_schema;
  assert.ok(schema.startsWith("【DB_ID】 shop\n【Schema】\n"));
  for (const t of ["customers", "products", "orders", "order_items"]) assert.ok(schema.includes(`# Table: ${t}\n`), t);
  assert.ok(schema.includes("orders.customer_id=customers.customer_id"));
});
