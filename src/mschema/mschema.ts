// mschema(): database (config.ini, URL, SQLite file or an open connection) → { text, schema, report }, and
// schemaForPrompt(): the server's db_schema text as M-Schema.
import { existsSync } from "node:fs";
import { extname } from "node:path";
import mysql from "mysql2/promise";
import pg from "pg";
import type { DatabaseSchema, Dialect } from "./model.js";
import { formatMSchema, formatMSchemaWithReport, qwenTokenCounter, type FormatOptions, type FormatReport } from "./format.js";
import { readSqliteSchema } from "./sqlite.js";
import { readMysqlSchema } from "./mysql.js";
import { readPostgresSchema } from "./postgres.js";
import { databaseConfigFromUrl, makeDatabaseConfig, readDatabaseConfig, redact, redactUrl, type DatabaseConfig } from "./config.js";
import { normalizeDialect, parseDdlSchema } from "./ddl.js";

export interface MSchemaOptions extends FormatOptions {
  /** PostgreSQL: read only this schema (default: every user schema; tables outside public are named schema.table). */
  schema?: string;
  /** Database id printed after 【DB_ID】 (default: the database name / SQLite file name). */
  dbId?: string;
  /** Distinct values sampled per column (default 5, as the reference). */
  sampleValues?: number;
}

export type MSchemaSource =
  | string // config .ini path, database URL, or SQLite file path
  | DatabaseConfig
  | { sqlite: string }
  | { url: string }
  | { config: string }
  | { mysql: mysql.Connection | mysql.Pool; database?: string }
  | { postgres: pg.ClientBase | pg.Pool };

export interface MSchemaResult {
  text: string;
  schema: DatabaseSchema;
  report: FormatReport & { source: string; dialect: Dialect };
}

function resolveSource(source: MSchemaSource): DatabaseConfig | { mysql: mysql.Connection | mysql.Pool; database?: string } | { postgres: pg.ClientBase | pg.Pool } {
  if (typeof source === "string") {
    if (/^[a-z][a-z0-9+]*:\/\//i.test(source)) return databaseConfigFromUrl(source);
    const ext = extname(source).toLowerCase();
    if (ext === ".ini" || ext === ".cfg" || ext === ".conf") return readDatabaseConfig(source);
    if (!existsSync(source)) throw new Error(`no such file: ${source}`);
    return sqliteConfig(source);
  }
  if ("sqlite" in source) return sqliteConfig(source.sqlite);
  if ("url" in source) return databaseConfigFromUrl(source.url);
  if ("config" in source) return readDatabaseConfig(source.config);
  return source;
}

function sqliteConfig(path: string): DatabaseConfig {
  return makeDatabaseConfig({ type: "sqlite", host: "", port: 0, user: "", dbname: "", path });
}

function describe(c: DatabaseConfig): string {
  return c.type === "sqlite" ? `SQLite ${c.path}` : `${c.type === "mysql" ? "MySQL" : "PostgreSQL"} ${c.user}@${c.host}:${c.port}/${c.dbname}`;
}

async function readSchema(src: ReturnType<typeof resolveSource>, options: MSchemaOptions): Promise<{ schema: DatabaseSchema; label: string; dialect: Dialect }> {
  const common = { dbId: options.dbId, sampleValues: options.sampleValues };
  if ("mysql" in src) return { schema: await readMysqlSchema(src.mysql, { ...common, database: src.database }), label: "MySQL connection", dialect: "mysql" };
  if ("postgres" in src) return { schema: await readPostgresSchema(src.postgres, { ...common, schema: options.schema }), label: "PostgreSQL connection", dialect: "postgresql" };
  const label = describe(src);
  try {
    if (src.type === "sqlite") return { schema: readSqliteSchema(src.path!, common), label, dialect: "sqlite" };
    if (src.type === "mysql") {
      const conn = await mysql.createConnection({ host: src.host, port: src.port, user: src.user, password: src.password, database: src.dbname, connectTimeout: 10000 });
      try {
        return { schema: await readMysqlSchema(conn, common), label, dialect: "mysql" };
      } finally {
        await conn.end().catch(() => undefined);
      }
    }
    const client = new pg.Client({ host: src.host, port: src.port, user: src.user, password: src.password, database: src.dbname, connectionTimeoutMillis: 10000 });
    await client.connect();
    try {
      return { schema: await readPostgresSchema(client, { ...common, schema: options.schema }), label, dialect: "postgresql" };
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (err) {
    const msg = redact((err as Error).message || String((err as NodeJS.ErrnoException).code ?? err), [src.password]);
    throw new Error(`${label}: ${msg}`);
  }
}

/** Read a database and print its M-Schema. */
export async function mschema(source: MSchemaSource, options: MSchemaOptions = {}): Promise<MSchemaResult> {
  let src: ReturnType<typeof resolveSource>;
  try {
    src = resolveSource(source);
  } catch (err) {
    const secrets = typeof source === "string" ? [safePassword(source)] : "url" in (source as object) ? [safePassword((source as { url: string }).url)] : [];
    throw new Error(redact((err as Error).message, secrets));
  }
  const { schema, label, dialect } = await readSchema(src, options);
  const countTokens = options.maxTokens !== undefined ? (options.countTokens ?? (await qwenTokenCounter())) : undefined;
  const { text, report } = formatMSchemaWithReport(schema, { ...options, countTokens });
  return { text, schema, report: { ...report, source: label, dialect } };
}

function safePassword(s: string): string | undefined {
  try {
    return decodeURIComponent(new URL(s).password) || undefined;
  } catch {
    return undefined;
  }
}

export interface PromptSchema {
  text: string;
  /** What the input was: M-Schema (kept), DDL (turned into M-Schema), or text left as it was. */
  kind: "mschema" | "ddl" | "unchanged";
  warnings: string[];
}

/** The server's db_schema as M-Schema: M-Schema passes through, DDL becomes M-Schema, anything else passes through. */
export function schemaForPrompt(dbSchemaText: string, dialect: string, options: { dbId?: string; maxExamples?: number } = {}): PromptSchema {
  if (/【Schema】|【DB_ID】|^# Table: /m.test(dbSchemaText)) return { text: dbSchemaText, kind: "mschema", warnings: [] };
  if (!/\bcreate\s+(?:\w+\s+)*table\b/i.test(dbSchemaText)) {
    return { text: dbSchemaText, kind: "unchanged", warnings: ["db_schema is neither M-Schema nor DDL; passed through unchanged"] };
  }
  let d: Dialect;
  try {
    d = normalizeDialect(dialect);
  } catch {
    d = "sqlite";
  }
  const parsed = parseDdlSchema(dbSchemaText, d, { dbId: options.dbId });
  if (!parsed.ok) return { text: dbSchemaText, kind: "unchanged", warnings: parsed.warnings };
  return { text: formatMSchema(parsed.schema, { maxExamples: options.maxExamples }), kind: "ddl", warnings: parsed.warnings };
}

export { redactUrl };
