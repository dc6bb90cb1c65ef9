// Execution-result comparison with the semantics of Spider's test-suite evaluator (taoyds/test-suite-sql-eval,
// exec_eval.py `result_eq`), reimplemented: two results are equal when some permutation of the predicted
// columns makes the row bags equal (multisets), or the row sequences equal when the gold query has ORDER BY.
//
// Values are modelled on what Python's sqlite3 module returns, because equality follows Python's rules:
//   null → None, bigint → int (SQLite INTEGER), number → float (SQLite REAL), string → str, Uint8Array → bytes.
// Python compares int and float by value (1 == 1.0) and hashes them alike, so they are equal here too; str and
// bytes never equal numbers. The evaluator's cheap rejection step sorts each row by `str(x) + str(type(x))`;
// that key is reproduced exactly (Python float repr, code-point string order), because it can reject results
// that a pure value comparison would accept (e.g. (10, 100) vs (10.0, 100)), and scores must agree.
//
// The reference enumerates column permutations constrained by values seen in 20 random rows. Here the
// constraints are exact and deterministic (a column can only map to a column with the same bag / sequence of
// values; identical columns are tried once; partial assignments are pruned by their projected row bags), which
// removes only permutations that cannot succeed, so the answer is the reference's without its blow-up.

import { pyBytesRepr, pyFloatRepr } from "../model/index.js";
import type { SqlValue } from "../sql/index.js";

/** One SQLite value as Python's sqlite3 would return it (see the file header for the type mapping). */
export type { SqlValue };
export type SqlRow = readonly SqlValue[];

/** Key under which Python's `==`/`hash` consider two values equal (int 1 and float 1.0 share a key). */
export function valueKey(v: SqlValue): string {
  if (v === null) return "N";
  if (typeof v === "bigint") return "I" + v.toString();
  if (typeof v === "number") {
    if (Number.isInteger(v)) return "I" + BigInt(v).toString(); // exact: every integral double is an int
    return "F" + String(v); // shortest round-trip digits: distinct doubles give distinct strings
  }
  if (typeof v === "string") return "S" + v;
  return "B" + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex");
}

/** The evaluator's per-value sort key: `str(x) + str(type(x))`. */
function pythonSortKey(v: SqlValue): string {
  if (v === null) return "None<class 'NoneType'>";
  if (typeof v === "bigint") return v.toString() + "<class 'int'>";
  if (typeof v === "number") return pyFloatRepr(v) + "<class 'float'>";
  if (typeof v === "string") return v + "<class 'str'>";
  return pyBytesRepr(v) + "<class 'bytes'>";
}

/** Compares strings by code point, as Python does (JS `<` compares UTF-16 code units). */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort above U+E000–U+FFFF in code-point order.
    if (x >= 0xd800 && y >= 0xd800) {
      x += x <= 0xdfff ? 0x2000 : -0x800;
      y += y <= 0xdfff ? 0x2000 : -0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** A row with its values sorted by the evaluator's key (a column-order-free signature), as a key string. */
function unorderedRowKey(row: SqlRow): string {
  const keyed = row.map((v) => ({ sort: pythonSortKey(v), eq: valueKey(v) }));
  keyed.sort((a, b) => compareCodePoints(a.sort, b.sort)); // stable, like Python's sorted
  return JSON.stringify(keyed.map((k) => k.eq));
}

/** The evaluator's quick rejection: per-row unordered signatures must match (as lists, or as sets). */
function quickAccept(gold: readonly SqlRow[], pred: readonly SqlRow[], orderMatters: boolean): boolean {
  const g = gold.map(unorderedRowKey);
  const p = pred.map(unorderedRowKey);
  if (orderMatters) return g.every((k, i) => k === p[i]);
  const gs = new Set(g);
  const ps = new Set(p);
  if (gs.size !== ps.size) return false;
  for (const k of gs) if (!ps.has(k)) return false;
  return true;
}

function countKeys(keys: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

function sameCounts(a: Map<string, number>, b: Map<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, n] of a) if (b.get(k) !== n) return false;
  return true;
}

/**
 * Whether a predicted result equals the gold result (Spider test-suite `result_eq(gold, pred, order_matters)`):
 * both empty → equal; different row or column counts → different; otherwise equal when a permutation of the
 * predicted columns gives the same bag of rows (the same row sequence when `orderMatters`).
 */
export function resultsEqual(gold: readonly SqlRow[], pred: readonly SqlRow[], orderMatters: boolean): boolean {
  if (gold.length === 0 && pred.length === 0) return true;
  if (gold.length !== pred.length) return false;
  const numCols = gold[0].length;
  if (pred[0].length !== numCols) return false;
  if (!quickAccept(gold, pred, orderMatters)) return false;

  const rows = gold.length;
  // JSON-quoted keys concatenate unambiguously.
  const goldKeys = gold.map((r) => r.map((v) => JSON.stringify(valueKey(v))));
  const predKeys = pred.map((r) => r.map((v) => JSON.stringify(valueKey(v))));
  // Column signatures: the column's value sequence when order matters, else its sorted bag of values.
  const signature = (keys: string[][], c: number): string => {
    const col = keys.map((r) => r[c]);
    if (!orderMatters) col.sort();
    return col.join(",");
  };
  const goldSig = Array.from({ length: numCols }, (_, c) => signature(goldKeys, c));
  const predSig = Array.from({ length: numCols }, (_, c) => signature(predKeys, c));
  // Identical predicted columns are interchangeable: try one representative per group.
  const predColumnText = Array.from({ length: numCols }, (_, c) => predKeys.map((r) => r[c]).join(","));
  const candidates = goldSig.map((sig) => predSig.flatMap((s, j) => (s === sig ? [j] : [])));
  if (candidates.some((c) => c.length === 0)) return false;

  const used = new Array<boolean>(numCols).fill(false);
  // Depth-first assignment gold column d ← predicted column j; the rows projected on the columns assigned so
  // far must already match (as bags, or position by position when order matters), which prunes early.
  const assign = (d: number, goldPrefix: string[], predPrefix: string[]): boolean => {
    if (d === numCols) return true;
    const goldNext = goldPrefix.map((p, r) => p + "," + goldKeys[r][d]);
    const goldCounts = orderMatters ? null : countKeys(goldNext);
    const tried = new Set<string>();
    for (const j of candidates[d]) {
      if (used[j] || tried.has(predColumnText[j])) continue;
      tried.add(predColumnText[j]);
      const predNext = predPrefix.map((p, r) => p + "," + predKeys[r][j]);
      const ok = goldCounts ? sameCounts(goldCounts, countKeys(predNext)) : predNext.every((k, r) => k === goldNext[r]);
      if (!ok) continue;
      used[j] = true;
      const found = assign(d + 1, goldNext, predNext);
      used[j] = false;
      if (found) return true;
    }
    return false;
  };
  const empty = new Array<string>(rows).fill("");
  return assign(0, empty, empty);
}

/**
 * BIRD's evaluator's equality: `set(predicted_res) == set(ground_truth_res)` — the sets of row tuples are equal
 * (row order and repeats ignored, column order kept; 1 == 1.0 as in Python).
 */
export function resultSetsEqual(gold: readonly SqlRow[], pred: readonly SqlRow[]): boolean {
  const key = (r: SqlRow) => JSON.stringify(r.map(valueKey));
  const g = new Set(gold.map(key));
  const p = new Set(pred.map(key));
  if (g.size !== p.size) return false;
  for (const k of g) if (!p.has(k)) return false;
  return true;
}
