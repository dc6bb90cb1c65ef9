// PostgreSQL, read-only. Per request, on a pooled connection:
//   BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout/lock_timeout (the time left);
//   the query's columns, from `SELECT * FROM (<sql>) LIMIT 0` over the extended protocol (Parse/Bind/Execute: a
//   second statement is a protocol error, never run);
//   the rows, from a wrapper over the query that the database itself bounds: at most rowLimit+1 rows, and cells
//   nulled from the first row whose running size passes the byte cap (so a 100 MB cell is never sent);
//   ROLLBACK; DISCARD ALL (advisory locks, settings, prepared statements, temporary tables of the session).
// A connection that erred, or outlived the client's deadline, is destroyed instead of returned to the pool.
import pg from "pg";
import type { SqlGrammar } from "./check.js";
import { jsonCell } from "./cells.js";
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
import { postgresPrivileges, type PrivilegeReport } from "./privileges.js";

type ServerConnection = Extract<DatabaseConnection, { dialect: "PostgreSQL" | "MySQL" }>;

/** Client-side grace past the server-side timeout before the connection is given up. */
const CLIENT_GRACE_MS = 2000;

// Cells as the database prints them (dates, json, numeric and bigint exact), except the types JSON has.
const PARSED_TYPES = new Set([
  16 /* bool */, 17 /* bytea */, 21 /* int2 */, 23 /* int4 */, 26 /* oid */, 700 /* float4 */, 701 /* float8 */,
]);
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    PARSED_TYPES.has(oid)
      ? pg.types.getTypeParser(oid, format as "text")
      : (v: string) => v) as typeof pg.types.getTypeParser,
};

class Deadline extends Error {}

/** Maps a PostgreSQL error to a refusal, a timeout or a plain SQL error. */
export function postgresError(err: unknown, timeoutMs: number): Error {
  if (err instanceof SqlRefusedError || err instanceof QueryFailedError) return err;
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? String(err);
  switch (e?.code) {
    case "57014": // query_canceled (statement_timeout)
      return new QueryFailedError(`query ran past the ${timeoutMs} ms statement timeout`, "timeout");
    case "55P03": // lock_not_available (lock_timeout)
      return new QueryFailedError(`query waited for a lock past the ${timeoutMs} ms timeout`, "timeout");
    case "25006": // read_only_sql_transaction
      return new SqlRefusedError(`PostgreSQL refused a write in the read-only transaction: ${message}`, "read-only");
    case "42501": // insufficient_privilege
      return new SqlRefusedError(`PostgreSQL refused: ${message}`, "permission");
    case "0A000":
      if (/data-modifying/i.test(message))
        return new SqlRefusedError(`only SELECT queries may be executed: ${message}`, "not-a-query");
      break;
    case "42601":
      if (/multiple commands/i.test(message))
        return new SqlRefusedError(
          "more than one statement: only a single query may be executed",
          "multiple-statements",
        );
      break;
  }
  return new QueryFailedError(message, "error");
}

export class PostgresReadOnly extends ReadOnlyExecutor {
  readonly dialect = "PostgreSQL" as const;
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly connectTimeoutMs: number;
  private version?: Promise<number>;

  constructor(
    private readonly c: ServerConnection,
    options: ReadOnlyOptions = {},
  ) {
    super(options);
    this.description = describeConnection(c);
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.pool = new pg.Pool({
      host: c.host,
      port: c.port ?? 5432,
      user: c.user,
      password: c.password,
      database: c.database,
      max: 4,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: this.connectTimeoutMs,
      keepAlive: true,
      application_name: "sqlfocus",
    });
    // An idle connection whose server went away: the pool drops it; the next request connects anew.
    this.pool.on("error", () => {});
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      const m = (err as Error).message;
      if (/timeout/i.test(m))
        throw new QueryFailedError(
          `cannot connect to ${this.description}: no answer within ${this.connectTimeoutMs} ms`,
          "timeout",
        );
      throw new QueryFailedError(`cannot connect to ${this.description}: ${m}`, "error");
    }
  }

  protected async readPrivileges(): Promise<PrivilegeReport> {
    const client = await this.connect();
    let healthy = true;
    try {
      await client.query("BEGIN TRANSACTION READ ONLY");
      await client.query(`SET LOCAL statement_timeout = ${Math.max(this.connectTimeoutMs, 5000)}`);
      return await postgresPrivileges(
        async (sql, params) => (await client.query({ text: sql, values: params ?? [] })).rows,
      );
    } catch (err) {
      healthy = false;
      throw new QueryFailedError(`cannot read the rights of ${this.description}: ${(err as Error).message}`, "error");
    } finally {
      if (healthy) await client.query("ROLLBACK").catch(() => (healthy = false));
      client.release(!healthy);
    }
  }

  protected async grammar(): Promise<SqlGrammar> {
    return "postgresql";
  }

  private serverVersion(client: pg.PoolClient): Promise<number> {
    this.version ??= client.query("SHOW server_version_num").then(
      (r) => Number(r.rows[0]?.server_version_num) || 0,
      (err: unknown) => {
        this.version = undefined;
        throw err;
      },
    );
    return this.version;
  }

  protected async run(sql: string, limits: Limits): Promise<QueryResult> {
    const start = performance.now();
    const deadlineAt = start + limits.timeoutMs;
    const client = await this.connect();
    let healthy = true;
    let expired = false;
    let rejectDeadline: (e: Error) => void = () => {};
    const deadline = new Promise<never>((_, reject) => (rejectDeadline = reject));
    deadline.catch(() => {});
    const timer = setTimeout(() => {
      expired = true;
      healthy = false;
      rejectDeadline(new Deadline());
      this.cancel(client);
    }, limits.timeoutMs + CLIENT_GRACE_MS);
    const q = (text: string) => Promise.race([client.query(text), deadline]);
    // The extended protocol (Parse/Bind/Execute): PostgreSQL refuses a second statement in a Parse.
    const extended = (text: string) =>
      Promise.race([
        client.query({ text, rowMode: "array", queryMode: "extended", types } as pg.QueryArrayConfig),
        deadline,
      ]);
    const left = () => {
      const ms = Math.floor(deadlineAt - performance.now());
      if (ms < 1) throw new QueryFailedError(`query ran past the ${limits.timeoutMs} ms statement timeout`, "timeout");
      return ms;
    };
    try {
      const version = await Promise.race([this.serverVersion(client), deadline]);
      await q("BEGIN TRANSACTION READ ONLY");
      const setLimits = async () => {
        const ms = left();
        await q(
          `SET LOCAL statement_timeout = ${ms}; SET LOCAL lock_timeout = ${ms}; SET LOCAL idle_in_transaction_session_timeout = ${ms + 10_000}` +
            (version >= 140000 ? "; SET LOCAL client_connection_check_interval = 1000" : ""),
        );
      };
      await setLimits();
      const described = await extended(`SELECT * FROM (\n${sql}\n) AS sqlfocus_q LIMIT 0`);
      const n = described.fields.length;
      const cols = Array.from({ length: n }, (_, i) => `sqlfocus_c${i + 1}`);
      const cap = limits.maxBytes;
      const select = [
        ...cols.map((c) => `CASE WHEN sqlfocus_bytes <= ${cap} THEN ${c} END`),
        `sqlfocus_bytes > ${cap}`,
      ].join(", ");
      // A row's size: its cells as text (what the text protocol sends), plus a little per cell.
      const rowSize = [...cols.map((c) => `coalesce(octet_length(${c}::text), 0)`), String(3 * n + 2)].join(" + ");
      const wrapped =
        `SELECT ${select} FROM (SELECT sqlfocus_q.*, sum(${rowSize}) OVER (ROWS UNBOUNDED PRECEDING) AS sqlfocus_bytes ` +
        `FROM (\n${sql}\n) AS sqlfocus_q${n > 0 ? `(${cols.join(", ")})` : ""}) AS sqlfocus_w LIMIT ${limits.rowLimit + 1}`;
      await setLimits();
      const res = await extended(wrapped);
      const rows: unknown[][] = [];
      let truncatedBy: QueryResult["truncatedBy"];
      for (const r of res.rows as unknown[][]) {
        if (r[n] === true) {
          truncatedBy = "bytes";
          break;
        }
        if (rows.length === limits.rowLimit) {
          truncatedBy = "rows";
          break;
        }
        rows.push(r.slice(0, n));
      }
      const ms = performance.now() - start;
      if (ms > limits.timeoutMs)
        throw new QueryFailedError(`query ran past the ${limits.timeoutMs} ms statement timeout`, "timeout");
      const result: QueryResult = {
        columns: described.fields.map((f) => f.name),
        rows: rows.map((r) => r.map(jsonCell)),
        truncated: !!truncatedBy,
        ms,
      };
      if (truncatedBy) result.truncatedBy = truncatedBy;
      return result;
    } catch (err) {
      if (err instanceof Deadline || expired) {
        throw new QueryFailedError(
          `query ran past the ${limits.timeoutMs} ms statement timeout (no answer from ${this.description}; connection dropped)`,
          "timeout",
        );
      }
      // An error the server reported leaves the connection usable (ROLLBACK follows); anything else broke it.
      if (!(err instanceof pg.DatabaseError) && !(err instanceof QueryFailedError) && !(err instanceof SqlRefusedError))
        healthy = false;
      throw postgresError(err, limits.timeoutMs);
    } finally {
      clearTimeout(timer);
      if (healthy) {
        try {
          await Promise.race([client.query("ROLLBACK"), deadline]);
          await Promise.race([client.query("DISCARD ALL"), deadline]);
        } catch {
          healthy = false;
        }
      }
      client.release(!healthy);
    }
  }

  /** Best effort: asks the server to cancel what the client gave up on (the connection is dropped anyway). */
  private cancel(client: pg.PoolClient): void {
    const pid = (client as unknown as { processID?: number }).processID;
    if (!pid) return;
    const c = new pg.Client({
      host: this.c.host,
      port: this.c.port ?? 5432,
      user: this.c.user,
      password: this.c.password,
      database: this.c.database,
      connectionTimeoutMillis: this.connectTimeoutMs,
      application_name: "sqlfocus-cancel",
    });
    c.on("error", () => {});
    c.connect()
      .then(() => c.query("SELECT pg_cancel_backend($1)", [pid]))
      .catch(() => {})
      .finally(() => c.end().catch(() => {}));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
