// Scorer fidelity: reference scoring follows test-suite-sql-eval's exec mode (first statement only, every "value"
// → 1, Python sqlite3's statement rules, --keep_distinct, --plug_value); strict scoring keeps sqlfocus's stricter
// rules. Expected outcomes follow the reference's evaluation.py / exec_eval.py / parse.py and sqlparse 0.4.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  executionMatch,
  firstStatement,
  plugValueCandidates,
  preparePair,
  pythonSqliteStatements,
  sqlparseStatements,
} from "../src/eval/index.js";
import { removeDistinctFirstStatement } from "../src/eval/sqlparse.js";
import { predictionFromLine } from "../src/eval/normalize.js";
import { SqlExecutor } from "../src/sql/index.js";
import { makeSpiderLayout, writeZoo } from "./helpers/made-up-dbs.js";

let dir: string;
let zoo: string;
let executor: SqlExecutor;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-scoring-"));
  zoo = writeZoo(join(dir, "zoo.sqlite"));
  executor = new SqlExecutor({ timeoutMs: 10_000 });
});
after(() => {
  executor.close();
  rmSync(dir, { recursive: true, force: true });
});

test("sqlparse's statement split: the first statement keeps its ';', spaces and line comment, not a newline", () => {
  const texts = (s: string) => sqlparseStatements(s).map((t) => t.map((x) => x.value).join(""));
  assert.deepEqual(texts("SELECT 1; SELECT 2"), ["SELECT 1; ", "SELECT 2"]);
  assert.deepEqual(texts("SELECT 1;\nSELECT 2"), ["SELECT 1;", "\nSELECT 2"]);
  assert.equal(firstStatement("SELECT 1; -- why\nSELECT 2"), "SELECT 1; -- why\n");
  assert.equal(firstStatement("SELECT 'a;b' FROM t; x"), "SELECT 'a;b' FROM t; ");
  assert.equal(firstStatement('SELECT "x;y"; z'), 'SELECT "x;y"; ');
  assert.equal(
    firstStatement("SELECT (1; 2) FROM t; x"),
    "SELECT (1; 2) FROM t; ",
    "';' inside parentheses does not split",
  );
  assert.equal(firstStatement("SELECT CASE WHEN a THEN b END FROM t; x"), "SELECT CASE WHEN a THEN b END FROM t; ");
  assert.equal(firstStatement("/* c */ SELECT 1; x"), "/* c */ SELECT 1; ");
  assert.equal(firstStatement(""), "");
  assert.equal(
    removeDistinctFirstStatement("SELECT DISTINCT a, count(DISTINCT b) FROM t; DROP TABLE t"),
    "SELECT  a, count( b) FROM t; ",
  );
  assert.equal(
    removeDistinctFirstStatement(`SELECT "distinct", 'distinct' FROM t -- distinct`),
    `SELECT "distinct", 'distinct' FROM t -- distinct`,
  );
});

test("Python sqlite3's rules: only comments is no rows; anything after the first statement is an error", () => {
  assert.equal(pythonSqliteStatements(""), "empty");
  assert.equal(pythonSqliteStatements("  -- nothing\n/* at all */ "), "empty");
  assert.equal(pythonSqliteStatements(";"), "empty");
  assert.equal(pythonSqliteStatements("SELECT 1"), "one");
  assert.equal(pythonSqliteStatements("SELECT 1;  -- done"), "one");
  assert.equal(pythonSqliteStatements("SELECT ';' FROM t"), "one");
  assert.equal(pythonSqliteStatements("SELECT 1;;"), "multiple");
  assert.equal(pythonSqliteStatements("SELECT 1; SELECT 2"), "multiple");
});

test("the value placeholder: every lowercase 'value' in reference scoring, ' value ' only in strict files", () => {
  const p = preparePair("SELECT 1", "SELECT name FROM t WHERE x = 'value' ORDER BY value_rank LIMIT value");
  assert.equal(p.pred, "SELECT name FROM t WHERE x = '1' ORDER BY 1_rank LIMIT 1");
  assert.equal(preparePair("SELECT 1", "SELECT Value FROM t", {}).pred, "SELECT Value FROM t", "only lowercase");
  assert.equal(
    preparePair("SELECT 1", "SELECT a FROM t LIMIT value", { scoring: "strict" }).pred,
    "SELECT a FROM t LIMIT value",
  );
  assert.equal(
    predictionFromLine("SELECT a FROM t WHERE b = value LIMIT value\tdb", "strict"),
    "SELECT a FROM t WHERE b = 1 LIMIT value",
  );
  assert.equal(
    predictionFromLine("SELECT a FROM t WHERE b = value LIMIT value\tdb"),
    "SELECT a FROM t WHERE b = value LIMIT value",
  );
  // keep_distinct: the whole text; without it, the first statement only (as the reference's remove_distinct).
  assert.equal(preparePair("SELECT 1", "SELECT DISTINCT a FROM t; SELECT 2").pred, "SELECT  a FROM t; ");
  assert.equal(
    preparePair("SELECT 1", "SELECT DISTINCT a FROM t; SELECT 2", { keepDistinct: true }).pred,
    "SELECT DISTINCT a FROM t; SELECT 2",
  );
});

test("--plug_value: the gold's values in the prediction's slots, every combination", () => {
  const gold = "SELECT nickname FROM animals WHERE species = 'Lion' AND born_year > 2016";
  const pred = preparePair(gold, "SELECT nickname FROM animals WHERE species = value AND born_year > value").predText;
  const { count, candidates } = plugValueCandidates(gold, pred);
  assert.equal(count, 4); // {'Lion', 2016} in two slots
  const all = [...candidates];
  assert.equal(all.length, 4);
  assert.ok(all.includes("select nickname from animals where species = 'Lion' and born_year > 2016"), all.join("\n"));
  // No slots: one candidate, the prediction as the reference rewrites it.
  assert.deepEqual(
    [...plugValueCandidates(gold, "SELECT nickname FROM animals").candidates],
    ["select nickname from animals"],
  );
});

test("executionMatch: reference vs strict scoring on the classes where they differ", async () => {
  const files = [zoo];
  const gold = "SELECT nickname FROM animals WHERE species = 'Lion' ORDER BY nickname LIMIT 1";
  const score = (pred: string, o: Parameters<typeof executionMatch>[4] = {}) =>
    executionMatch(executor, files, gold, pred, o);
  // Text after the first statement: the reference scores the first statement.
  const trailing = "SELECT nickname FROM animals WHERE species = 'Lion' ORDER BY nickname LIMIT 1; SELECT 2";
  assert.equal((await score(trailing)).match, true);
  const strict = await score(trailing, { scoring: "strict" });
  assert.equal(strict.match, false);
  assert.equal(strict.errorKind, "pred_error");
  // With keep_distinct the reference runs the whole text, and Python refuses a second statement.
  const kept = await score(trailing, { keepDistinct: true });
  assert.deepEqual([kept.match, kept.error], [false, "You can only execute one statement at a time."]);
  // LIMIT value at the end of the line.
  const placeholder = "SELECT nickname FROM animals WHERE species = 'Lion' ORDER BY nickname LIMIT value";
  assert.equal((await score(placeholder)).match, true);
  assert.equal((await score(placeholder, { scoring: "strict" })).match, false);
  // A prediction without values: wrong as it is, right with --plug_value.
  const slots = "SELECT nickname FROM animals WHERE species = value ORDER BY nickname LIMIT value";
  assert.equal((await score(slots)).match, false);
  assert.equal((await score(slots, { plugValue: true })).match, true);
  assert.equal(
    (
      await score("SELECT nickname FROM animals WHERE species = value ORDER BY nickname DESC LIMIT value", {
        plugValue: true,
      })
    ).match,
    false,
  );
  // Only comments: no rows (as Python's sqlite3), which matches an empty gold result.
  const none = await executionMatch(
    executor,
    files,
    "SELECT nickname FROM animals WHERE species = 'Okapi'",
    "-- I do not know",
  );
  assert.equal(none.match, true);
  assert.equal(
    (
      await executionMatch(
        executor,
        files,
        "SELECT nickname FROM animals WHERE species = 'Okapi'",
        "-- I do not know",
        { scoring: "strict" },
      )
    ).match,
    false,
  );
});

test("CLI: eval --predictions scores by the reference by default, --strict as before; a resume cannot mix them", () => {
  const spiderLike = makeSpiderLayout(join(dir, "spider-like"));
  const gold = JSON.parse(readFileSync(join(spiderLike, "dev.json"), "utf8")) as Array<{ query: string }>;
  // Every prediction is the gold with a second statement after it.
  const preds = join(dir, "preds.sql");
  writeFileSync(preds, gold.map((g) => `${g.query}; SELECT 1`).join("\n") + "\n");
  const run = (args: string[]) =>
    spawnSync(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "eval", "--spider", spiderLike, "--predictions", preds, ...args],
      { encoding: "utf8" },
    );
  const ref = run(["--out", join(dir, "ref.jsonl")]);
  assert.equal(ref.status, 0, ref.stderr);
  assert.match(ref.stdout, /execution accuracy 100\.00% \(10\/10/);
  const strict = run(["--out", join(dir, "strict.jsonl"), "--strict"]);
  assert.match(strict.stdout, /execution accuracy 0\.00% \(0\/10/);
  const mixed = run(["--out", join(dir, "ref.jsonl"), "--strict"]);
  assert.notEqual(mixed.status, 0);
  assert.match(mixed.stderr, /was written with scoring = "reference", not "strict"/);
  const aliases = run(["--out", join(dir, "plug.jsonl"), "--plug_value", "--keep_distinct"]);
  assert.equal(aliases.status, 0, aliases.stderr);
  assert.match(aliases.stdout, /execution accuracy 0\.00%/, "keep_distinct runs the whole text: two statements fail");
});
