// eval over a SQL generator: each question is asked with its database's schema (cached per db_id) and
// dialect SQLite; generation time is recorded; a generator failure is a per-question error, not fatal.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Database from "better-sqlite3";
import { evaluateSpider, generatorPredictor, readResults, type SqlGeneratorLike } from "../src/eval/index.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-eval-predictor-"));
  writeFileSync(
    join(dir, "dev.json"),
    JSON.stringify([
      { db_id: "shop", question: "How many items?", query: "SELECT count(*) FROM item" },
      { db_id: "shop", question: "Names by price", query: "SELECT name FROM item ORDER BY price" },
      { db_id: "zoo", question: "Animals?", query: "SELECT name FROM animal" },
      { db_id: "shop", question: "Crash me", query: "SELECT 1" },
    ]),
  );
  for (const [db, ddl] of [
    ["shop", "CREATE TABLE item (name TEXT, price REAL); INSERT INTO item VALUES ('pen', 2), ('ink', 1);"],
    ["zoo", "CREATE TABLE animal (name TEXT); INSERT INTO animal VALUES ('cat');"],
  ]) {
    mkdirSync(join(dir, "database", db), { recursive: true });
    const d = new Database(join(dir, "database", db, `${db}.sqlite`));
    d.exec(ddl);
    d.close();
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("questions reach the generator with their schema; answers are scored", async () => {
  const asked: Array<{ question: string; dbSchema: string; dialect: string }> = [];
  const answers: Record<string, string> = {
    "How many items?": "SELECT count(name) FROM item",
    "Names by price": "SELECT name FROM item ORDER BY price DESC",
    "Animals?": "SELECT name FROM animal",
  };
  const generator: SqlGeneratorLike = {
    async generate(input) {
      asked.push(input);
      if (!(input.question in answers)) throw new Error("model ran out of memory");
      return { sql: answers[input.question] };
    },
  };
  let schemaCalls = 0;
  const predict = generatorPredictor(generator, {
    spiderDir: dir,
    schemaStyle: "ddl",
    schemaText: ({ dbId, style }) => (schemaCalls++, `${style} of ${dbId}`),
  });
  const results = join(dir, "out", "model.jsonl");
  const s = await evaluateSpider({ spiderDir: dir, split: "dev", predict, predictorId: "fake", resultsPath: results });
  assert.deepEqual(
    asked.map((a) => [a.question, a.dbSchema, a.dialect]),
    [
      ["How many items?", "ddl of shop", "SQLite"],
      ["Names by price", "ddl of shop", "SQLite"],
      ["Animals?", "ddl of zoo", "SQLite"],
      ["Crash me", "ddl of shop", "SQLite"],
    ],
  );
  assert.equal(schemaCalls, 2);
  assert.deepEqual([s.scored, s.matched, s.errors.predict_error], [4, 2, 1]);
  const lines = readResults(results);
  assert.equal(lines.get("dev-1")!.match, false); // gold orders ascending
  assert.equal(typeof lines.get("dev-0")!.gen_ms, "number");
  assert.deepEqual(
    [lines.get("dev-3")!.error_kind, lines.get("dev-3")!.error],
    ["predict_error", "model ran out of memory"],
  );
});
