// Child process that runs SQL queries on SQLite files (see spider-executor.ts for why a process: a query stuck in
// native SQLite code can only be stopped by killing the process that runs it).
// Protocol over IPC (advanced serialization, so bigint and Uint8Array survive):
//   parent → child  { id, dbPath, sql, maxRows, readOnly?: { rowLimit, maxBytes } }
//   child → parent  { id, ok: true, rows, ms, columns?, truncated? } | { id, ok: false, error, ms }
// Databases are opened read-only once and kept open. Values come back as Python's sqlite3 would give them:
// INTEGER → bigint, REAL → number, TEXT → string (invalid UTF-8 dropped, see decodeText), BLOB → Uint8Array.
import Database from "better-sqlite3";
import { rowBytes } from "./cells.js";
import { sqliteQuotedSpanEnd } from "./sqlite-text.js";

interface ExecRequest {
  id: number;
  dbPath: string;
  sql: string;
  maxRows: number;
  readOnly?: { rowLimit: number; maxBytes: number };
}

interface ExecResult {
  rows: unknown[][];
  columns?: string[];
  truncated?: boolean;
}

/** Refused by SQLite's own reading of the statement (the parent maps it to a refusal). */
const NOT_READ_ONLY = "SQLFOCUS_NOT_READ_ONLY: SQLite reports that the statement is not a read-only query";

const open = new Map<string, Database.Database>();
const MAX_OPEN = 16;

function database(path: string): Database.Database {
  let db = open.get(path);
  if (db) {
    open.delete(path); // re-insert: the map's order is least-recently used first
    open.set(path, db);
    return db;
  }
  db = new Database(path, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  open.set(path, db);
  if (open.size > MAX_OPEN) {
    const [oldPath, oldDb] = open.entries().next().value as [string, Database.Database];
    open.delete(oldPath);
    oldDb.close();
  }
  return db;
}

// better-sqlite3 decodes TEXT as UTF-8 with U+FFFD for invalid bytes; the evaluator decodes with
// errors="ignore", which drops them. Dropping U+FFFD gives the same strings (a genuine U+FFFD in the data
// is dropped too; Spider has none).
function decodeText(s: string): string {
  return s.includes("\uFFFD") ? s.replaceAll("\uFFFD", "") : s;
}

// better-sqlite3 builds SQLite with SQLITE_DQS=0: a "double-quoted" token that names no column is an error,
// where the stock SQLite the evaluator runs on (Python's sqlite3) reads it as a string literal, and Spider's
// gold SQL relies on that ("WHERE Country = "USA""). The legacy rule is restored by retrying: each token the
// error names becomes a 'single-quoted' literal (every occurrence of that exact token), so tokens that do
// name columns stay identifiers.
const DQS_ERROR = /^no such column: "([\s\S]*)" - should this be a string literal in single-quotes\?$/;
const MAX_DQS_RETRIES = 64;

function quoteDoubleQuotedAsString(sql: string, token: string): string {
  let out = "";
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const j = sqliteQuotedSpanEnd(sql, i);
    if (j >= 0) {
      const text = sql.slice(i, j + 1);
      if (c === '"' && text.slice(1, -1).replaceAll('""', '"') === token)
        out += "'" + token.replaceAll("'", "''") + "'";
      else out += text;
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function prepare(db: Database.Database, sql: string): Database.Statement {
  for (let attempt = 0; ; attempt++) {
    try {
      return db.prepare(sql);
    } catch (err) {
      const m = DQS_ERROR.exec((err as Error).message);
      if (!m || attempt >= MAX_DQS_RETRIES) throw err;
      const rewritten = quoteDoubleQuotedAsString(sql, m[1]);
      if (rewritten === sql) throw err;
      sql = rewritten;
    }
  }
}

function run(req: ExecRequest): ExecResult {
  const db = database(req.dbPath);
  const stmt = prepare(db, req.sql); // one statement: better-sqlite3 refuses a string holding more
  const ro = req.readOnly;
  if (ro && (!stmt.readonly || !stmt.reader)) throw new Error(NOT_READ_ONLY);
  if (!stmt.reader) {
    stmt.run(); // a write fails on the read-only connection; other statements return no rows
    return { rows: [] };
  }
  stmt.raw(true);
  const columns = ro ? stmt.columns().map((c) => c.name) : undefined;
  const rows: unknown[][] = [];
  let bytes = 0;
  for (const row of stmt.iterate() as IterableIterator<unknown[]>) {
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (typeof v === "string") row[i] = decodeText(v);
      else if (v instanceof Buffer) row[i] = new Uint8Array(v);
    }
    if (ro) {
      // Stop at the caps: the iterator's return() resets the statement, so SQLite computes no further row.
      bytes += rowBytes(row);
      if (rows.length >= ro.rowLimit || bytes > ro.maxBytes) return { rows, columns, truncated: true };
    }
    rows.push(row);
    if (!ro && rows.length > req.maxRows) throw new Error(`result has more than ${req.maxRows} rows`);
  }
  return ro ? { rows, columns, truncated: false } : { rows };
}

process.on("message", (req: ExecRequest) => {
  const start = performance.now();
  try {
    const out = run(req);
    process.send!({ id: req.id, ok: true, ...out, ms: performance.now() - start });
  } catch (err) {
    process.send!({
      id: req.id,
      ok: false,
      error: (err as Error).message ?? String(err),
      ms: performance.now() - start,
    });
  }
});
process.on("disconnect", () => process.exit(0));
process.send!({ ready: true }); // loaded: the parent starts a query's clock from here
