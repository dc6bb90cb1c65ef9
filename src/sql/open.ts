// Opens the read-only executor for a connection: the one entry point the server, `sqlfocus query` and library
// users go through.
import { describeConnection, type DatabaseConnection, type ReadOnlyDatabase, type ReadOnlyOptions } from "./executor.js";
import { MysqlReadOnly } from "./mysql.js";
import { PostgresReadOnly } from "./postgres.js";
import { SqliteReadOnly } from "./sqlite.js";

export function openReadOnlyDatabase(connection: DatabaseConnection, options: ReadOnlyOptions = {}): ReadOnlyDatabase {
  switch (connection.dialect) {
    case "SQLite":
      return new SqliteReadOnly(connection.path, options);
    case "PostgreSQL":
      return new PostgresReadOnly(connection, options);
    case "MySQL":
      return new MysqlReadOnly(connection, options);
    default:
      throw new Error(`unsupported database dialect '${(connection as { dialect: string }).dialect}' (${describeConnection(connection)})`);
  }
}
