// SQLite, read-only: the file is opened read-only (SQLITE_OPEN_READONLY) in a child process that prepares the one
// statement (better-sqlite3 refuses a string with more), asks SQLite whether it only reads (stmt.readonly), and
// stops at the row and byte caps. A query past its time gets its process killed: better-sqlite3 cannot interrupt
// native SQLite code any other way. Each child's JavaScript heap is bounded, so a huge cell ends that child, not
// the server.
import { statSync } from "node:fs";
import { SqlRefusedError, QueryFailedError } from "./errors.js";
import { jsonCell } from "./cells.js";
import type { SqlGrammar } from "./check.js";
import { ReadOnlyExecutor, type Limits, type QueryResult, type ReadOnlyOptions } from "./executor.js";
import type { PrivilegeReport } from "./privileges.js";
import { SqlExecutor } from "./spider-executor.js";

const CHILD_HEAP_MB = 512;

export class SqliteReadOnly extends ReadOnlyExecutor {
  readonly dialect = "SQLite" as const;
  readonly description: string;
  private readonly executors = new Map<number, SqlExecutor>();

  constructor(
    private readonly path: string,
    options: ReadOnlyOptions = {},
  ) {
    super(options);
    this.description = `SQLite ${path}`;
    let isFile: boolean;
    try {
      isFile = statSync(path).isFile();
    } catch (err) {
      throw new Error(
        `SQLite database ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`,
      );
    }
    if (!isFile) throw new Error(`SQLite database ${path}: not a file`);
  }

  protected async readPrivileges(): Promise<PrivilegeReport> {
    // The file is only ever opened read-only: there is no user whose rights could reach further.
    return { user: "(read-only file handle)", privileges: [], readOnlyUserSql: "" };
  }

  protected async grammar(): Promise<SqlGrammar> {
    return "sqlite";
  }

  private executor(timeoutMs: number): SqlExecutor {
    let ex = this.executors.get(timeoutMs);
    if (!ex) {
      ex = new SqlExecutor({ timeoutMs, processes: 2, maxHeapMb: CHILD_HEAP_MB });
      this.executors.set(timeoutMs, ex);
    }
    return ex;
  }

  protected async run(sql: string, limits: Limits): Promise<QueryResult> {
    const out = await this.executor(limits.timeoutMs).execute(this.path, sql, {
      readOnly: { rowLimit: limits.rowLimit, maxBytes: limits.maxBytes },
    });
    if (out.kind === "timeout")
      throw new QueryFailedError(`query ran past the ${limits.timeoutMs} ms statement timeout`, "timeout");
    if (out.kind === "error") {
      const m = out.message;
      if (m.startsWith("SQLFOCUS_NOT_READ_ONLY: "))
        throw new SqlRefusedError(m.slice("SQLFOCUS_NOT_READ_ONLY: ".length), "read-only");
      if (/more than one statement/i.test(m))
        throw new SqlRefusedError(
          "more than one statement: only a single query may be executed",
          "multiple-statements",
        );
      if (/readonly database|read-only/i.test(m))
        throw new SqlRefusedError(`SQLite refused a write on the read-only connection: ${m}`, "read-only");
      if (/SQL executor process died/.test(m))
        throw new QueryFailedError(`the query used more memory than allowed and was stopped (${m})`, "error");
      throw new QueryFailedError(m, "error");
    }
    const truncated = out.truncated === true;
    const rows = out.rows.map((r) => r.map(jsonCell));
    const result: QueryResult = { columns: out.columns ?? [], rows, truncated, ms: out.ms };
    if (truncated) result.truncatedBy = rows.length >= limits.rowLimit ? "rows" : "bytes";
    return result;
  }

  async close(): Promise<void> {
    for (const ex of this.executors.values()) ex.close();
    this.executors.clear();
  }
}
