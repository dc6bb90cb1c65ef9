// One question's execution match, as Spider's test-suite evaluator decides it (exec_eval.py
// `eval_exec_match`): both queries preprocessed (normalize.ts), then run on every .sqlite file of the question's
// database folder (Spider has one; the test-suite release has several "distilled" variants); the prediction must
// give the gold's result (compare.ts) on all of them. With plugValue the gold's values are also tried in the
// prediction's value slots (sqlparse.ts), the prediction itself first.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { resultSetsEqual, resultsEqual } from "./compare.js";
import type { SqlExecutor, SqlValue } from "../sql/index.js";
import { preparePair, replaceCurrentYear, type ScoringMode } from "./normalize.js";
import { plugValueCandidates, pythonSqliteStatements } from "./sqlparse.js";

export type ExecErrorKind = "pred_error" | "pred_timeout" | "gold_error" | "gold_timeout";

export interface ExecMatch {
  match: boolean;
  /** Why the prediction could not be scored as correct by execution (null when it ran, matched or not). */
  error: string | null;
  errorKind: ExecErrorKind | null;
  /** Time spent running the gold / predicted SQL (all database files), in milliseconds. */
  goldMs: number;
  predMs: number;
}

export interface ExecMatchOptions {
  /** Keep DISTINCT in both queries (the evaluator drops it by default; its --keep_distinct). */
  keepDistinct?: boolean;
  /** Reference (test-suite-sql-eval's rules, default) or strict scoring (see normalize.ts). */
  scoring?: ScoringMode;
  /** Also try the gold query's values in the prediction's value slots (the evaluator's --plug_value). */
  plugValue?: boolean;
  /** Most plugged candidates tried per question (default 1000; the reference has no limit). */
  plugLimit?: number;
  /**
   * "spider" (default): test-suite-sql-eval's preprocessing and bag/permutation equality. "bird": BIRD's evaluator —
   * both texts run as they are (Python sqlite3's statement rules) and the sets of rows must be equal.
   */
  comparison?: "spider" | "bird";
}

export const DEFAULT_PLUG_LIMIT = 1000;

/** The SQLite files a question runs on: every file of the database's folder with ".sqlite" in its name. */
export function databaseFiles(dbPath: string): string[] {
  const dir = dirname(dbPath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.includes(".sqlite"))
    .sort()
    .map((n) => join(dir, n));
}

/**
 * Runs gold and prediction on each database file and compares the results. An empty prediction is an
 * error (the evaluator cannot receive one: its predictions file would misalign). A gold query that fails
 * is reported as a gold error (the evaluator asserts instead) and the question counts as unmatched.
 */
export async function executionMatch(
  executor: SqlExecutor,
  dbFiles: readonly string[],
  gold: string,
  pred: string,
  options: ExecMatchOptions = {},
): Promise<ExecMatch> {
  const result: ExecMatch = { match: false, error: null, errorKind: null, goldMs: 0, predMs: 0 };
  if (dbFiles.length === 0) throw new Error("no database file to run the queries on");
  if (pred.trim() === "") return { ...result, error: "empty prediction", errorKind: "pred_error" };
  const bird = options.comparison === "bird";
  const reference = bird || (options.scoring ?? "reference") === "reference";
  const q = bird
    ? { gold, pred, goldText: gold, predText: pred, orderMatters: false }
    : preparePair(gold, pred, options);
  const equal = (g: SqlValue[][], p: SqlValue[][]) =>
    bird ? resultSetsEqual(g, p) : resultsEqual(g, p, q.orderMatters);
  // Reference scoring runs each text as Python's sqlite3 does: comments or nothing give no rows, a second
  // statement is an error; strict scoring leaves that to the executor.
  const run = async (file: string, sql: string) => {
    if (reference) {
      const kind = pythonSqliteStatements(sql);
      if (kind === "empty") return { kind: "rows" as const, rows: [], ms: 0 };
      if (kind === "multiple")
        return { kind: "error" as const, message: "You can only execute one statement at a time.", ms: 0 };
    }
    return executor.execute(file, sql);
  };
  // The gold's results, once per file.
  const golds: SqlValue[][][] = [];
  for (const file of dbFiles) {
    const g = await run(file, q.gold);
    result.goldMs += g.ms;
    if (g.kind === "error") return { ...result, error: `gold SQL failed: ${g.message}`, errorKind: "gold_error" };
    if (g.kind === "timeout")
      return { ...result, error: `gold SQL timed out after ${executor.timeoutMs} ms`, errorKind: "gold_timeout" };
    golds.push(g.rows);
  }
  const tryPrediction = async (sql: string): Promise<ExecMatch> => {
    for (let i = 0; i < dbFiles.length; i++) {
      const p = await run(dbFiles[i]!, sql);
      result.predMs += p.ms;
      if (p.kind === "error") return { ...result, error: p.message, errorKind: "pred_error" };
      if (p.kind === "timeout")
        return { ...result, error: `timed out after ${executor.timeoutMs} ms`, errorKind: "pred_timeout" };
      if (!equal(golds[i]!, p.rows)) return { ...result };
    }
    return { ...result, match: true };
  };
  const first = await tryPrediction(q.pred);
  if (first.match || !options.plugValue || bird) return first;
  // --plug_value: the gold's values in the prediction's slots; the first candidate that matches wins.
  const limit = options.plugLimit ?? DEFAULT_PLUG_LIMIT;
  let tried = 0;
  for (const candidate of plugValueCandidates(q.goldText, q.predText).candidates) {
    if (tried++ >= limit) break;
    const m = await tryPrediction(replaceCurrentYear(candidate));
    if (m.match) return { ...m, error: null, errorKind: null };
  }
  return { ...first, goldMs: result.goldMs, predMs: result.predMs };
}
