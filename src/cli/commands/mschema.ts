// `sqlfocus mschema`: print a database's M-Schema (from config.ini, a URL, a SQLite file, or DDL).
import { readFileSync, statSync } from "node:fs";
import type { Argv, CommandModule } from "yargs";
import { writeFileAtomic } from "../../files/index.js";
import {
  formatMSchemaWithReport,
  mschema,
  parseDdlSchema,
  qwenTokenCounter,
  type MSchemaSource,
} from "../../mschema/index.js";

interface MSchemaArgs {
  config?: string;
  sqlite?: string;
  url?: string;
  ddl?: string;
  dialect: string;
  include?: string;
  exclude?: string;
  "max-examples": number;
  schema?: string;
  "max-tokens"?: number;
  "db-id"?: string;
  out?: string;
}

const list = (s: string | undefined) =>
  s
    ?.split(",")
    .map((x) => x.trim())
    .filter(Boolean);

export const mschemaCommand: CommandModule<object, MSchemaArgs> = {
  command: "mschema",
  describe: "Print a database's M-Schema (MySQL/MariaDB, PostgreSQL, SQLite, or DDL)",
  builder: (y: Argv) =>
    y
      .option("config", {
        type: "string",
        describe: "config.ini with a [database] section (default config/config.ini)",
      })
      .option("sqlite", { type: "string", describe: "SQLite database file" })
      .option("url", {
        type: "string",
        describe: "mysql://user:pass@host:port/db or postgres://user:pass@host:port/db",
      })
      .option("ddl", {
        type: "string",
        describe: "a file of CREATE TABLE statements (- for stdin) to turn into M-Schema",
      })
      .option("dialect", { type: "string", default: "sqlite", describe: "--ddl: mysql, postgresql or sqlite" })
      .option("include", { type: "string", describe: "comma-separated tables to show (others left out)" })
      .option("exclude", { type: "string", describe: "comma-separated tables to leave out" })
      .option("max-examples", { type: "number", default: 3, describe: "example values per column (0: none)" })
      .option("schema", {
        type: "string",
        describe: "PostgreSQL: only this schema (default: all; non-public tables print as schema.table)",
      })
      .option("max-tokens", {
        type: "number",
        describe: "size budget in Qwen tokens: drop examples, then comments, then tables no foreign key touches",
      })
      .option("db-id", { type: "string", describe: "name printed after 【DB_ID】 (default: the database name)" })
      .option("out", { type: "string", describe: "write the M-Schema to this file (default: stdout)" })
      .conflicts("sqlite", ["url", "config", "ddl"])
      .conflicts("url", ["config", "ddl"])
      .conflicts("config", "ddl")
      .check((a) => {
        if (!Number.isInteger(a["max-examples"]) || a["max-examples"] < 0)
          throw new Error("--max-examples must be a whole number >= 0");
        if (a["max-tokens"] !== undefined && !(a["max-tokens"] > 0))
          throw new Error("--max-tokens must be a positive number");
        return true;
      }) as unknown as Argv<MSchemaArgs>,
  handler: async (args) => {
    const format = {
      include: list(args.include),
      exclude: list(args.exclude),
      maxExamples: args["max-examples"],
      maxTokens: args["max-tokens"],
    };
    if (args.out !== undefined && isFolder(args.out))
      throw new Error(`--out ${args.out}: is a folder (name the output file)`);
    let text: string;
    let notes: string[];
    if (args.ddl !== undefined) {
      let ddl: string;
      try {
        ddl = readFileSync(args.ddl === "-" ? 0 : args.ddl, "utf8");
      } catch (err) {
        throw new Error(
          `--ddl ${args.ddl}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        );
      }
      const parsed = parseDdlSchema(ddl, args.dialect, { dbId: args["db-id"] });
      if (!parsed.ok) throw new Error(`${args.ddl}: ${parsed.warnings.join("; ")}`);
      const countTokens = format.maxTokens !== undefined ? await qwenTokenCounter() : undefined;
      const r = formatMSchemaWithReport(parsed.schema, { ...format, countTokens });
      text = r.text;
      notes = [...parsed.warnings, ...r.report.choices];
    } else {
      const source: MSchemaSource = args.sqlite
        ? { sqlite: args.sqlite }
        : args.url
          ? { url: args.url }
          : { config: args.config ?? "config/config.ini" };
      const r = await mschema(source, { ...format, schema: args.schema, dbId: args["db-id"] });
      text = r.text;
      notes = [
        `read ${r.report.source}: ${r.report.tables} tables, ${r.report.columns} columns${r.report.tokens !== undefined ? `, ${r.report.tokens} tokens` : ""}`,
        ...r.report.choices,
      ];
    }
    if (args.out) {
      try {
        writeFileAtomic(args.out, `${text}\n`);
      } catch (err) {
        throw new Error(
          `--out ${args.out}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        );
      }
      notes.push(`wrote ${args.out}`);
    } else process.stdout.write(`${text}\n`);
    for (const n of notes) process.stderr.write(`mschema: ${n}\n`);
  },
};

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // absent, or under a file: the write reports it
  }
}
