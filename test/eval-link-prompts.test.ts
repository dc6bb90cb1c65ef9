// Question-aware prompts through prepare and eval: the same linked M-Schema (linkSchema over the database, values
// from the cached index) reaches the training lines and the model, per question.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  buildNl2SqlPrompt,
  evaluateSpider,
  generatorPredictor,
  linkSchema,
  prepareSpider,
  qwenTokenCounter,
  readSqliteSchema,
  sqliteValueIndex,
} from "../src/index.js";
import { spiderSchemaText, type SqlGeneratorLike } from "../src/eval/index.js";
import { makeSpiderLayout, QUESTIONS } from "./helpers/made-up-dbs.js";

let dir: string;
let spiderLike: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-link-prompts-"));
  spiderLike = makeSpiderLayout(join(dir, "spider-like"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const lines = (path: string) =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

test("prepare --link-budget: each line's prompt carries its question's linked M-Schema", async () => {
  const out = join(dir, "linked.jsonl");
  const provider = spiderSchemaText({ link: { budget: 160, valueCacheDir: join(dir, "vc") } });
  assert.equal(provider.perQuestion, true);
  await prepareSpider({ spiderDir: spiderLike, outputs: [{ split: "dev", path: out }], schemaText: provider });
  const got = lines(out);
  assert.equal(got.length, QUESTIONS.length);
  const count = await qwenTokenCounter();
  const lib = join(spiderLike, "database", "library", "library.sqlite");
  const expected = linkSchema(readSqliteSchema(lib, { dbId: "library" }), QUESTIONS[4]!.question, {
    budget: 160,
    countTokens: count,
    values: sqliteValueIndex(lib, { dbId: "library" }),
  });
  assert.equal(
    got[4].messages[0].content,
    buildNl2SqlPrompt({ question: QUESTIONS[4]!.question, dbSchema: expected.text, dialect: "SQLite" }),
  );
  assert.match(got[4].messages[0].content, /Examples: \[Night Ferry/);
  // Different questions on one database get different schemas; each fits the budget.
  const schemaOf = (p: string) => p.slice(p.indexOf("【DB_ID】"), p.indexOf("\n\n【参考信息】"));
  assert.notEqual(schemaOf(got[0].messages[0].content), schemaOf(got[1].messages[0].content));
  for (const l of got) assert.ok(count(schemaOf(l.messages[0].content)) <= 160);
  assert.equal(readdirSync(join(dir, "vc")).length, 2, "one cached value index per database");
});

test("eval with a linked provider: the model is asked with the same linked schema as prepare wrote", async () => {
  const asked: string[] = [];
  const generator: SqlGeneratorLike = {
    async generate(input) {
      asked.push(input.dbSchema);
      return { sql: QUESTIONS.find((q) => q.question === input.question)!.query };
    },
  };
  const predict = generatorPredictor(generator, {
    spiderDir: spiderLike,
    schemaText: spiderSchemaText({ link: { budget: 0 } }),
  });
  const s = await evaluateSpider({
    spiderDir: spiderLike,
    split: "dev",
    predict,
    predictorId: "gold",
    resultsPath: join(dir, "eval", "r.jsonl"),
  });
  assert.equal(s.ex, 1);
  assert.equal(asked.length, QUESTIONS.length);
  assert.match(asked[6]!, /\(species:TEXT, Examples: \[Lion, /, "the lion question sees Lion first");
  assert.doesNotMatch(asked[0]!, /Examples: \[Lion/);
});

test("CLI: prepare --link-budget writes linked prompts; bad values and the DDL style are refused", () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8" });
  const out = join(dir, "cli.jsonl");
  const r = run([
    "prepare",
    "--spider",
    spiderLike,
    "--splits",
    "dev",
    "--dev-out",
    out,
    "--link-budget",
    "0",
    "--value-cache",
    join(dir, "vc2"),
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(lines(out)[1].messages[0].content, /\(birth_country:TEXT, Examples: \[France, /);
  const bad = run(["prepare", "--spider", spiderLike, "--splits", "dev", "--dev-out", out, "--link-budget", "-5"]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--link-budget must be a whole number of tokens >= 0, got -5/);
  const ddl = run([
    "prepare",
    "--spider",
    spiderLike,
    "--splits",
    "dev",
    "--dev-out",
    out,
    "--link-budget",
    "100",
    "--schema-style",
    "ddl",
  ]);
  assert.match(ddl.stderr, /cannot be used with --schema-style ddl/);
  const preds = run(["eval", "--spider", spiderLike, "--predictions", out, "--link-budget", "100"]);
  assert.match(preds.stderr, /use it with --model, not --predictions/);
});
