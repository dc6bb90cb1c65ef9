// Query preprocessing of Spider's test-suite evaluator (taoyds/test-suite-sql-eval), reimplemented:
// what is done to the gold and predicted SQL before both run, and how "order matters" is decided.
import { removeDistinctFirstStatement } from "./sqlparse.js";

/** `> =`, `< =`, `! =` (tokenised predictions) → `>=`, `<=`, `!=` (the evaluator's `postprocess`). */
export function joinSplitOperators(sql: string): string {
  return sql.replaceAll("> =", ">=").replaceAll("< =", "<=").replaceAll("! =", "!=");
}

/** `YEAR(CURDATE())` → `2020` (MySQL-ism in some gold queries; the evaluator's `replace_cur_year`). */
export function replaceCurrentYear(sql: string): string {
  return sql.replace(/YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*/gi, "2020");
}

/**
 * Drops every DISTINCT keyword (the evaluator does this to gold and prediction unless --keep_distinct):
 * bare words `distinct` in any case, outside string literals, quoted identifiers and comments. The text
 * around the word is kept as is, as the evaluator's token join does ("SELECT DISTINCT a" → "SELECT  a").
 */
export function removeDistinct(sql: string): string {
  let out = "";
  let i = 0;
  const n = sql.length;
  const isWord = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$]/.test(c);
  while (i < n) {
    const c = sql[i];
    // Quoted text: '…' string, "…" / `…` identifiers ('' "" `` escape the quote), […] identifiers.
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      while (j < n) {
        if (sql[j] === close) {
          if (close !== "]" && sql[j + 1] === close) j += 2;
          else break;
        } else j++;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      const j = end < 0 ? n : end;
      out += sql.slice(i, j);
      i = j;
      continue;
    }
    if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      const j = end < 0 ? n : end + 2;
      out += sql.slice(i, j);
      i = j;
      continue;
    }
    if (isWord(c)) {
      let j = i + 1;
      while (j < n && isWord(sql[j])) j++;
      const word = sql.slice(i, j);
      if (word.toLowerCase() !== "distinct") out += word;
      i = j;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** The evaluator's ORDER BY rule: row order matters iff the (preprocessed) gold SQL contains "order by". */
export function orderMatters(goldSql: string): boolean {
  return goldSql.toLowerCase().includes("order by");
}

/**
 * How predictions are scored:
 *   "reference" (default): as test-suite-sql-eval's exec mode computes published numbers — every lowercase
 *     "value" in the prediction becomes "1" (its placeholder rule), only the first statement of each query runs
 *     (its remove_distinct keeps sqlparse's first statement), and the texts run as Python's sqlite3 runs them;
 *   "strict": sqlfocus's stricter rules — the prediction runs whole (text after its first statement is an
 *     error), and " value " becomes " 1 " only in Spider-format predictions files.
 */
export type ScoringMode = "reference" | "strict";

export interface PreparedPair {
  gold: string;
  pred: string;
  orderMatters: boolean;
  /** gold and pred before `YEAR(CURDATE())` is fixed (what the evaluator plugs values from and into). */
  goldText: string;
  predText: string;
}

export interface PrepareOptions {
  keepDistinct?: boolean;
  scoring?: ScoringMode;
}

/** The reference's placeholder rule: every lowercase "value" (inside words and strings too) becomes "1". */
export function replaceValuePlaceholder(sql: string): string {
  return sql.replaceAll("value", "1");
}

/**
 * Both queries as the evaluator runs them: split operators joined, DISTINCT dropped unless `keepDistinct`,
 * `YEAR(CURDATE())` fixed; the ORDER BY rule read off the gold after the first two steps. In reference scoring
 * the prediction's "value" placeholders become 1 first, and dropping DISTINCT keeps only the first statement.
 */
export function preparePair(gold: string, pred: string, options: PrepareOptions = {}): PreparedPair {
  const reference = (options.scoring ?? "reference") === "reference";
  let g = joinSplitOperators(gold);
  let p = joinSplitOperators(reference ? replaceValuePlaceholder(pred) : pred);
  if (!options.keepDistinct) {
    g = reference ? removeDistinctFirstStatement(g) : removeDistinct(g);
    p = reference ? removeDistinctFirstStatement(p) : removeDistinct(p);
  }
  return {
    gold: replaceCurrentYear(g),
    pred: replaceCurrentYear(p),
    orderMatters: orderMatters(g),
    goldText: g,
    predText: p,
  };
}

/**
 * One prediction as read from a Spider-format predictions line: the text before the first tab, trimmed. In strict
 * scoring the placeholder " value " also becomes " 1 " here (reference scoring replaces every "value" when scoring).
 */
export function predictionFromLine(line: string, scoring: ScoringMode = "reference"): string {
  const sql = line.trim().split("\t")[0]!;
  return scoring === "strict" ? sql.replaceAll(" value ", " 1 ") : sql;
}
