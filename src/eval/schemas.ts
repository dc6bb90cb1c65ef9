// Schema text for Spider prompts: M-Schema through src/mschema (the one formatter), or the database's own DDL.
import Database from "better-sqlite3";
import { formatMSchema, readSqliteSchema } from "../mschema/index.js";
import type { SchemaStyle, SchemaTextProvider } from "./prepare.js";

/** The CREATE TABLE statements stored in a SQLite file, in creation order, each ending with ";". */
export function sqliteDdl(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql IS NOT NULL ORDER BY rowid")
      .all() as Array<{ sql: string }>;
    return rows.map((r) => r.sql.trim().replace(/;?$/, ";")).join("\n\n");
  } finally {
    db.close();
  }
}

export interface SpiderSchemaOptions {
  /** M-Schema: example values shown per column (default 3, as the M-Schema tool). */
  exampleValues?: number;
}

/** A Spider database's M-Schema text: src/mschema's SQLite reader and its one formatter, db id from the folder. */
export function spiderMSchema(dbId: string, path: string, options: SpiderSchemaOptions = {}): string {
  const schema = readSqliteSchema(path, { dbId });
  return formatMSchema(schema, { maxExamples: options.exampleValues });
}

/** The default schema provider: DDL from sqlite_master, M-Schema from src/mschema. */
export function spiderSchemaText(options: SpiderSchemaOptions = {}): SchemaTextProvider {
  return ({ dbId, path, style }: { dbId: string; path: string; style: SchemaStyle }) => {
    try {
      if (style === "ddl") return sqliteDdl(path);
      return spiderMSchema(dbId, path, options);
    } catch (err) {
      throw new Error(`database ${dbId} (${path}): ${(err as Error).message}`, { cause: err });
    }
  };
}
