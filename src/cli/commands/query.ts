// `sqlfocus query`: runs one statement through exactly the executor the server's `"execute": true` uses (src/sql:
// parser check, privilege check, one statement by protocol, read-only transaction, row/byte/time caps). For checking
// a connection and what the guard allows. Exit 0 with the rows; 2 refused, 3 SQL error, 4 timeout, 1 anything else
// (no connection, bad arguments); the reason on stderr.
import { readFileSync } from "node:fs";
import type { Argv, CommandModule } from "yargs";
import { databaseConfigFromUrl, readDatabaseConfig } from "../../mschema/index.js";
import {
  connectionFromConfig,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_BYTES,
  DEFAULT_ROW_LIMIT,
  DEFAULT_TIMEOUT_MS,
  openReadOnlyDatabase,
  QueryFailedError,
  SqlRefusedError,
  type DatabaseConnection,
  type QueryResult,
} from "../../sql/index.js";

interface QueryArgs {
  sql: string;
  config?: string;
  sqlite?: string;
  url?: string;
  json: boolean;
  "row-limit": number;
  "statement-timeout": number;
  "max-result-bytes": number;
  "connect-timeout": number;
  "allow-privileged-user": boolean;
}

export const EXIT_REFUSED = 2;
export const EXIT_SQL_ERROR = 3;
export const EXIT_TIMEOUT = 4;

/** A table for people: a header, one line per row, cells cut at 60 characters. */
function formatTable(r: QueryResult): string {
  const cell = (v: unknown) => {
    const s = v === null ? "NULL" : String(v);
    const one = s.replace(/\s+/g, " ");
    return one.length > 60 ? `${one.slice(0, 57)}...` : one;
  };
  const rows = [r.columns.map(cell), ...r.rows.map((row) => row.map(cell))];
  const widths = r.columns.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join(" | ")
      .trimEnd();
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("-+-"), ...rows.slice(1).map(line)].join("\n");
}

export const queryCommand: CommandModule<object, QueryArgs> = {
  command: "query <sql>",
  describe:
    "Run one SQL query read-only, through the same executor and guard as the server's execute (- reads it from stdin)",
  builder: (y: Argv) =>
    y
      .positional("sql", { type: "string", demandOption: true, describe: "the query, or - to read it from stdin" })
      .option("config", {
        type: "string",
        describe: "config.ini with a [database] section (default config/config.ini)",
      })
      .option("sqlite", { type: "string", describe: "SQLite database file (opened read-only)" })
      .option("url", {
        type: "string",
        describe: "mysql://user:pass@host:port/db or postgres://user:pass@host:port/db",
      })
      .option("json", { type: "boolean", default: false, describe: "print {columns, rows, truncated, ms} as JSON" })
      .option("row-limit", {
        type: "number",
        default: DEFAULT_ROW_LIMIT,
        describe: "rows returned at most (more: truncated)",
      })
      .option("statement-timeout", {
        type: "number",
        default: DEFAULT_TIMEOUT_MS / 1000,
        describe: "seconds the query may run",
      })
      .option("max-result-bytes", {
        type: "number",
        default: DEFAULT_MAX_BYTES,
        describe: "bytes of rows returned at most (more: truncated)",
      })
      .option("connect-timeout", {
        type: "number",
        default: DEFAULT_CONNECT_TIMEOUT_MS / 1000,
        describe: "seconds to wait for the database",
      })
      .option("allow-privileged-user", {
        type: "boolean",
        default: false,
        describe:
          "run even when the configured user may write or reach the server (superuser, FILE, …); the function denylist still applies",
      })
      .conflicts("sqlite", ["url", "config"])
      .conflicts("url", "config")
      .check((a) => {
        for (const k of ["row-limit", "max-result-bytes"] as const) {
          if (!Number.isInteger(a[k]) || a[k] < 1) throw new Error(`--${k} must be a positive integer, got ${a[k]}`);
        }
        for (const k of ["statement-timeout", "connect-timeout"] as const) {
          if (!(a[k] > 0) || !Number.isFinite(a[k]))
            throw new Error(`--${k} must be a positive number of seconds, got ${a[k]}`);
        }
        return true;
      }) as unknown as Argv<QueryArgs>,
  handler: async (args) => {
    // yargs reads a lone "-" positional as "" (a string) or true: both mean "from stdin" here.
    const fromStdin =
      args.sql === "-" || ((args.sql === "" || (args.sql as unknown) === true) && process.argv.slice(2).includes("-"));
    const sql = fromStdin ? readFileSync(0, "utf8") : String(args.sql);
    let connection: DatabaseConnection;
    if (args.sqlite) connection = { dialect: "SQLite", path: args.sqlite };
    else
      connection = connectionFromConfig(
        args.url ? databaseConfigFromUrl(args.url) : readDatabaseConfig(args.config ?? "config/config.ini"),
      );
    const db = openReadOnlyDatabase(connection, {
      allowPrivilegedUser: args["allow-privileged-user"],
      connectTimeoutMs: args["connect-timeout"] * 1000,
    });
    let result: QueryResult;
    try {
      result = await db.execute(sql, {
        rowLimit: args["row-limit"],
        timeoutMs: args["statement-timeout"] * 1000,
        maxBytes: args["max-result-bytes"],
      });
    } catch (err) {
      if (err instanceof SqlRefusedError) {
        process.stderr.write(`sqlfocus: refused (${err.code}): ${err.message}\n`);
        process.exitCode = EXIT_REFUSED;
      } else if (err instanceof QueryFailedError && /^cannot (connect|read the rights)/.test(err.message)) {
        process.stderr.write(`sqlfocus: ${err.message}\n`);
        process.exitCode = 1;
      } else if (err instanceof QueryFailedError) {
        process.stderr.write(`sqlfocus: ${err.kind === "timeout" ? "timeout" : "SQL error"}: ${err.message}\n`);
        process.exitCode = err.kind === "timeout" ? EXIT_TIMEOUT : EXIT_SQL_ERROR;
      } else throw err;
      return;
    } finally {
      await db.close();
    }
    if (args.json) {
      const out: Record<string, unknown> = { columns: result.columns, rows: result.rows, truncated: result.truncated };
      if (result.truncatedBy) out.truncated_by = result.truncatedBy;
      out.ms = Math.round(result.ms * 10) / 10;
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else {
      process.stdout.write(`${formatTable(result)}\n`);
      const more = result.truncated
        ? `, truncated (more ${result.truncatedBy === "bytes" ? "bytes" : "rows"} than allowed)`
        : "";
      process.stderr.write(
        `${result.rows.length} row${result.rows.length === 1 ? "" : "s"}${more}, ${Math.round(result.ms)} ms (${db.description})\n`,
      );
    }
  },
};
