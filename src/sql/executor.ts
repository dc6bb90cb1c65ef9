// The read-only executor: the one implementation behind `"execute": true`, `sqlfocus query` and the library.
// Layers, each sufficient against a class of attack on its own (docs/server.md, "Security model"):
//   1. one statement, by protocol: PostgreSQL's extended protocol (Parse refuses a second statement), MySQL/MariaDB
//      server-side prepared statements, SQLite's prepare;
//   2. the parser-based check (./check.ts): one SELECT, no INTO, no locking, no denied function or table;
//   3. least privilege, read at the first use: a user with more than read rights is refused unless the operator
//      opts in (allowPrivilegedUser), and then the denylist still applies;
//   4. a read-only transaction with server-side timeouts, always rolled back; the session reset afterwards (locks,
//      variables, prepared statements); a connection that erred is destroyed;
//   5. bounded results: rows and bytes capped by the database (PostgreSQL, SQLite) or while reading (MySQL).
import type { SqlDialect } from "../text2sql/index.js";
import type { JsonCell } from "./cells.js";
import { checkReadOnlySql, type CheckOptions, type SqlGrammar } from "./check.js";
import { PrivilegedUserError } from "./errors.js";
import type { PrivilegeReport } from "./privileges.js";

export type DatabaseConnection =
  | { dialect: "SQLite"; path: string }
  | { dialect: "PostgreSQL" | "MySQL"; host: string; port?: number; user: string; password?: string; database: string };

export interface ExecuteLimits {
  /** Rows returned at most; more are cut off and `truncated` is set. Default 1000. */
  rowLimit?: number;
  /** Time the query may run, in milliseconds (the database's statement timeout, and the client's). Default 10,000. */
  timeoutMs?: number;
  /** Bytes of cells returned at most (about their JSON size); more are cut off and `truncated` is set. Default 16 MiB. */
  maxBytes?: number;
}

export interface ReadOnlyOptions {
  /**
   * Run generated SQL even though the configured user has more than read rights (superuser, FILE, write grants …).
   * The function and table denylist still applies, but the database no longer backs it: use a read-only user.
   */
  allowPrivilegedUser?: boolean;
  /** Milliseconds to wait for a connection (a silent server fails after this). Default 5000. */
  connectTimeoutMs?: number;
  /** Longest SQL the check reads (characters). Default 100,000. */
  maxSqlLength?: number;
  /**
   * Runs the parser-based check (default: checkReadOnlySql on this thread). The server passes one that runs on a
   * worker thread, so that a long SQL text does not stall other requests.
   */
  check?: (sql: string, dialect: SqlDialect, options: CheckOptions) => string | Promise<string>;
}

export interface QueryResult {
  columns: string[];
  rows: JsonCell[][];
  /** True when the query had more rows than the row limit, or more bytes than the byte cap. */
  truncated: boolean;
  /** Which cap cut the result (absent when not truncated). */
  truncatedBy?: "rows" | "bytes";
  ms: number;
}

/** The executor's view of its configured user (`allowed`: execution runs for this user). */
export interface PrivilegeCheck extends PrivilegeReport {
  privileged: boolean;
  allowed: boolean;
}

export interface ReadOnlyDatabase {
  readonly dialect: SqlDialect;
  readonly description: string;
  /** Runs one query read-only; rejects with SqlRefusedError (refused) or QueryFailedError (error/timeout). */
  execute(sql: string, limits?: ExecuteLimits): Promise<QueryResult>;
  /** Reads the configured user's rights (once; again after a failure). */
  checkPrivileges(): Promise<PrivilegeCheck>;
  /** Ends the pool (or the SQLite child); also `await using db = openReadOnlyDatabase(…)`. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export const DEFAULT_ROW_LIMIT = 1000;
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

export interface Limits {
  rowLimit: number;
  timeoutMs: number;
  maxBytes: number;
}

export function limitsOf(l: ExecuteLimits = {}): Limits {
  const rowLimit = l.rowLimit ?? DEFAULT_ROW_LIMIT;
  const timeoutMs = l.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = l.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isInteger(rowLimit) || rowLimit < 1)
    throw new Error(`rowLimit must be a positive integer (got ${rowLimit})`);
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs))
    throw new Error(`timeoutMs must be a positive number (got ${timeoutMs})`);
  if (!Number.isInteger(maxBytes) || maxBytes < 1)
    throw new Error(`maxBytes must be a positive integer (got ${maxBytes})`);
  return { rowLimit, timeoutMs: Math.ceil(timeoutMs), maxBytes };
}

/** Describes a connection without its password (for logs and /health). */
export function describeConnection(c: DatabaseConnection): string {
  return c.dialect === "SQLite"
    ? `SQLite ${c.path}`
    : `${c.dialect} ${c.user}@${c.host}:${c.port ?? (c.dialect === "MySQL" ? 3306 : 5432)}/${c.database}`;
}

/** The message a privileged user's refusal carries: what was found, and the SQL that fixes it. */
export function privilegedUserMessage(description: string, report: PrivilegeReport): string {
  const shown =
    report.privileges.slice(0, 6).join("; ") +
    (report.privileges.length > 6 ? `; … (${report.privileges.length} in all)` : "");
  return (
    `the configured user ${report.user} (${description}) has more than read rights (${shown}): ` +
    `generated SQL is executed only as a read-only user. Create one with:\n${report.readOnlyUserSql}\n` +
    `or accept the risk with --allow-privileged-user (the function denylist still applies, the database no longer backs it).`
  );
}

/** What every executor does around its database's own run(): privileges first, then the SQL check. */
export abstract class ReadOnlyExecutor implements ReadOnlyDatabase {
  abstract readonly dialect: SqlDialect;
  abstract readonly description: string;
  private privileges?: Promise<PrivilegeCheck>;

  constructor(protected readonly options: ReadOnlyOptions = {}) {}

  /** Reads the configured user's rights from the database. */
  protected abstract readPrivileges(): Promise<PrivilegeReport>;
  /** The parser grammar for this server (known once connected for MySQL/MariaDB). */
  protected abstract grammar(): Promise<SqlGrammar>;
  /** Runs SQL that passed the check. */
  protected abstract run(sql: string, limits: Limits): Promise<QueryResult>;
  abstract close(): Promise<void>;

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  checkPrivileges(): Promise<PrivilegeCheck> {
    this.privileges ??= this.readPrivileges().then(
      (r) => ({
        ...r,
        privileged: r.privileges.length > 0,
        allowed: r.privileges.length === 0 || this.options.allowPrivilegedUser === true,
      }),
      (err: unknown) => {
        this.privileges = undefined; // a database that was down is asked again next time
        throw err;
      },
    );
    return this.privileges;
  }

  async execute(sql: string, limits?: ExecuteLimits): Promise<QueryResult> {
    const l = limitsOf(limits);
    const p = await this.checkPrivileges();
    if (!p.allowed)
      throw new PrivilegedUserError(privilegedUserMessage(this.description, p), p.privileges, p.readOnlyUserSql);
    const check = this.options.check ?? checkReadOnlySql;
    const query = await check(sql, this.dialect, {
      grammar: await this.grammar(),
      maxLength: this.options.maxSqlLength,
    });
    return this.run(query, l);
  }
}
