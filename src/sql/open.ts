// Opens the read-only executor for a connection: the one entry point the server, `sqlfocus query` and library
// users go through.
import {
  describeConnection,
  type DatabaseConnection,
  type ReadOnlyDatabase,
  type ReadOnlyOptions,
} from "./executor.js";
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
      throw new Error(
        `unsupported database dialect '${(connection as { dialect: string }).dialect}' (${describeConnection(connection)})`,
      );
  }
}

/** A [database] section as src/mschema reads config.ini (`type` mysql | postgresql | sqlite). */
export interface DatabaseSection {
  type: "mysql" | "postgresql" | "sqlite";
  host: string;
  port: number;
  user: string;
  password: string;
  dbname: string;
  path?: string;
}

/** The connection a config.ini's [database] section names. */
export function connectionFromConfig(config: DatabaseSection): DatabaseConnection {
  if (config.type === "sqlite") {
    if (!config.path) throw new Error("[database] type = sqlite needs path = <file>");
    return { dialect: "SQLite", path: config.path };
  }
  return {
    dialect: config.type === "mysql" ? "MySQL" : "PostgreSQL",
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.dbname,
  };
}
