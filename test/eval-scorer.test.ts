// The execution-result comparison and query preprocessing of the Spider evaluator, on hand-made cases.
// Expected values follow taoyds/test-suite-sql-eval's exec_eval.py (checked against it with Python).
import assert from "node:assert/strict";
import { test } from "node:test";
import { resultsEqual, type SqlRow } from "../src/eval/compare.js";
import {
  orderMatters,
  preparePair,
  predictionFromLine,
  removeDistinct,
  replaceCurrentYear,
} from "../src/eval/normalize.js";

const eq = (g: SqlRow[], p: SqlRow[], ordered = false) => resultsEqual(g, p, ordered);

test("row order is free unless the gold orders; then it must match", () => {
  const g: SqlRow[] = [
    [1n, "a"],
    [2n, "b"],
    [3n, "c"],
  ];
  const p: SqlRow[] = [
    [3n, "c"],
    [1n, "a"],
    [2n, "b"],
  ];
  assert.equal(eq(g, p), true);
  assert.equal(eq(g, p, true), false);
  assert.equal(eq(g, [...g], true), true);
});

test("rows are compared as multisets: duplicates count", () => {
  assert.equal(eq([[1n], [1n], [2n]], [[1n], [2n], [2n]]), false);
  assert.equal(eq([[1n], [1n], [2n]], [[2n], [1n], [1n]]), true);
  assert.equal(eq([[1n], [2n]], [[1n], [2n], [2n]]), false);
  assert.equal(
    eq(
      [
        ["x", 1n],
        ["x", 1n],
      ],
      [
        ["x", 1n],
        ["y", 1n],
      ],
    ),
    false,
  );
});

test("column order is free, for unordered and ordered results", () => {
  const g: SqlRow[] = [
    ["ann", 30n, "nyc"],
    ["bob", 25n, "la"],
  ];
  const p: SqlRow[] = [
    [25n, "la", "bob"],
    [30n, "nyc", "ann"],
  ];
  assert.equal(eq(g, p), true);
  assert.equal(
    eq(
      g,
      [
        [30n, "nyc", "ann"],
        [25n, "la", "bob"],
      ],
      true,
    ),
    true,
  );
  assert.equal(eq(g, p, true), false);
  // Same bag of values per row, but no single column permutation explains all rows.
  assert.equal(
    eq(
      [
        [1n, 2n],
        [3n, 4n],
      ],
      [
        [1n, 2n],
        [4n, 3n],
      ],
    ),
    false,
  );
  // Different column counts are different results.
  assert.equal(eq([[1n, 2n]], [[1n, 2n, 2n]]), false);
});

test("many columns with repeated values: the permutation search stays exact and fast", () => {
  // 12 columns over {0, 1} with equal counts per column: the naive search space is 12! orders.
  const cols = 12;
  const rows = 40;
  const g: SqlRow[] = Array.from({ length: rows }, (_, r) =>
    Array.from({ length: cols }, (_, c) => BigInt(((r * 7 + c * 13) >> 2) & 1)),
  );
  const perm = [5, 3, 11, 0, 9, 1, 7, 2, 10, 4, 8, 6];
  const p = g.map((row) => perm.map((c) => row[c])).reverse();
  const t = performance.now();
  assert.equal(eq(g, p), true);
  const broken = p.map((row) => [...row]);
  broken[0][0] = broken[0][0] === 0n ? 1n : 0n;
  assert.equal(eq(g, broken), false);
  assert.ok(performance.now() - t < 5000, "permutation search blew up");
});

test("NULLs: equal to each other, distinct from 0, '' and 'None'", () => {
  assert.equal(eq([[null, 1n]], [[1n, null]]), true);
  assert.equal(eq([[null]], [[0n]]), false);
  assert.equal(eq([[null]], [[""]]), false);
  assert.equal(eq([[null]], [["None"]]), false);
});

test("values follow Python equality: int == float by value, never == str or bytes", () => {
  assert.equal(eq([[3n]], [[3.0]]), true);
  assert.equal(eq([[3n]], [[3.5]]), false);
  assert.equal(eq([[1n]], [["1"]]), false);
  assert.equal(eq([["a"]], [[new Uint8Array([0x61])]]), false);
  assert.equal(eq([[new Uint8Array([1, 2])]], [[new Uint8Array([1, 2])]]), true);
  assert.equal(eq([[2n ** 60n + 1n]], [[2n ** 60n]]), false);
  assert.equal(eq([[0n, "x"]], [["x", -0.0]]), true);
});

test("the evaluator's str()-keyed quick rejection is reproduced, quirks included", () => {
  // Python: sorted((10, 100), key=str+type) = (100, 10) but sorted((10.0, 100)) = (10.0, 100): rejected.
  assert.equal(eq([[10n, 100n]], [[10.0, 100n]]), false);
  assert.equal(eq([[10n, 100n]], [[100n, 10.0]]), false);
  assert.equal(eq([[10n, 5n]], [[10.0, 5n]]), true);
  assert.equal(eq([[1n, "a"]], [["a", 1.0]]), true);
});

test("empty results: equal to each other whatever the columns, unequal to any row", () => {
  assert.equal(eq([], []), true);
  assert.equal(eq([], [[null]]), false);
  assert.equal(eq([[1n]], []), false);
});

test("query preprocessing: DISTINCT dropped outside quotes, split operators joined, CURDATE year", () => {
  assert.equal(removeDistinct("SELECT DISTINCT name FROM t"), "SELECT  name FROM t");
  assert.equal(removeDistinct("select count(distinct a) from t"), "select count( a) from t");
  assert.equal(
    removeDistinct("SELECT 'distinct', \"DISTINCT\", distinct_id FROM t -- distinct"),
    "SELECT 'distinct', \"DISTINCT\", distinct_id FROM t -- distinct",
  );
  assert.equal(replaceCurrentYear("SELECT YEAR(CURDATE()) - age FROM p"), "SELECT 2020- age FROM p");
  const q = preparePair("SELECT DISTINCT a FROM t WHERE b > = 3 ORDER BY a", "SELECT a FROM t WHERE b ! = 2");
  assert.equal(q.gold, "SELECT  a FROM t WHERE b >= 3 ORDER BY a");
  assert.equal(q.pred, "SELECT a FROM t WHERE b != 2");
  assert.equal(q.orderMatters, true);
  assert.equal(preparePair("SELECT DISTINCT a FROM t", "x", { keepDistinct: true }).gold, "SELECT DISTINCT a FROM t");
  assert.equal(orderMatters("select a from t order  by a"), false); // the evaluator's literal "order by" test
  assert.equal(
    predictionFromLine("  SELECT a FROM t WHERE b = value \tconcert_singer\n", "strict"),
    "SELECT a FROM t WHERE b = 1 ",
  );
  assert.equal(
    predictionFromLine("  SELECT a FROM t WHERE b = value \tconcert_singer\n"),
    "SELECT a FROM t WHERE b = value ",
  ); // replaced when scored
});
