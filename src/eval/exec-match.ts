// One question's execution match, as Spider's test-suite evaluator decides it (exec_eval.py
// `eval_exec_match`, without value plugging): both queries preprocessed (normalize.ts), then run on every
// .sqlite file of the question's database folder (Spider has one; the test-suite release has several
// "distilled" variants); the prediction must give the gold's result (compare.ts) on all of them.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { resultsEqual } from "./compare.js";
import type { SqlExecutor } from "../sql/index.js";
import { preparePair } from "./normalize.js";

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
  /** Keep DISTINCT in both queries (the evaluator drops it by default). */
  keepDistinct?: boolean;
}

/** The SQLite files a question runs on: every file of the database's folder with ".sqlite" in its name. */
export function databaseFiles(dbPath: string): string[] {
  const dir = dirname(dbPath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.includes(".sqlite")).sort().map((n) => join(dir, n));
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
  const q = preparePair(gold, pred, options);
  for (const file of dbFiles) {
    const g = await executor.execute(file, q.gold);
    result.goldMs += g.ms;
    if (g.kind === "error") return { ...result, error: `gold SQL failed: ${g.message}`, errorKind: "gold_error" };
    if (g.kind === "timeout") return { ...result, error: `gold SQL timed out after ${executor.timeoutMs} ms`, errorKind: "gold_timeout" };
    const p = await executor.execute(file, q.pred);
    result.predMs += p.ms;
    if (p.kind === "error") return { ...result, error: p.message, errorKind: "pred_error" };
    if (p.kind === "timeout") return { ...result, error: `timed out after ${executor.timeoutMs} ms`, errorKind: "pred_timeout" };
    if (!resultsEqual(g.rows, p.rows, q.orderMatters)) return result;
  }
  return { ...result, match: true };
}
