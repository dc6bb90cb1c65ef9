// Schema text for Spider prompts: M-Schema through src/mschema (the one formatter), or the database's own DDL.
import Database from "better-sqlite3";
import {
  formatMSchema,
  linkSchema,
  qwenTokenCounter,
  readSqliteSchema,
  sqliteValueIndex,
  type DatabaseSchema,
  type ValueIndex,
  type ValueMatchOptions,
} from "../mschema/index.js";
import type { SchemaTextProvider, SchemaTextRequest } from "./prepare.js";

/** The CREATE TABLE statements stored in a SQLite file, in creation order, each ending with ";". */
export function sqliteDdl(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql IS NOT NULL ORDER BY rowid",
      )
      .all() as Array<{ sql: string }>;
    return rows.map((r) => r.sql.trim().replace(/;?$/, ";")).join("\n\n");
  } finally {
    db.close();
  }
}

export interface SpiderSchemaOptions {
  /** M-Schema: example values shown per column (default 3, as the M-Schema tool). */
  exampleValues?: number;
  /** Question-aware M-Schema (linkSchema): each question gets the linked tables and columns and its matched values. */
  link?: SchemaLinkOptions;
}

export interface SchemaLinkOptions {
  /** Token budget of the schema text (0: every table and column, matched values added). */
  budget: number;
  /** Match the question's cell values (default true). */
  values?: boolean;
  /** Folder of the on-disk value cache (default: memory only). */
  valueCacheDir?: string;
  valueMatch?: ValueMatchOptions;
  /** Token counter (default: the Qwen tokenizer). */
  countTokens?: (text: string) => number;
}

/** A Spider database's M-Schema text: src/mschema's SQLite reader and its one formatter, db id from the folder. */
export function spiderMSchema(dbId: string, path: string, options: SpiderSchemaOptions = {}): string {
  const schema = readSqliteSchema(path, { dbId });
  return formatMSchema(schema, { maxExamples: options.exampleValues });
}

/** Describes link options for ids and logs ("link:budget=512,values"). */
export function describeLink(link: SchemaLinkOptions | undefined): string {
  if (!link) return "none";
  const m = link.valueMatch ?? {};
  return `budget=${link.budget}${link.values === false ? "" : `,values(${m.perColumn ?? 3}/${m.limit ?? 15})`}`;
}

/**
 * The default schema provider: DDL from sqlite_master, M-Schema from src/mschema; with `link`, the question-aware
 * M-Schema (schema and value index read once per database, linked per question).
 */
export function spiderSchemaText(options: SpiderSchemaOptions = {}): SchemaTextProvider {
  const link = options.link;
  if (link && !(Number.isInteger(link.budget) && link.budget >= 0))
    throw new Error(`link budget must be a whole number of tokens >= 0, got ${link.budget}`);
  const databases = new Map<string, { schema: DatabaseSchema; values?: ValueIndex }>();
  let counter: Promise<(text: string) => number> | undefined;
  const provider: SchemaTextProvider = async ({ dbId, path, style, question }: SchemaTextRequest) => {
    try {
      if (style === "ddl") {
        if (link) throw new Error("a linked schema is M-Schema: use the mschema style");
        return sqliteDdl(path);
      }
      if (!link) return spiderMSchema(dbId, path, options);
      let db = databases.get(dbId);
      if (!db) {
        const schema = readSqliteSchema(path, { dbId });
        db = {
          schema,
          values: link.values === false ? undefined : sqliteValueIndex(path, { dbId, cacheDir: link.valueCacheDir }),
        };
        databases.set(dbId, db);
      }
      const countTokens = link.budget > 0 ? (link.countTokens ?? (await (counter ??= qwenTokenCounter()))) : undefined;
      return linkSchema(db.schema, question, {
        budget: link.budget,
        countTokens,
        values: db.values,
        valueMatch: link.valueMatch,
        maxExamples: options.exampleValues,
      }).text;
    } catch (err) {
      throw new Error(`database ${dbId} (${path}): ${(err as Error).message}`, { cause: err });
    }
  };
  provider.perQuestion = !!link;
  return provider;
}
