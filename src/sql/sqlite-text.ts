// SQLite's quoted spans, read the way SQLite's tokenizer reads them: '…', "…" and `…` end at the next lone quote
// (a doubled quote is part of the text), […] ends at the first ']' (no escape).

/**
 * Where the quoted span that opens at `sql[i]` ends: the index of its closing character, or `sql.length` when it is
 * not closed; -1 when no quoted span opens at `i`.
 */
export function sqliteQuotedSpanEnd(sql: string, i: number): number {
  const c = sql[i];
  if (c !== "'" && c !== '"' && c !== "`" && c !== "[") return -1;
  const close = c === "[" ? "]" : c;
  let j = i + 1;
  while (j < sql.length) {
    if (sql[j] === close) {
      if (close !== "]" && sql[j + 1] === close) j += 2;
      else return j;
    } else j++;
  }
  return sql.length;
}
