// Public face of src/mschema: one schema model filled from SQLite, MySQL/MariaDB, PostgreSQL or DDL, one M-Schema formatter.
export type { ColumnSchema, DatabaseSchema, Dialect, ForeignKey, TableSchema } from "./model.js";
export { formatMSchema, formatMSchemaWithReport, qwenTokenCounter, type FormatOptions, type FormatReport } from "./format.js";
export { readSqliteSchema, type SqliteReadOptions } from "./sqlite.js";
export { readMysqlSchema, type MysqlReadOptions } from "./mysql.js";
export { readPostgresSchema, type PostgresReadOptions } from "./postgres.js";
export { parseDdlSchema, normalizeDialect, type DdlParseResult } from "./ddl.js";
export { mschema, schemaForPrompt, type MSchemaOptions, type MSchemaResult, type MSchemaSource, type PromptSchema } from "./mschema.js";
export { readDatabaseConfig, databaseConfigFromUrl, redactUrl, type DatabaseConfig } from "./config.js";
// Python's repr() of floats and bytes, as the reference tools print values (also src/eval's sort keys).
