// `prepare`: Spider → training JSONL. A small Spider-shaped folder exercises line forms, dropping options,
// missing databases and atomic output; the real Spider (when present) checks dev-0's prompt by the sha256 of its
// hand-written expected text (Spider-derived text is not committed: CC BY-SA) and against dev.json and the database.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Database from "better-sqlite3";
import { prepareSpider, resolveSpiderDir, spiderSchemaText } from "../src/eval/index.js";
import { buildNl2SqlPrompt } from "../src/text2sql/index.js";
import { formatMSchema, readSqliteSchema } from "../src/mschema/index.js";
import { assertDigest, checkMSchemaAgainstSqlite } from "./helpers/spider-checks.js";
import { requireSpider, spiderDir } from "./helpers/services.js";

let mini: string;
let out: string;
const SHOP_DDL = "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL);";

before(() => {
  mini = mkdtempSync(join(tmpdir(), "sqlfocus-eval-prepare-"));
  out = join(mini, "out");
  const dev = [
    { db_id: "shop", question: "How many items?", query: "SELECT count(*) FROM item" },
    { db_id: "ghost", question: "Anything?", query: "SELECT 1" },
    { db_id: "shop", question: "Cheapest item?", query: "SELECT name FROM item ORDER BY price LIMIT 1" },
    { db_id: "shop", question: "How many items?", query: "SELECT count(*) FROM item" },
    { db_id: "shop", question: "Broken?", query: "SELECT nothing FROM item" },
  ];
  writeFileSync(join(mini, "dev.json"), JSON.stringify(dev));
  mkdirSync(join(mini, "database", "shop"), { recursive: true });
  const db = new Database(join(mini, "database", "shop", "shop.sqlite"));
  db.exec(SHOP_DDL + " INSERT INTO item VALUES (1, 'pen', 1.5), (2, 'ink', 0.5);");
  db.close();
});
after(() => rmSync(mini, { recursive: true, force: true }));

const lines = (path: string) =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

test("messages lines: XiYan prompt over the schema, gold SQL in a ```sql block; missing databases skipped", async () => {
  const path = join(out, "dev.jsonl");
  const [r] = await prepareSpider({
    spiderDir: mini,
    outputs: [{ split: "dev", path }],
    schemaStyle: "ddl",
    schemaText: spiderSchemaText(),
  });
  assert.deepEqual([r.examples, r.written, r.dropped.missingDb], [5, 4, 1]);
  assert.deepEqual(r.missingDbs, { ghost: 1 });
  const [first] = lines(path);
  assert.deepEqual(first, {
    messages: [
      {
        role: "user",
        content: buildNl2SqlPrompt({ question: "How many items?", dbSchema: SHOP_DDL, dialect: "SQLite" }),
      },
      { role: "assistant", content: "```sql\nSELECT count(*) FROM item\n```" },
    ],
  });
  assert.deepEqual(readdirSync(out), ["dev.jsonl"]); // no temp file left behind
});

test("fields lines and the dropping options", async () => {
  const path = join(out, "fields.jsonl");
  const [r] = await prepareSpider({
    spiderDir: mini,
    outputs: [{ split: "dev", path }],
    schemaStyle: "ddl",
    format: "fields",
    schemaText: spiderSchemaText(),
    drop: {
      duplicates: true,
      unexecutable: true,
      maxChars: buildNl2SqlPrompt({ question: "How many items?", dbSchema: SHOP_DDL }).length + 40,
    },
  });
  assert.deepEqual(r.dropped, { missingDb: 1, excludedDb: 0, tooLong: 1, unexecutable: 1, duplicate: 1 });
  assert.deepEqual(
    r.unexecutable.map((u) => u.id),
    ["dev-4"],
  );
  assert.deepEqual(lines(path), [
    { question: "How many items?", db_schema: SHOP_DDL, query: "SELECT count(*) FROM item", dialect: "SQLite" },
  ]);
  const [ex] = await prepareSpider({
    spiderDir: mini,
    outputs: [{ split: "dev", path }],
    schemaStyle: "ddl",
    schemaText: spiderSchemaText(),
    drop: { dbIds: ["shop"] },
  });
  assert.deepEqual([ex.written, ex.dropped.excludedDb], [0, 4]);
});

test("a failure leaves no output file and names the database", async () => {
  const path = join(out, "fail.jsonl");
  await assert.rejects(
    prepareSpider({
      spiderDir: mini,
      outputs: [{ split: "dev", path }],
      schemaText: ({ dbId }) => {
        throw new Error(`cannot read ${dbId}`);
      },
    }),
    /cannot read shop/,
  );
  assert.equal(existsSync(path), false);
  assert.deepEqual(
    readdirSync(out).filter((f) => f.includes("fail")),
    [],
  );
});

test("an output that is a folder, or under a file, is an error naming it before any work; CLI checks --example-values", async () => {
  const folder = join(out, "a-folder.jsonl");
  mkdirSync(folder, { recursive: true });
  let asked = 0;
  const schemaText = () => (asked++, "schema");
  await assert.rejects(
    prepareSpider({ spiderDir: mini, outputs: [{ split: "dev", path: folder }], schemaText }),
    (err: Error) => err.message === `cannot write ${folder}: it is a folder (name the output .jsonl file)`,
  );
  const file = join(out, "notes.txt");
  writeFileSync(file, "keep me\n");
  const under = join(file, "dev.jsonl");
  await assert.rejects(
    prepareSpider({ spiderDir: mini, outputs: [{ split: "dev", path: under }], schemaText }),
    (err: Error) => err.message === `cannot write ${under}: a part of its folder path is a file`,
  );
  assert.equal(asked, 0);
  assert.equal(readFileSync(file, "utf8"), "keep me\n");
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "prepare",
      "--spider",
      mini,
      "--splits",
      "dev",
      "--example-values",
      "-1",
      "--dev-out",
      join(out, "never.jsonl"),
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^sqlfocus: --example-values must be a whole number >= 0\n/);
  assert.equal(existsSync(join(out, "never.jsonl")), false);
});

test("CLI: prepare writes the split and reports skipped examples", () => {
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "prepare",
      "--spider",
      mini,
      "--splits",
      "dev",
      "--schema-style",
      "ddl",
      "--dev-out",
      join(out, "cli.jsonl"),
      "--drop-unexecutable",
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /dev: wrote 3 of 5 examples/);
  assert.match(r.stdout, /1 with a missing database \(ghost: 1\); 1 whose gold SQL fails \(dev-4\)/);
  assert.equal(lines(join(out, "cli.jsonl")).length, 3);
});

const skipSpider = requireSpider(); // skipped without Spider; a failure under CI (test/helpers/services.ts)
const spider = skipSpider ? null : resolveSpiderDir(spiderDir);

// Spider's dev-0 as read at test time: the question, gold SQL and database the prompt must carry.
function spiderDev0(dir: string): { question: string; query: string; dbId: string; dbPath: string } {
  const [first] = JSON.parse(readFileSync(join(dir, "dev.json"), "utf8")) as Array<{
    question: string;
    query: string;
    db_id: string;
  }>;
  return {
    question: first!.question,
    query: first!.query,
    dbId: first!.db_id,
    dbPath: join(dir, "database", first!.db_id, `${first!.db_id}.sqlite`),
  };
}

// The XiYan prompt around a schema, written out (the project's template text, not Spider's).
const xiyanPrompt = (question: string, schema: string) =>
  "你是一名SQLite专家，现在需要阅读并理解下面的【数据库schema】描述，以及可能用到的【参考信息】，并运用SQLite知识生成sql语句回答【用户问题】。\n" +
  `【用户问题】\n${question}\n\n` +
  `【数据库schema】\n${schema}\n\n` +
  "【参考信息】\n\n\n" +
  `【用户问题】\n${question}\n\n\`\`\`sql`;

// sha256 of dev-0's expected lines, written out by hand (the database's CREATE TABLE texts; the M-Schema of
// concert_singer derived with the sqlite3 shell) while they were still in this file.
const DEV0_SHA256 = {
  ddlPrompt: "b680c73badc5bbf00db3afb199ff3cef7a9120366a46e6a7087781c8775ba6ea",
  mschemaPrompt: "29b84c6f62b15d214bdf9142cac70016ea401bd0dde67bdd86c98bf063bcae64",
  answer: "a0b1187e3043af32ed112d62237f9255433f8aad7b28c29c1f592fabc581f11c",
};

test(
  "Spider dev-0 prepared with DDL: the expected prompt (by digest), its question, DDL and gold SQL",
  { skip: skipSpider },
  async () => {
    const path = join(out, "spider-dev.jsonl");
    await prepareSpider({
      spiderDir: spider!,
      outputs: [{ split: "dev", path }],
      schemaStyle: "ddl",
      schemaText: spiderSchemaText(),
      limit: 1,
    });
    const [line] = lines(path);
    const dev0 = spiderDev0(spider!);
    const db = new Database(dev0.dbPath, { readonly: true });
    const creates = (
      db
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL ORDER BY rowid")
        .all() as Array<{ sql: string }>
    ).map((r) => r.sql.trim());
    db.close();
    assert.ok(creates.length > 0);
    const ddl = creates.map((c) => c.replace(/;?$/, ";")).join("\n\n");
    const content: string = line.messages[0].content;
    assert.equal(content, xiyanPrompt(dev0.question, ddl));
    assert.equal(content.split(`【用户问题】\n${dev0.question}\n\n`).length, 3); // the question, before and after the schema
    for (const c of creates) assert.ok(content.includes(c), `the prompt holds ${c.slice(0, 40)}…`);
    assert.equal(line.messages[1].content, "```sql\n" + dev0.query + "\n```");
    assertDigest(content, DEV0_SHA256.ddlPrompt, "Spider dev-0 DDL prompt");
    assertDigest(line.messages[1].content, DEV0_SHA256.answer, "Spider dev-0 answer");
  },
);

test("prepare defaults to M-Schema: the schema text is src/mschema's for the database", async () => {
  const path = join(out, "mschema.jsonl");
  const [r] = await prepareSpider({
    spiderDir: mini,
    outputs: [{ split: "dev", path }],
    schemaText: spiderSchemaText(),
    limit: 1,
  });
  assert.equal(r.written, 1);
  const expected = formatMSchema(readSqliteSchema(join(mini, "database", "shop", "shop.sqlite"), { dbId: "shop" }));
  // Written out by hand: the mini shop's one table, both rows as examples, REAL values as Python floats.
  const byHand = [
    "【DB_ID】 shop",
    "【Schema】",
    "# Table: item",
    "[",
    "(id:INTEGER, Primary Key, Examples: [1, 2]),",
    "(name:TEXT, Examples: [pen, ink]),",
    "(price:REAL, Examples: [1.5, 0.5])",
    "]",
  ].join("\n");
  assert.equal(expected, byHand);
  assert.equal(
    lines(path)[0].messages[0].content,
    buildNl2SqlPrompt({ question: "How many items?", dbSchema: expected, dialect: "SQLite" }),
  );
  assert.equal(lines(path)[0].messages[0].content, xiyanPrompt("How many items?", byHand));
});

test(
  "Spider dev-0 prepared with M-Schema: the expected prompt (by digest), its question, schema and gold SQL",
  { skip: skipSpider },
  async () => {
    const path = join(out, "spider-dev-mschema.jsonl");
    await prepareSpider({
      spiderDir: spider!,
      outputs: [{ split: "dev", path }],
      schemaStyle: "mschema",
      schemaText: spiderSchemaText(),
      limit: 1,
    });
    const [line] = lines(path);
    const dev0 = spiderDev0(spider!);
    const content: string = line.messages[0].content;
    const m =
      /^[^\n]*\n【用户问题】\n([\s\S]*?)\n\n【数据库schema】\n([\s\S]*)\n\n【参考信息】\n\n\n【用户问题】\n([\s\S]*?)\n\n```sql$/.exec(
        content,
      );
    assert.ok(m, `not a XiYan prompt:\n${content}`);
    assert.deepEqual([m[1], m[3]], [dev0.question, dev0.question]);
    const c = checkMSchemaAgainstSqlite(m[2]!, dev0.dbPath, dev0.dbId);
    assert.ok(c.tables > 0 && c.examples > 0);
    assert.equal(content, xiyanPrompt(dev0.question, m[2]!));
    assert.equal(line.messages[1].content, "```sql\n" + dev0.query + "\n```");
    assertDigest(content, DEV0_SHA256.mschemaPrompt, "Spider dev-0 M-Schema prompt");
    assertDigest(line.messages[1].content, DEV0_SHA256.answer, "Spider dev-0 answer");
  },
);
