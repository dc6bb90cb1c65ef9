// Public face of src/mschema: one schema model filled from SQLite, MySQL/MariaDB, PostgreSQL or DDL, one M-Schema formatter.
export type { ColumnSchema, DatabaseSchema, Dialect, ForeignKey, TableSchema } from "./model.js";
export {
  formatMSchema,
  formatMSchemaWithReport,
  qwenTokenCounter,
  type FormatOptions,
  type FormatReport,
} from "./format.js";
export { linkSchema, type LinkOptions, type LinkReport, type LinkResult } from "./link.js";
export {
  ValueIndex,
  type ValueColumn,
  type ValueIndexSnapshot,
  type ValueMatch,
  type ValueMatchOptions,
  type ValueReadOptions,
} from "./values.js";
export { readSqliteSchema, readSqliteValues, type SqliteReadOptions } from "./sqlite.js";
export { readMysqlSchema, readMysqlValues, type MysqlReadOptions } from "./mysql.js";
export { readPostgresSchema, readPostgresValues, type PostgresReadOptions } from "./postgres.js";
export { parseDdlSchema, normalizeDialect, type DdlParseResult } from "./ddl.js";
export {
  mschema,
  schemaForPrompt,
  sqliteValueIndex,
  type MSchemaOptions,
  type MSchemaResult,
  type MSchemaSource,
  type PromptSchema,
  type SchemaForPromptOptions,
  type ValueIndexOptions,
} from "./mschema.js";
export { readDatabaseConfig, databaseConfigFromUrl, redactUrl, type DatabaseConfig } from "./config.js";
// Python's repr() of floats and bytes, as the reference tools print values (also src/eval's sort keys).
