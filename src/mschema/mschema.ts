// mschema(): database (config.ini, URL, SQLite file or an open connection) → { text, schema, report }, and
// schemaForPrompt(): the server's db_schema text as M-Schema.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { writeFileAtomic } from "../files/index.js";
import { basename, extname, join } from "node:path";
import mysql from "mysql2/promise";
import pg from "pg";
import type { DatabaseSchema, Dialect } from "./model.js";
import {
  formatMSchema,
  formatMSchemaWithReport,
  qwenTokenCounter,
  type FormatOptions,
  type FormatReport,
} from "./format.js";
import { readSqliteSchema, readSqliteValues } from "./sqlite.js";
import { readMysqlSchema, readMysqlValues } from "./mysql.js";
import { readPostgresSchema, readPostgresValues } from "./postgres.js";
import { ValueIndex, valueReadLimits, type ValueColumn, type ValueReadOptions } from "./values.js";
import { linkSchema } from "./link.js";
import {
  databaseConfigFromUrl,
  makeDatabaseConfig,
  readDatabaseConfig,
  redact,
  redactUrl,
  type DatabaseConfig,
} from "./config.js";
import { normalizeDialect, parseDdlSchema } from "./ddl.js";

export interface MSchemaOptions extends FormatOptions {
  /** PostgreSQL: read only this schema (default: every user schema; tables outside public are named schema.table). */
  schema?: string;
  /** Database id printed after 【DB_ID】 (default: the database name / SQLite file name). */
  dbId?: string;
  /** Distinct values sampled per column (default 5, as the reference). */
  sampleValues?: number;
  /** Also read the database's cell values into a ValueIndex (result.values), for question-aware prompts (linkSchema). */
  values?: boolean | ValueIndexOptions;
}

export interface ValueIndexOptions extends ValueReadOptions {
  /**
   * Folder of the on-disk value cache (SQLite files only: keyed by the file's path, size and modification time, so a
   * changed file is read again). Default: none; values are still kept in memory for the process.
   */
  cacheDir?: string;
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
  /** The cell values of the database (with options.values). */
  values?: ValueIndex;
  report: FormatReport & { source: string; dialect: Dialect };
}

function resolveSource(
  source: MSchemaSource,
):
  DatabaseConfig | { mysql: mysql.Connection | mysql.Pool; database?: string } | { postgres: pg.ClientBase | pg.Pool } {
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
  return c.type === "sqlite"
    ? `SQLite ${c.path}`
    : `${c.type === "mysql" ? "MySQL" : "PostgreSQL"} ${c.user}@${c.host}:${c.port}/${c.dbname}`;
}

type Source = ReturnType<typeof resolveSource>;
type ReadResult = { schema: DatabaseSchema; label: string; dialect: Dialect; values?: ValueIndex };

async function readSchema(src: Source, options: MSchemaOptions): Promise<ReadResult> {
  const common = { dbId: options.dbId, sampleValues: options.sampleValues };
  const valueOptions = options.values ? (options.values === true ? {} : options.values) : null;
  if ("mysql" in src) {
    const schema = await readMysqlSchema(src.mysql, { ...common, database: src.database });
    const values = valueOptions
      ? ValueIndex.build(schema.dbId, await readMysqlValues(src.mysql, { ...valueOptions, database: src.database }))
      : undefined;
    return { schema, label: "MySQL connection", dialect: "mysql", values };
  }
  if ("postgres" in src) {
    const schema = await readPostgresSchema(src.postgres, { ...common, schema: options.schema });
    const values = valueOptions
      ? ValueIndex.build(
          schema.dbId,
          await readPostgresValues(src.postgres, { ...valueOptions, schema: options.schema }),
        )
      : undefined;
    return { schema, label: "PostgreSQL connection", dialect: "postgresql", values };
  }
  const label = describe(src);
  try {
    if (src.type === "sqlite") {
      const schema = readSqliteSchema(src.path!, common);
      const values = valueOptions ? sqliteValueIndex(src.path!, { ...valueOptions, dbId: schema.dbId }) : undefined;
      return { schema, label, dialect: "sqlite", values };
    }
    if (src.type === "mysql") {
      const conn = await mysql.createConnection({
        host: src.host,
        port: src.port,
        user: src.user,
        password: src.password,
        database: src.dbname,
        connectTimeout: 10000,
      });
      try {
        return await readSchema({ mysql: conn }, options).then((r) => ({ ...r, label, dialect: "mysql" as const }));
      } finally {
        await conn.end().catch(() => undefined);
      }
    }
    const client = new pg.Client({
      host: src.host,
      port: src.port,
      user: src.user,
      password: src.password,
      database: src.dbname,
      connectionTimeoutMillis: 10000,
    });
    await client.connect();
    try {
      return await readSchema({ postgres: client }, options).then((r) => ({
        ...r,
        label,
        dialect: "postgresql" as const,
      }));
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (err) {
    const msg = redact((err as Error).message || String((err as NodeJS.ErrnoException).code ?? err), [src.password]);
    throw new Error(`${label}: ${msg}`);
  }
}

const memoryValueCache = new Map<string, ValueIndex>();

/**
 * A SQLite file's ValueIndex, read once: kept in memory for the process, and on disk under options.cacheDir when
 * given (one JSON file per database version: path, size and modification time are in its name's hash).
 */
export function sqliteValueIndex(path: string, options: ValueIndexOptions & { dbId?: string } = {}): ValueIndex {
  const limits = valueReadLimits({ perColumn: options.perColumn, total: options.total, maxLength: options.maxLength });
  let real: string;
  let st: ReturnType<typeof statSync>;
  try {
    real = realpathSync(path);
    st = statSync(real);
  } catch (err) {
    throw new Error(
      `cannot open SQLite database ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const dbId = options.dbId ?? basename(path, extname(path));
  const key = createHash("sha256")
    .update(JSON.stringify([real, st.size, st.mtimeMs, limits, dbId]))
    .digest("hex")
    .slice(0, 16);
  const cached = memoryValueCache.get(key);
  if (cached) return cached;
  const file = options.cacheDir
    ? join(options.cacheDir, `${dbId.replace(/[^A-Za-z0-9._-]+/g, "_")}-${key}.values.json`)
    : null;
  let index: ValueIndex | undefined;
  if (file && existsSync(file)) {
    try {
      index = ValueIndex.fromJSON(JSON.parse(readFileSync(file, "utf8")), file);
    } catch {
      index = undefined; // a damaged cache file is read again from the database
    }
  }
  if (!index) {
    const columns: ValueColumn[] = readSqliteValues(path, limits);
    index = ValueIndex.build(dbId, columns);
    if (file) writeCacheFile(file, JSON.stringify(index.toJSON()));
  }
  memoryValueCache.set(key, index);
  return index;
}

function writeCacheFile(file: string, text: string): void {
  try {
    writeFileAtomic(file, text);
  } catch (err) {
    throw new Error(
      `value cache ${file}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

/** Read a database and print its M-Schema. */
export async function mschema(source: MSchemaSource, options: MSchemaOptions = {}): Promise<MSchemaResult> {
  let src: ReturnType<typeof resolveSource>;
  try {
    src = resolveSource(source);
  } catch (err) {
    const secrets =
      typeof source === "string"
        ? [safePassword(source)]
        : "url" in (source as object)
          ? [safePassword((source as { url: string }).url)]
          : [];
    throw new Error(redact((err as Error).message, secrets));
  }
  const { schema, label, dialect, values } = await readSchema(src, options);
  const countTokens = options.maxTokens !== undefined ? (options.countTokens ?? (await qwenTokenCounter())) : undefined;
  const { text, report } = formatMSchemaWithReport(schema, { ...options, countTokens });
  return { text, schema, ...(values ? { values } : {}), report: { ...report, source: label, dialect } };
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
export interface SchemaForPromptOptions {
  dbId?: string;
  maxExamples?: number;
  /** DDL only: the question-aware M-Schema of this question (linkSchema; DDL has no cell values to match). */
  link?: { question: string; budget: number; countTokens?: (text: string) => number };
}

export function schemaForPrompt(
  dbSchemaText: string,
  dialect: string,
  options: SchemaForPromptOptions = {},
): PromptSchema {
  if (/【Schema】|【DB_ID】|^# Table: /m.test(dbSchemaText))
    return { text: dbSchemaText, kind: "mschema", warnings: [] };
  if (!/\bcreate\s+(?:\w+\s+)*table\b/i.test(dbSchemaText)) {
    return {
      text: dbSchemaText,
      kind: "unchanged",
      warnings: ["db_schema is neither M-Schema nor DDL; passed through unchanged"],
    };
  }
  let d: Dialect;
  try {
    d = normalizeDialect(dialect);
  } catch {
    d = "sqlite";
  }
  const parsed = parseDdlSchema(dbSchemaText, d, { dbId: options.dbId });
  if (!parsed.ok) return { text: dbSchemaText, kind: "unchanged", warnings: parsed.warnings };
  if (options.link) {
    const { question, budget, countTokens } = options.link;
    const text = linkSchema(parsed.schema, question, { budget, countTokens, maxExamples: options.maxExamples }).text;
    return { text, kind: "ddl", warnings: parsed.warnings };
  }
  return {
    text: formatMSchema(parsed.schema, { maxExamples: options.maxExamples }),
    kind: "ddl",
    warnings: parsed.warnings,
  };
}

export { redactUrl };
