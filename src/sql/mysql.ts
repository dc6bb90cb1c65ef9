// MySQL / MariaDB, read-only. Per request, on a pooled connection:
//   SET SESSION sql_select_limit (rowLimit+1), max_statement_time (MariaDB) / max_execution_time (MySQL), and an
//   sql_mode without ANSI_QUOTES / NO_BACKSLASH_ESCAPES (so the check's parser reads quotes as the server does);
//   START TRANSACTION READ ONLY;
//   the query as a server-side prepared statement (COM_STMT_PREPARE takes one statement), its rows streamed and
//   counted: past rowLimit+1 rows (an explicit LIMIT overrides sql_select_limit) or the byte cap, reading stops, the
//   connection is dropped and its server thread ended (KILL CONNECTION from a second connection);
//   ROLLBACK; COM_RESET_CONNECTION (named locks from GET_LOCK, user variables, prepared statements, temp tables).
// A row is never larger than the server's max_allowed_packet (16 MiB by default on MariaDB): a bigger value comes
// back as NULL with a warning. A connection that erred, or outlived the client's deadline, is destroyed.
import mysql from "mysql2";
import type { SqlGrammar } from "./check.js";
import { jsonCell, rowBytes } from "./cells.js";
import { QueryFailedError, SqlRefusedError } from "./errors.js";
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  describeConnection,
  ReadOnlyExecutor,
  type DatabaseConnection,
  type Limits,
  type QueryResult,
  type ReadOnlyOptions,
} from "./executor.js";
import { mysqlPrivileges, type PrivilegeReport } from "./privileges.js";

type ServerConnection = Extract<DatabaseConnection, { dialect: "PostgreSQL" | "MySQL" }>;
type Conn = mysql.PoolConnection;

const CLIENT_GRACE_MS = 2000;

interface ServerInfo {
  mariadb: boolean;
  /** The server's sql_mode without the modes that change how quotes and backslashes read. */
  sqlMode: string;
}

interface MysqlError {
  errno?: number;
  code?: string;
  sqlState?: string;
  fatal?: boolean;
  message: string;
}

/** Maps a MySQL/MariaDB error to a refusal, a timeout or a plain SQL error. */
export function mysqlError(err: unknown, timeoutMs: number): Error {
  if (err instanceof SqlRefusedError || err instanceof QueryFailedError) return err;
  const e = err as MysqlError;
  const message = e?.message ?? String(err);
  switch (e?.errno) {
    case 1969: // MariaDB max_statement_time
    case 3024: // MySQL max_execution_time
    case 1317: // query interrupted (KILL QUERY)
      return new QueryFailedError(`query ran past the ${timeoutMs} ms statement timeout`, "timeout");
    case 1205: // lock wait timeout
      return new QueryFailedError(`query waited for a lock past its timeout: ${message}`, "timeout");
    case 1792: // read-only transaction
      return new SqlRefusedError(`MySQL refused a write in the read-only transaction: ${message}`, "read-only");
    case 1044:
    case 1045:
    case 1095:
    case 1142:
    case 1143:
    case 1227:
    case 1370:
      return new SqlRefusedError(`MySQL refused: ${message}`, "permission");
    case 1295: // not supported in the prepared statement protocol
      return new SqlRefusedError(`only SELECT queries may be executed: ${message}`, "not-a-query");
  }
  return new QueryFailedError(message, "error");
}

function query<T = unknown>(conn: mysql.Connection | Conn, sql: string): Promise<T> {
  return new Promise((resolve, reject) => conn.query(sql, (err, rows) => (err ? reject(err) : resolve(rows as T))));
}

export class MysqlReadOnly extends ReadOnlyExecutor {
  readonly dialect = "MySQL" as const;
  readonly description: string;
  private readonly pool: mysql.Pool;
  private readonly connectTimeoutMs: number;
  private info?: Promise<ServerInfo>;

  constructor(
    private readonly c: ServerConnection,
    options: ReadOnlyOptions = {},
  ) {
    super(options);
    this.description = describeConnection(c);
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.pool = mysql.createPool({
      ...this.connectionConfig(),
      connectionLimit: 4,
      maxIdle: 4,
      idleTimeout: 30_000,
      enableKeepAlive: true,
    });
    // Errors of idle pooled connections (server gone): the pool drops them.
    this.pool.on("connection", (conn) => conn.on("error", () => {}));
  }

  private connectionConfig(): mysql.ConnectionOptions {
    return {
      host: this.c.host,
      port: this.c.port ?? 3306,
      user: this.c.user,
      password: this.c.password,
      database: this.c.database,
      connectTimeout: this.connectTimeoutMs,
      charset: "utf8mb4",
      supportBigNumbers: true,
      bigNumberStrings: false,
      dateStrings: true,
      multipleStatements: false,
      // No LOAD DATA LOCAL INFILE: the client never sends a file, whatever a statement or a server asks.
      flags: ["-LOCAL_FILES", "-MULTI_STATEMENTS"],
      infileStreamFactory: () => {
        throw new Error("LOCAL INFILE is disabled");
      },
    };
  }

  /** A pooled connection within the connect timeout (the pool's own wait has none). */
  private acquire(): Promise<Conn> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(
          new QueryFailedError(
            `cannot connect to ${this.description}: no answer within ${this.connectTimeoutMs} ms`,
            "timeout",
          ),
        );
      }, this.connectTimeoutMs + 500);
      this.pool.getConnection((err, conn) => {
        clearTimeout(timer);
        if (settled) {
          conn?.release();
          return;
        }
        settled = true;
        if (err) {
          const timedOut = (err as MysqlError).code === "ETIMEDOUT";
          reject(
            new QueryFailedError(
              `cannot connect to ${this.description}: ${timedOut ? `no answer within ${this.connectTimeoutMs} ms` : err.message}`,
              timedOut ? "timeout" : "error",
            ),
          );
        } else resolve(conn);
      });
    });
  }

  private serverInfo(conn: Conn): Promise<ServerInfo> {
    this.info ??= query<Array<{ v: string; m: string }>>(conn, "SELECT VERSION() AS v, @@GLOBAL.sql_mode AS m").then(
      (rows) => {
        const mode = String(rows[0]?.m ?? "")
          .split(",")
          .filter((x) => x && x !== "ANSI_QUOTES" && x !== "NO_BACKSLASH_ESCAPES" && x !== "ANSI")
          .join(",");
        if (!/^[A-Z_,]*$/.test(mode)) throw new Error(`unexpected sql_mode ${mode}`);
        return { mariadb: /mariadb/i.test(String(rows[0]?.v)), sqlMode: mode };
      },
      (err: unknown) => {
        this.info = undefined;
        throw err;
      },
    );
    return this.info;
  }

  protected async readPrivileges(): Promise<PrivilegeReport> {
    const conn = await this.acquire();
    let healthy = true;
    try {
      await this.serverInfo(conn);
      return await mysqlPrivileges((sql) => query<Array<Record<string, unknown>>>(conn, sql));
    } catch (err) {
      healthy = false;
      throw new QueryFailedError(`cannot read the rights of ${this.description}: ${(err as Error).message}`, "error");
    } finally {
      if (healthy) conn.release();
      else conn.destroy();
    }
  }

  protected async grammar(): Promise<SqlGrammar> {
    const info = await this.info;
    return info?.mariadb ? "mariadb" : "mysql";
  }

  protected async run(sql: string, limits: Limits): Promise<QueryResult> {
    const start = performance.now();
    const conn = await this.acquire();
    const threadId = conn.threadId;
    let healthy = true;
    let expired = false;
    let rejectDeadline: (e: Error) => void = () => {};
    const deadline = new Promise<never>((_, reject) => (rejectDeadline = reject));
    deadline.catch(() => {});
    const timer = setTimeout(() => {
      expired = true;
      healthy = false;
      rejectDeadline(
        new QueryFailedError(
          `query ran past the ${limits.timeoutMs} ms statement timeout (no answer from ${this.description}; connection dropped)`,
          "timeout",
        ),
      );
    }, limits.timeoutMs + CLIENT_GRACE_MS);
    const q = (text: string) => Promise.race([query(conn, text), deadline]);
    try {
      const info = await Promise.race([this.serverInfo(conn), deadline]);
      const timeout = info.mariadb
        ? `max_statement_time = ${(limits.timeoutMs / 1000).toFixed(3)}`
        : `max_execution_time = ${limits.timeoutMs}`;
      await q(`SET SESSION sql_select_limit = ${limits.rowLimit + 1}, ${timeout}, sql_mode = '${info.sqlMode}'`);
      await q("START TRANSACTION READ ONLY");
      const out = await Promise.race([this.stream(conn, sql, limits), deadline]);
      if (out.aborted) healthy = false;
      const ms = performance.now() - start;
      // A query cut by the server's timeout may still answer with a row (BENCHMARK() returns 0, SLEEP() 1).
      if (ms >= limits.timeoutMs)
        throw new QueryFailedError(`query ran past the ${limits.timeoutMs} ms statement timeout`, "timeout");
      const result: QueryResult = {
        columns: out.columns,
        rows: out.rows.map((r) => r.map(jsonCell)),
        truncated: !!out.truncatedBy,
        ms,
      };
      if (out.truncatedBy) result.truncatedBy = out.truncatedBy;
      return result;
    } catch (err) {
      const e = err as MysqlError;
      if (
        expired ||
        e.fatal ||
        (typeof e.errno !== "number" && !(err instanceof QueryFailedError) && !(err instanceof SqlRefusedError))
      )
        healthy = false;
      throw mysqlError(err, limits.timeoutMs);
    } finally {
      clearTimeout(timer);
      if (healthy) {
        try {
          await q("ROLLBACK");
          await Promise.race([
            new Promise<void>((resolve, reject) => conn.reset((err: Error | null) => (err ? reject(err) : resolve()))),
            deadline,
          ]);
        } catch {
          healthy = false;
        }
      }
      if (healthy) conn.release();
      else {
        conn.destroy();
        // A dropped client does not stop the server's thread: end it (and its transaction) before answering.
        await this.killConnection(threadId);
      }
    }
  }

  /** Runs the prepared statement, reading rows until the end or a cap (then `aborted`: the rest was not read). */
  private stream(
    conn: Conn,
    sql: string,
    limits: Limits,
  ): Promise<{ columns: string[]; rows: unknown[][]; truncatedBy?: "rows" | "bytes"; aborted: boolean }> {
    return new Promise((resolve, reject) => {
      const cmd = conn.execute({ sql, rowsAsArray: true });
      let columns: string[] = [];
      const rows: unknown[][] = [];
      let bytes = 0;
      let extra = 0;
      let done = false;
      const finish = (truncatedBy: "rows" | "bytes" | undefined, aborted: boolean) => {
        if (done) return;
        done = true;
        resolve({ columns, rows, truncatedBy, aborted });
      };
      cmd.on("fields", (fields: Array<{ name: string }>) => {
        columns = fields.map((f) => f.name);
      });
      cmd.on("result", (row: unknown) => {
        if (done || !Array.isArray(row)) return;
        if (rows.length >= limits.rowLimit) {
          // sql_select_limit sends rowLimit+1 rows and ends; more mean an explicit LIMIT: stop reading.
          if (++extra > 1) finish("rows", true);
          return;
        }
        bytes += rowBytes(row);
        if (bytes > limits.maxBytes) return finish("bytes", true);
        rows.push(row);
      });
      cmd.on("error", (err: Error) => {
        if (done) return;
        done = true;
        reject(err);
      });
      cmd.on("end", () => finish(extra > 0 ? "rows" : undefined, false));
    });
  }

  /** Ends the server thread of a dropped connection (KILL CONNECTION from a second one; a user may end its own). */
  private killConnection(threadId: number | null): Promise<void> {
    if (!threadId) return Promise.resolve();
    return new Promise((resolve) => {
      const c = mysql.createConnection(this.connectionConfig());
      const done = () => {
        clearTimeout(timer);
        c.destroy();
        resolve();
      };
      const timer = setTimeout(done, this.connectTimeoutMs + 1000);
      c.on("error", done);
      c.query(`KILL CONNECTION ${Number(threadId)}`, done);
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.pool.end(() => resolve()));
  }
}
