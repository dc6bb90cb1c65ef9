// Read-only execution of generated SQL on the configured database (`"execute": true`). Three locks, in
// order: checkReadOnlySql (one SELECT/WITH statement, refused with a reason before any connection is
// touched), the database's own read-only mode (SQLite opened read-only and the statement checked by
// SQLite itself; PostgreSQL and MySQL/MariaDB in a READ ONLY transaction that is always rolled back),
// and limits (statement timeout, forced row cap).
import Database from "better-sqlite3";
import type { SqlDialect } from "../text2sql/index.js";
import { SqlExecutor } from "../eval/index.js";
import { checkReadOnlySql, SqlRefusedError } from "./sql-guard.js";

export type DatabaseConnection =
  | { dialect: "SQLite"; path: string }
  | { dialect: "PostgreSQL" | "MySQL"; host: string; port?: number; user: string; password?: string; database: string };

export interface ExecuteLimits {
  /** Rows returned at most; more are cut off and `truncated` is set. Default 1000. */
  rowLimit?: number;
  /** Statement timeout in milliseconds. Default 10,000. */
  timeoutMs?: number;
}

export type JsonCell = string | number | boolean | null;

export interface QueryResult {
  columns: string[];
  rows: JsonCell[][];
  /** True when the query had more rows than the limit (only the first rowLimit are returned). */
  truncated: boolean;
  ms: number;
}

export class QueryFailedError extends Error {
  constructor(
    message: string,
    readonly kind: "error" | "timeout",
  ) {
    super(message);
    this.name = "QueryFailedError";
  }
}

/** JSON-safe cell: bigints as numbers when exact (else strings), bytes as base64, dates as ISO strings. */
export function jsonCell(v: unknown): JsonCell {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  return JSON.stringify(v);
}

/** Describes a connection without its password (for logs and /health). */
export function describeConnection(c: DatabaseConnection): string {
  return c.dialect === "SQLite" ? `SQLite ${c.path}` : `${c.dialect} ${c.user}@${c.host}:${c.port ?? (c.dialect === "MySQL" ? 3306 : 5432)}/${c.database}`;
}

export interface ReadOnlyDatabase {
  readonly dialect: SqlDialect;
  readonly description: string;
  execute(sql: string, limits?: ExecuteLimits): Promise<QueryResult>;
  close(): Promise<void>;
}

const DEFAULT_ROWS = 1000;
const DEFAULT_TIMEOUT_MS = 10_000;

export function openReadOnlyDatabase(connection: DatabaseConnection): ReadOnlyDatabase {
  switch (connection.dialect) {
    case "SQLite":
      return new SqliteReadOnly(connection.path);
    case "PostgreSQL":
      return new PostgresReadOnly(connection);
    case "MySQL":
      return new MysqlReadOnly(connection);
    default:
      throw new Error(`unsupported database dialect '${(connection as { dialect: string }).dialect}'`);
  }
}

function limitsOf(l: ExecuteLimits = {}): { rowLimit: number; timeoutMs: number } {
  const rowLimit = l.rowLimit ?? DEFAULT_ROWS;
  const timeoutMs = l.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(rowLimit) || rowLimit < 1) throw new Error(`rowLimit must be a positive integer (got ${rowLimit})`);
  if (!(timeoutMs > 0)) throw new Error(`timeoutMs must be positive (got ${timeoutMs})`);
  return { rowLimit, timeoutMs: Math.ceil(timeoutMs) };
}

// SQLite: statements are prepared in-process on a read-only handle (SQLite itself says whether the
// statement only reads, and names the columns) and run in the evaluator's killable child processes, so a
// slow query neither blocks the server nor outlives its timeout.
class SqliteReadOnly implements ReadOnlyDatabase {
  readonly dialect = "SQLite" as const;
  readonly description: string;
  private readonly db: Database.Database;
  private readonly executors = new Map<number, SqlExecutor>();

  constructor(private readonly path: string) {
    this.description = `SQLite ${path}`;
    this.db = new Database(path, { readonly: true, fileMustExist: true });
  }

  private executor(timeoutMs: number): SqlExecutor {
    let ex = this.executors.get(timeoutMs);
    if (!ex) {
      ex = new SqlExecutor({ timeoutMs, processes: 1 });
      this.executors.set(timeoutMs, ex);
    }
    return ex;
  }

  async execute(sql: string, limits?: ExecuteLimits): Promise<QueryResult> {
    const { rowLimit, timeoutMs } = limitsOf(limits);
    const query = checkReadOnlySql(sql);
    let columns: string[];
    try {
      const stmt = this.db.prepare(query);
      if (!stmt.readonly || !stmt.reader) throw new SqlRefusedError("SQLite reports that the statement is not a read-only query");
      columns = stmt.columns().map((c) => c.name);
    } catch (err) {
      if (err instanceof SqlRefusedError) throw err;
      throw new QueryFailedError((err as Error).message, "error");
    }
    const out = await this.executor(timeoutMs).execute(this.path, `SELECT * FROM (${query}\n) LIMIT ${rowLimit + 1}`);
    if (out.kind === "timeout") throw new QueryFailedError(`query ran past the ${timeoutMs} ms statement timeout`, "timeout");
    if (out.kind === "error") throw new QueryFailedError(out.message, "error");
    const rows = out.rows.slice(0, rowLimit).map((r) => r.map(jsonCell));
    return { columns, rows, truncated: out.rows.length > rowLimit, ms: out.ms };
  }

  async close(): Promise<void> {
    for (const ex of this.executors.values()) ex.close();
    this.db.close();
  }
}

// PostgreSQL: a pooled client runs BEGIN READ ONLY, a statement_timeout local to the transaction, a
// cursor over the query and one FETCH of rowLimit+1 rows, then ROLLBACK.
class PostgresReadOnly implements ReadOnlyDatabase {
  readonly dialect = "PostgreSQL" as const;
  readonly description: string;
  private pool?: Promise<import("pg").Pool>;

  constructor(private readonly c: Extract<DatabaseConnection, { dialect: "PostgreSQL" | "MySQL" }>) {
    this.description = describeConnection(c);
  }

  private getPool(): Promise<import("pg").Pool> {
    this.pool ??= import("pg").then(
      (pg) =>
        new pg.default.Pool({
          host: this.c.host,
          port: this.c.port ?? 5432,
          user: this.c.user,
          password: this.c.password,
          database: this.c.database,
          max: 4,
          application_name: "sqlfocus-server",
        }),
    );
    return this.pool;
  }

  async execute(sql: string, limits?: ExecuteLimits): Promise<QueryResult> {
    const { rowLimit, timeoutMs } = limitsOf(limits);
    const query = checkReadOnlySql(sql);
    const pool = await this.getPool();
    const client = await pool.connect().catch((err: Error) => {
      throw new QueryFailedError(`cannot connect to ${this.description}: ${err.message}`, "error");
    });
    const start = performance.now();
    let broken = false;
    try {
      await client.query("BEGIN TRANSACTION READ ONLY");
      await client.query(`SET LOCAL statement_timeout = ${timeoutMs}`);
      await client.query(`DECLARE sqlfocus_cursor NO SCROLL CURSOR FOR ${query}`);
      const res = await client.query({ text: `FETCH ${rowLimit + 1} FROM sqlfocus_cursor`, rowMode: "array" });
      const columns = res.fields.map((f) => f.name);
      const all = res.rows as unknown[][];
      return {
        columns,
        rows: all.slice(0, rowLimit).map((r) => r.map(jsonCell)),
        truncated: all.length > rowLimit,
        ms: performance.now() - start,
      };
    } catch (err) {
      const e = err as { code?: string; message: string };
      if (e.code === "57014") throw new QueryFailedError(`query ran past the ${timeoutMs} ms statement timeout`, "timeout");
      if (e.code === "25006") throw new SqlRefusedError(`PostgreSQL refused a write in the read-only transaction: ${e.message}`);
      throw new QueryFailedError(e.message, "error");
    } finally {
      try {
        await client.query("ROLLBACK");
      } catch {
        broken = true;
      }
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.pool) await (await this.pool).end();
  }
}

// MySQL/MariaDB: a pooled connection runs START TRANSACTION READ ONLY with the session's SELECT row cap
// (sql_select_limit) and statement timeout (max_execution_time on MySQL, max_statement_time on MariaDB),
// the query, then ROLLBACK. The client also gives up after the timeout (and drops that connection).
class MysqlReadOnly implements ReadOnlyDatabase {
  readonly dialect = "MySQL" as const;
  readonly description: string;
  private pool?: Promise<import("mysql2/promise").Pool>;
  private mariadb?: boolean;

  constructor(private readonly c: Extract<DatabaseConnection, { dialect: "PostgreSQL" | "MySQL" }>) {
    this.description = describeConnection(c);
  }

  private getPool(): Promise<import("mysql2/promise").Pool> {
    this.pool ??= import("mysql2/promise").then((m) =>
      m.createPool({
        host: this.c.host,
        port: this.c.port ?? 3306,
        user: this.c.user,
        password: this.c.password,
        database: this.c.database,
        connectionLimit: 4,
        supportBigNumbers: true,
        bigNumberStrings: false,
        dateStrings: true,
      }),
    );
    return this.pool;
  }

  async execute(sql: string, limits?: ExecuteLimits): Promise<QueryResult> {
    const { rowLimit, timeoutMs } = limitsOf(limits);
    const query = checkReadOnlySql(sql);
    const pool = await this.getPool();
    const conn = await pool.getConnection().catch((err: Error) => {
      throw new QueryFailedError(`cannot connect to ${this.description}: ${err.message}`, "error");
    });
    const start = performance.now();
    let broken = false;
    try {
      if (this.mariadb === undefined) {
        const [v] = await conn.query("SELECT VERSION() AS v");
        this.mariadb = /mariadb/i.test(String((v as Array<{ v: string }>)[0]?.v));
      }
      await conn.query(`SET SESSION sql_select_limit = ${rowLimit + 1}`);
      if (this.mariadb) await conn.query(`SET SESSION max_statement_time = ${timeoutMs / 1000}`);
      else await conn.query(`SET SESSION max_execution_time = ${timeoutMs}`);
      await conn.query("START TRANSACTION READ ONLY");
      const [rows, fields] = await conn.query({ sql: query, rowsAsArray: true, timeout: timeoutMs + 1000 });
      const all = rows as unknown[][];
      return {
        columns: (fields ?? []).map((f) => f.name),
        rows: all.slice(0, rowLimit).map((r) => r.map(jsonCell)),
        truncated: all.length > rowLimit,
        ms: performance.now() - start,
      };
    } catch (err) {
      const e = err as { code?: string; errno?: number; message: string };
      // 3024 MySQL max_execution_time, 1969 MariaDB max_statement_time, PROTOCOL_SEQUENCE_TIMEOUT client side
      if (e.errno === 3024 || e.errno === 1969 || e.code === "PROTOCOL_SEQUENCE_TIMEOUT") {
        if (e.code === "PROTOCOL_SEQUENCE_TIMEOUT") broken = true;
        throw new QueryFailedError(`query ran past the ${timeoutMs} ms statement timeout`, "timeout");
      }
      if (e.errno === 1792) throw new SqlRefusedError(`MySQL refused a write in the read-only transaction: ${e.message}`);
      throw new QueryFailedError(e.message, "error");
    } finally {
      if (!broken) {
        try {
          await conn.query("ROLLBACK");
          await conn.query("SET SESSION sql_select_limit = DEFAULT");
        } catch {
          broken = true;
        }
      }
      if (broken) conn.destroy();
      else conn.release();
    }
  }

  async close(): Promise<void> {
    if (this.pool) await (await this.pool).end();
  }
}
