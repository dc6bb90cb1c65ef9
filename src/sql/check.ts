// The parser-based check SQL passes before it is executed: one layer of several (see docs/server.md, "Security
// model"). It fails closed: SQL that node-sql-parser cannot read in the database's dialect is refused, not guessed
// at. Accepted: exactly one SELECT (WITH … SELECT, UNION/INTERSECT/EXCEPT of them) with no INTO and no locking
// clause, calling no denied function and reading no denied table (./denylist.ts).
//
// A parser is not the database's lexer: where the two read a string or a comment differently (a backslash in a
// standard PostgreSQL string, `--x` in MySQL, nested comments) the AST can miss what the database will run. So the
// denylists are ALSO matched on the raw text, words anywhere (inside strings and comments too; a false refusal is
// the price), executable comments are refused outright, and the layers below do not depend on this one: one
// statement by protocol, a read-only transaction, a read-only user, server-side limits.
import { createRequire } from "node:module";
import type { SqlDialect } from "../text2sql/index.js";
import { DENIED_RELATIONS, DENIED_SCHEMAS, isDeniedFunction } from "./denylist.js";
import { SqlRefusedError } from "./errors.js";

/** The grammar node-sql-parser reads: MySQL and MariaDB differ (executable comments, sequences, …). */
export type SqlGrammar = "sqlite" | "postgresql" | "mysql" | "mariadb";

export interface CheckOptions {
  /** For MySQL: which server the SQL runs on (default "mysql"; the executor passes what the server says). */
  grammar?: SqlGrammar;
  /** Longest SQL read, in characters (default 100,000). */
  maxLength?: number;
}

export const DEFAULT_MAX_SQL_LENGTH = 100_000;

type ParserInstance = { astify(sql: string, opt?: { database?: string }): unknown };
const parsers = new Map<SqlGrammar, ParserInstance>();
const requireCjs = createRequire(import.meta.url);

function parser(grammar: SqlGrammar): ParserInstance {
  let p = parsers.get(grammar);
  if (!p) {
    // One grammar per dialect (node-sql-parser's per-database builds: a fraction of the size of the full one).
    const mod = requireCjs(`node-sql-parser/build/${grammar}`) as { Parser: new () => ParserInstance };
    p = new mod.Parser();
    parsers.set(grammar, p);
  }
  return p;
}

export function grammarOf(dialect: SqlDialect, mariadb = false): SqlGrammar {
  if (dialect === "PostgreSQL") return "postgresql";
  if (dialect === "SQLite") return "sqlite";
  return mariadb ? "mariadb" : "mysql";
}

const DIALECT_NAME: Record<SqlGrammar, string> = {
  sqlite: "SQLite",
  postgresql: "PostgreSQL",
  mysql: "MySQL",
  mariadb: "MariaDB",
};

// Statement types of node-sql-parser's AST that are not a query; anywhere in the tree they refuse the SQL.
const NOT_QUERY = new Set([
  "insert",
  "replace",
  "update",
  "delete",
  "merge",
  "upsert",
  "create",
  "alter",
  "drop",
  "truncate",
  "rename",
  "use",
  "set",
  "lock",
  "unlock",
  "call",
  "grant",
  "revoke",
  "transaction",
  "show",
  "explain",
  "exec",
  "execute",
  "prepare",
  "deallocate",
  "load_data",
  "declare",
  "do",
  "copy",
  "attach",
  "detach",
  "pragma",
  "vacuum",
  "analyze",
  "kill",
  "handler",
  "comment",
  "reindex",
  "refresh",
  "notify",
  "listen",
]);

const WORD = /[a-z_][a-z0-9_$]*/g;

/** The character after a word, skipping spaces and quote marks; "(" or a comment start counts as a call. */
function looksLikeCall(text: string, from: number): boolean {
  let i = from;
  while (i < text.length && /[\s"`\]]/.test(text[i]!)) i++;
  const c = text[i];
  if (c === "(") return true;
  if (c === "#") return true; // a MySQL comment between a name and its "(": refuse rather than read the comment
  const two = text.slice(i, i + 2);
  return two === "/*" || two === "--";
}

/** Checks on the raw text, independent of how any lexer reads strings and comments. */
function rawChecks(lower: string, grammar: SqlGrammar): void {
  if (/\/\*\s*(?:!|m!|\+)/.test(lower)) {
    throw new SqlRefusedError(
      "executable comments (/*! … */, /*M! … */) and optimizer hints (/*+ … */) are not allowed in executed SQL",
      "executable-comment",
    );
  }
  if (grammar === "postgresql" && /u&\s*['"]/.test(lower)) {
    throw new SqlRefusedError(
      "Unicode-escaped strings and identifiers (U&'…', U&\"…\") are not allowed in executed SQL",
      "denied-syntax",
    );
  }
  for (const m of lower.matchAll(WORD)) {
    const word = m[0];
    const end = m.index! + word.length;
    if (word === "outfile" || word === "dumpfile") {
      throw new SqlRefusedError(`INTO ${word.toUpperCase()} is not allowed: executed SQL may not write files`, "into");
    }
    if (DENIED_RELATIONS.has(word))
      throw new SqlRefusedError(`reading ${word} is not allowed in executed SQL (server internals)`, "denied-table");
    if (word === "mysql" && /^[\s`"]*\./.test(lower.slice(end, end + 16))) {
      throw new SqlRefusedError("reading the mysql system schema is not allowed in executed SQL", "denied-table");
    }
    if (isDeniedFunction(word) && looksLikeCall(lower, end)) {
      throw new SqlRefusedError(
        `calling ${word}() is not allowed in executed SQL (file, program, lock, signal, sleep, sequence or session functions are refused)`,
        "denied-function",
      );
    }
  }
  if (/\bnext\b(?:\s|\/\*[\s\S]*?\*\/|--[^\n]*|#[^\n]*)*\bvalue\b/.test(lower)) {
    throw new SqlRefusedError(
      "NEXT VALUE FOR (advancing a sequence) is not allowed in executed SQL",
      "denied-function",
    );
  }
}

function functionName(node: Record<string, unknown>): string | undefined {
  const name = node.name;
  if (typeof name === "string") return name;
  if (name && typeof name === "object") {
    const parts = (name as { name?: unknown }).name;
    if (Array.isArray(parts) && parts.length > 0) {
      const last = parts[parts.length - 1] as { value?: unknown };
      if (typeof last?.value === "string") return last.value;
    }
  }
  return undefined;
}

/** Walks the AST (iteratively: deep nesting must not overflow the stack) and refuses anything but a plain query. */
function astChecks(root: unknown): void {
  const stack: unknown[] = [root];
  let visited = 0;
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== "object") continue;
    if (++visited > 1_000_000) throw new SqlRefusedError("SQL too complex to check", "too-long");
    if (Array.isArray(node)) {
      for (const x of node) stack.push(x);
      continue;
    }
    const o = node as Record<string, unknown>;
    const type = typeof o.type === "string" ? o.type.toLowerCase() : undefined;
    if (type && NOT_QUERY.has(type)) {
      throw new SqlRefusedError(
        `only SELECT queries may be executed (found ${type.toUpperCase()} inside the query)`,
        "not-a-query",
      );
    }
    const into = o.into as Record<string, unknown> | null | undefined;
    if (into && typeof into === "object" && (into.position || into.expr || into.keyword)) {
      throw new SqlRefusedError(
        "SELECT … INTO is not allowed (executed SQL may not create tables, set variables or write files)",
        "into",
      );
    }
    for (const k of ["locking_read", "for_update", "lock"]) {
      if (o[k])
        throw new SqlRefusedError(
          "locking reads (FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE) are not allowed in executed SQL",
          "locking",
        );
    }
    if (type === "function" || type === "aggr_func") {
      const name = functionName(o);
      if (name && isDeniedFunction(name)) {
        throw new SqlRefusedError(
          `calling ${name.toLowerCase()}() is not allowed in executed SQL (file, program, lock, signal, sleep, sequence or session functions are refused)`,
          "denied-function",
        );
      }
    }
    if (typeof o.table === "string" && "db" in o) {
      const db = typeof o.db === "string" ? o.db.toLowerCase() : "";
      if (DENIED_SCHEMAS.has(db) || DENIED_RELATIONS.has(o.table.toLowerCase())) {
        throw new SqlRefusedError(
          `reading ${db ? `${db}.` : ""}${o.table} is not allowed in executed SQL (server internals)`,
          "denied-table",
        );
      }
    }
    for (const v of Object.values(o)) if (v !== null && typeof v === "object") stack.push(v);
  }
}

/** The statement without the trailing semicolons and blanks a model often ends with. */
function stripTrailing(sql: string): string {
  let s = sql.trim();
  while (s.endsWith(";")) s = s.slice(0, -1).trimEnd();
  return s;
}

/**
 * Returns the SQL to run (trimmed, trailing ";" removed) or throws SqlRefusedError with the reason. The dialect
 * picks node-sql-parser's grammar; for MySQL pass `grammar: "mariadb"` when the server is MariaDB.
 */
export function checkReadOnlySql(sql: string, dialect: SqlDialect, options: CheckOptions = {}): string {
  if (typeof sql !== "string") throw new SqlRefusedError("SQL must be a string", "empty");
  const maxLength = options.maxLength ?? DEFAULT_MAX_SQL_LENGTH;
  if (sql.length > maxLength)
    throw new SqlRefusedError(`SQL is ${sql.length} characters; at most ${maxLength} are executed`, "too-long");
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0b\x0e-\x1f\x7f]/.test(sql))
    throw new SqlRefusedError("SQL contains control characters (NUL and the like)", "bad-character");
  const text = stripTrailing(sql);
  if (!text) throw new SqlRefusedError("empty SQL: there is no statement to execute", "empty");
  const grammar = dialect === "MySQL" ? (options.grammar === "mariadb" ? "mariadb" : "mysql") : grammarOf(dialect);
  rawChecks(text.toLowerCase(), grammar);
  let ast: unknown;
  try {
    try {
      ast = parser(grammar).astify(text, { database: grammar });
    } catch (err) {
      // node-sql-parser's SQLite grammar has no INTERSECT/EXCEPT (7% of Spider's dev queries): SQLite SQL it cannot
      // read is read with the PostgreSQL grammar before it is refused. SQLite itself still says whether the statement
      // only reads (stmt.readonly), on a connection opened read-only.
      if (grammar !== "sqlite") throw err;
      ast = parser("postgresql").astify(text, { database: "postgresql" });
    }
  } catch (err) {
    const e = err as { message?: string; location?: { start?: { line?: number; column?: number } } };
    const where = e.location?.start ? ` at line ${e.location.start.line}, column ${e.location.start.column}` : "";
    const found = /but (.{1,40}) found/.exec(e.message ?? "")?.[1];
    throw new SqlRefusedError(
      `the SQL check cannot read this as one ${DIALECT_NAME[grammar]} query${where}${found ? ` (unexpected ${found})` : ""}; only plain SELECT queries it can read are executed`,
      "unparsable",
    );
  }
  const statements = Array.isArray(ast) ? ast : [ast];
  if (statements.length === 0) throw new SqlRefusedError("no SQL statement (only comments or punctuation)", "empty");
  if (statements.length > 1)
    throw new SqlRefusedError(
      `${statements.length} statements: only a single query may be executed`,
      "multiple-statements",
    );
  const top = statements[0] as { type?: string } | null;
  if (!top || typeof top !== "object" || String(top.type).toLowerCase() !== "select") {
    throw new SqlRefusedError(
      `only SELECT queries may be executed (statement is ${String(top?.type ?? "unknown").toUpperCase()})`,
      "not-a-query",
    );
  }
  astChecks(top);
  return text;
}
