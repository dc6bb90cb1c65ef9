// The check SQL must pass before `"execute": true` lets it near a database: exactly one statement, and
// that statement a query (SELECT, or WITH … SELECT; VALUES/TABLE too). Comments and string literals are
// skipped so a ";" or keyword inside them does not count. This is the first of several locks: execution
// also runs in a read-only transaction (or read-only connection) with a statement timeout and a row cap.

export class SqlRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SqlRefusedError";
  }
}

/** Keywords that write, change schema or state, or escape the sandbox; refused anywhere in a query. */
// (Narrow on purpose: a column may well be called "comment" or "status"; the database-level read-only
// transaction is the lock that cannot be talked around, this list refuses early with a clear reason.)
const FORBIDDEN = new Set([
  "insert", "update", "delete", "merge", "upsert", "create", "alter", "drop", "truncate", "grant", "revoke",
  "attach", "detach", "pragma", "vacuum", "copy", "call", "into", "outfile", "dumpfile", "lock",
]);

const QUERY_START = new Set(["select", "with", "values", "table"]);

/** Splits SQL into words and punctuation, skipping comments and literals; throws on unterminated ones. */
function scan(sql: string): { words: string[]; semicolons: number[] } {
  const words: string[] = [];
  const semicolons: number[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === "-" && sql[i + 1] === "-") {
      const e = sql.indexOf("\n", i);
      i = e < 0 ? n : e + 1;
    } else if (c === "#") {
      // MySQL line comment
      const e = sql.indexOf("\n", i);
      i = e < 0 ? n : e + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      const e = sql.indexOf("*/", i + 2);
      if (e < 0) throw new SqlRefusedError("unterminated /* comment");
      i = e + 2;
    } else if (c === "'" || c === '"' || c === "`") {
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new SqlRefusedError(`unterminated ${c === "'" ? "string literal" : "quoted identifier"}`);
        if (sql[j] === "\\" && c === "'") {
          j += 2;
          continue;
        }
        if (sql[j] === c) {
          if (sql[j + 1] === c) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      i = j + 1;
    } else if (c === "$" && /^\$[A-Za-z_]*\$/.test(sql.slice(i))) {
      // PostgreSQL dollar-quoted string
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))![0];
      const e = sql.indexOf(tag, i + tag.length);
      if (e < 0) throw new SqlRefusedError("unterminated dollar-quoted string");
      i = e + tag.length;
    } else if (c === "[") {
      const e = sql.indexOf("]", i);
      i = e < 0 ? n : e + 1;
    } else if (c === ";") {
      semicolons.push(words.length);
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      words.push(sql.slice(i, j).toLowerCase());
      i = j;
    } else {
      i++;
    }
  }
  return { words, semicolons };
}

/**
 * Returns the SQL to run (trimmed, one trailing ";" removed) or throws SqlRefusedError with the reason.
 */
export function checkReadOnlySql(sql: string): string {
  let text = sql.trim();
  if (!text) throw new SqlRefusedError("empty SQL");
  const { words, semicolons } = scan(text);
  if (words.length === 0) throw new SqlRefusedError("no SQL statement (only comments or punctuation)");
  // Any ";" must be trailing: no words after it.
  if (semicolons.some((at) => at < words.length)) throw new SqlRefusedError("more than one statement (only a single query may be executed)");
  const first = words[0]!;
  if (!QUERY_START.has(first)) throw new SqlRefusedError(`only SELECT/WITH queries may be executed (statement starts with ${first.toUpperCase()})`);
  const bad = words.find((w) => FORBIDDEN.has(w));
  if (bad) throw new SqlRefusedError(`${bad.toUpperCase()} is not allowed in an executed query (read-only)`);
  // Locking reads: FOR UPDATE / FOR SHARE.
  for (let k = 0; k + 1 < words.length; k++) {
    if (words[k] === "for" && (words[k + 1] === "update" || words[k + 1] === "share" || words[k + 1] === "no")) {
      throw new SqlRefusedError("locking reads (FOR UPDATE/SHARE) are not allowed");
    }
  }
  text = text.replace(/;\s*$/, "").trimEnd();
  while (text.endsWith(";")) text = text.slice(0, -1).trimEnd();
  return text;
}
