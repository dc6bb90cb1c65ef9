// SQL execution for the evaluator: value types as Python's sqlite3 gives them, SQLite type affinity, invalid
// UTF-8, legacy double-quoted strings, errors, and per-query timeouts (a runaway query is killed).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Database from "better-sqlite3";
import { executionMatch } from "../src/eval/exec-match.js";
import { SqlExecutor } from "../src/sql/index.js";

let dir: string;
let dbFile: string;
let executor: SqlExecutor;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-eval-exec-"));
  dbFile = join(dir, "shop.sqlite");
  const db = new Database(dbFile);
  db.exec(`
    CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL, code TEXT, qty NUMERIC, raw BLOB);
    INSERT INTO item VALUES (1, 'pen', 1.5, 7, '3', x'0001'), (2, 'ink', 2.0, '08', 4.0, NULL), (3, 'cap', NULL, 9, 'many', NULL);
    CREATE TABLE note (id INTEGER, body TEXT);
    INSERT INTO note VALUES (1, CAST(x'61ff62' AS TEXT)), (2, 'ab');
  `);
  db.close();
  executor = new SqlExecutor({ timeoutMs: 1500 });
});

after(() => {
  executor.close();
  rmSync(dir, { recursive: true, force: true });
});

test("values come back typed as Python's sqlite3 returns them, after column affinity", async () => {
  const r = await executor.execute(dbFile, "SELECT id, name, price, code, qty, raw FROM item ORDER BY id");
  assert.equal(r.kind, "rows");
  if (r.kind !== "rows") return;
  assert.deepEqual(r.rows[0], [1n, "pen", 1.5, "7", 3n, new Uint8Array([0, 1])]); // TEXT affinity: 7 → '7'; NUMERIC: '3' → 3
  assert.deepEqual(r.rows[1], [2n, "ink", 2.0, "08", 4n, null]); // NUMERIC stores 4.0 as integer 4
  assert.deepEqual(r.rows[2], [3n, "cap", null, "9", "many", null]);
  assert.equal(typeof r.rows[1][2], "number");
});

test("type affinity decides matches: text '7' is not integer 7, REAL 2.0 equals INTEGER 2", async () => {
  const text = await executionMatch(executor, [dbFile], "SELECT code FROM item WHERE id = 1", "SELECT 7");
  assert.equal(text.match, false);
  const real = await executionMatch(executor, [dbFile], "SELECT price FROM item WHERE id = 2", "SELECT 2");
  assert.equal(real.match, true);
});

test("invalid UTF-8 in text is dropped, as decode(errors='ignore') does", async () => {
  const r = await executor.execute(dbFile, "SELECT body FROM note ORDER BY id");
  assert.deepEqual(r.kind === "rows" && r.rows, [["ab"], ["ab"]]);
});

test("double-quoted strings work as in stock SQLite; double-quoted names stay identifiers", async () => {
  const r = await executor.execute(
    dbFile,
    'SELECT "name", id FROM item WHERE name = "ink" OR "name" = \'pen\' ORDER BY id',
  );
  assert.deepEqual(r.kind === "rows" && r.rows, [
    ["pen", 1n],
    ["ink", 2n],
  ]);
  const m = await executionMatch(executor, [dbFile], 'SELECT id FROM item WHERE name = "cap"', "SELECT 3");
  assert.equal(m.match, true);
});

test("SQL errors and writes are prediction errors; a failing gold is reported as such", async () => {
  const syntax = await executionMatch(executor, [dbFile], "SELECT id FROM item", "SELEC id FROM item");
  assert.equal(syntax.errorKind, "pred_error");
  assert.match(syntax.error!, /syntax error/);
  const write = await executionMatch(executor, [dbFile], "SELECT id FROM item", "DELETE FROM item");
  assert.equal(write.errorKind, "pred_error");
  assert.match(write.error!, /readonly/);
  // A second statement: an error in strict scoring; reference scoring scores the first one (see eval-scoring-modes).
  const two = await executionMatch(executor, [dbFile], "SELECT 1", "SELECT 1; SELECT 2", { scoring: "strict" });
  assert.equal(two.errorKind, "pred_error");
  assert.equal((await executionMatch(executor, [dbFile], "SELECT 1", "SELECT 1; SELECT 2")).match, true);
  const empty = await executionMatch(executor, [dbFile], "SELECT 1", "  ");
  assert.deepEqual([empty.match, empty.errorKind, empty.error], [false, "pred_error", "empty prediction"]);
  const gold = await executionMatch(executor, [dbFile], "SELECT nope FROM item", "SELECT 1");
  assert.equal(gold.errorKind, "gold_error");
  assert.equal(gold.match, false);
  const ok = await executionMatch(executor, [dbFile], "SELECT id FROM item;", "select id from item where 1 = 1");
  assert.deepEqual([ok.match, ok.error], [true, null]);
});

test("a query past its timeout is killed and the next query runs normally", async () => {
  const endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
  const t = await executionMatch(executor, [dbFile], "SELECT 1", endless);
  assert.equal(t.errorKind, "pred_timeout");
  const r = await executor.execute(dbFile, "SELECT count(*) FROM item");
  assert.deepEqual(r.kind === "rows" && r.rows, [[3n]]);
});

test("queries run in parallel on several processes", async () => {
  const pool = new SqlExecutor({ timeoutMs: 5000, processes: 2 });
  try {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pool.execute(dbFile, `SELECT ${i}, count(*) FROM item`)),
    );
    results.forEach((r, i) => assert.deepEqual(r.kind === "rows" && r.rows, [[BigInt(i), 3n]]));
  } finally {
    pool.close();
  }
});
