// `prepare`: Spider → training JSONL. A small Spider-shaped folder exercises line forms, dropping options,
// missing databases and atomic output; the real Spider (when present) checks a known question's prompt.
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
import { CONCERT_SINGER_MSCHEMA } from "./helpers/spider-mschema.js";

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

const lines = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l));

test("messages lines: XiYan prompt over the schema, gold SQL in a ```sql block; missing databases skipped", async () => {
  const path = join(out, "dev.jsonl");
  const [r] = await prepareSpider({ spiderDir: mini, outputs: [{ split: "dev", path }], schemaStyle: "ddl", schemaText: spiderSchemaText() });
  assert.deepEqual([r.examples, r.written, r.dropped.missingDb], [5, 4, 1]);
  assert.deepEqual(r.missingDbs, { ghost: 1 });
  const [first] = lines(path);
  assert.deepEqual(first, {
    messages: [
      { role: "user", content: buildNl2SqlPrompt({ question: "How many items?", dbSchema: SHOP_DDL, dialect: "SQLite" }) },
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
    drop: { duplicates: true, unexecutable: true, maxChars: buildNl2SqlPrompt({ question: "How many items?", dbSchema: SHOP_DDL }).length + 40 },
  });
  assert.deepEqual(r.dropped, { missingDb: 1, excludedDb: 0, tooLong: 1, unexecutable: 1, duplicate: 1 });
  assert.deepEqual(r.unexecutable.map((u) => u.id), ["dev-4"]);
  assert.deepEqual(lines(path), [{ question: "How many items?", db_schema: SHOP_DDL, query: "SELECT count(*) FROM item", dialect: "SQLite" }]);
  const [ex] = await prepareSpider({ spiderDir: mini, outputs: [{ split: "dev", path }], schemaStyle: "ddl", schemaText: spiderSchemaText(), drop: { dbIds: ["shop"] } });
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
  assert.deepEqual(readdirSync(out).filter((f) => f.includes("fail")), []);
});

test("CLI: prepare writes the split and reports skipped examples", () => {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "prepare", "--spider", mini, "--splits", "dev", "--schema-style", "ddl", "--dev-out", join(out, "cli.jsonl"), "--drop-unexecutable"],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /dev: wrote 3 of 5 examples/);
  assert.match(r.stdout, /1 with a missing database \(ghost: 1\); 1 whose gold SQL fails \(dev-4\)/);
  assert.equal(lines(join(out, "cli.jsonl")).length, 3);
});

const spider = (() => {
  try {
    return resolveSpiderDir();
  } catch {
    return null;
  }
})();

test("Spider dev-0 (concert_singer) prepared with DDL matches the expected prompt exactly", { skip: spider ? false : "Spider 1.0 not found" }, async () => {
  const path = join(out, "spider-dev.jsonl");
  await prepareSpider({ spiderDir: spider!, outputs: [{ split: "dev", path }], schemaStyle: "ddl", schemaText: spiderSchemaText(), limit: 1 });
  const [line] = lines(path);
  const ddl = [
    'CREATE TABLE "stadium" (\n"Stadium_ID" int,\n"Location" text,\n"Name" text,\n"Capacity" int,\n"Highest" int,\n"Lowest" int,\n"Average" int,\nPRIMARY KEY ("Stadium_ID")\n);',
    'CREATE TABLE "singer" (\n"Singer_ID" int,\n"Name" text,\n"Country" text,\n"Song_Name" text,\n"Song_release_year" text,\n"Age" int,\n"Is_male" bool,\nPRIMARY KEY ("Singer_ID")\n);',
    'CREATE TABLE "concert" (\n"concert_ID" int,\n"concert_Name" text,\n"Theme" text,\n"Stadium_ID" text,\n"Year" text,\nPRIMARY KEY ("concert_ID"),\nFOREIGN KEY ("Stadium_ID") REFERENCES "stadium"("Stadium_ID")\n);',
    'CREATE TABLE "singer_in_concert" (\n"concert_ID" int,\n"Singer_ID" text,\nPRIMARY KEY ("concert_ID","Singer_ID"),\nFOREIGN KEY ("concert_ID") REFERENCES "concert"("concert_ID"),\nFOREIGN KEY ("Singer_ID") REFERENCES "singer"("Singer_ID")\n);',
  ].join("\n\n");
  assert.equal(
    line.messages[0].content,
    "你是一名SQLite专家，现在需要阅读并理解下面的【数据库schema】描述，以及可能用到的【参考信息】，并运用SQLite知识生成sql语句回答【用户问题】。\n" +
      "【用户问题】\nHow many singers do we have?\n\n" +
      `【数据库schema】\n${ddl}\n\n` +
      "【参考信息】\n\n\n" +
      "【用户问题】\nHow many singers do we have?\n\n```sql",
  );
  assert.equal(line.messages[1].content, "```sql\nSELECT count(*) FROM singer\n```");
});

test("prepare defaults to M-Schema: the schema text is src/mschema's for the database", async () => {
  const path = join(out, "mschema.jsonl");
  const [r] = await prepareSpider({ spiderDir: mini, outputs: [{ split: "dev", path }], schemaText: spiderSchemaText(), limit: 1 });
  assert.equal(r.written, 1);
  const expected = formatMSchema(readSqliteSchema(join(mini, "database", "shop", "shop.sqlite"), { dbId: "shop" }));
  assert.match(expected, /^【DB_ID】 shop\n【Schema】\n# Table: item\n/);
  assert.equal(lines(path)[0].messages[0].content, buildNl2SqlPrompt({ question: "How many items?", dbSchema: expected, dialect: "SQLite" }));
});

test("Spider dev-0 (concert_singer) prepared with M-Schema matches the expected prompt exactly", { skip: spider ? false : "Spider 1.0 not found" }, async () => {
  const path = join(out, "spider-dev-mschema.jsonl");
  await prepareSpider({ spiderDir: spider!, outputs: [{ split: "dev", path }], schemaStyle: "mschema", schemaText: spiderSchemaText(), limit: 1 });
  const [line] = lines(path);
  // The reference M-Schema tool's text of concert_singer, written out by hand in the helper.
  const mschema = CONCERT_SINGER_MSCHEMA;
  assert.equal(
    line.messages[0].content,
    "你是一名SQLite专家，现在需要阅读并理解下面的【数据库schema】描述，以及可能用到的【参考信息】，并运用SQLite知识生成sql语句回答【用户问题】。\n" +
      "【用户问题】\nHow many singers do we have?\n\n" +
      `【数据库schema】\n${mschema}\n\n` +
      "【参考信息】\n\n\n" +
      "【用户问题】\nHow many singers do we have?\n\n```sql",
  );
  assert.equal(line.messages[1].content, "```sql\nSELECT count(*) FROM singer\n```");
});
