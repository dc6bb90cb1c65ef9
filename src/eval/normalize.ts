// Query preprocessing of Spider's test-suite evaluator (taoyds/test-suite-sql-eval), reimplemented:
// what is done to the gold and predicted SQL before both run, and how "order matters" is decided.

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

export interface PreparedPair {
  gold: string;
  pred: string;
  orderMatters: boolean;
}

/**
 * Both queries as the evaluator runs them: split operators joined, DISTINCT dropped unless `keepDistinct`,
 * `YEAR(CURDATE())` fixed; the ORDER BY rule read off the gold after the first two steps.
 */
export function preparePair(gold: string, pred: string, options: { keepDistinct?: boolean } = {}): PreparedPair {
  let g = joinSplitOperators(gold);
  let p = joinSplitOperators(pred);
  if (!options.keepDistinct) {
    g = removeDistinct(g);
    p = removeDistinct(p);
  }
  return { gold: replaceCurrentYear(g), pred: replaceCurrentYear(p), orderMatters: orderMatters(g) };
}

/**
 * One prediction as read from a Spider-format predictions line: the text before the first tab, trimmed,
 * with the placeholder " value " replaced by " 1 " (as the evaluator's `evaluate` does).
 */
export function predictionFromLine(line: string): string {
  return line.trim().split("\t")[0].replaceAll(" value ", " 1 ");
}
