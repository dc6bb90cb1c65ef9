// Public face of src/sql: the one place that runs SQL. The read-only executor (server `execute`, `sqlfocus query`),
// its parser-based check, privilege check and denylist, and the Spider evaluator's SQLite executor.
export { openReadOnlyDatabase, connectionFromConfig, type DatabaseSection } from "./open.js";
export {
  describeConnection,
  privilegedUserMessage,
  DEFAULT_ROW_LIMIT,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_MAX_BYTES,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type DatabaseConnection,
  type ExecuteLimits,
  type ReadOnlyOptions,
  type QueryResult,
  type ReadOnlyDatabase,
  type PrivilegeCheck,
} from "./executor.js";
export { checkReadOnlySql, grammarOf, DEFAULT_MAX_SQL_LENGTH, type CheckOptions, type SqlGrammar } from "./check.js";
export { SqlRefusedError, PrivilegedUserError, QueryFailedError, type RefusalCode } from "./errors.js";
export {
  DENIED_FUNCTIONS,
  DENIED_FUNCTION_PREFIXES,
  DENIED_RELATIONS,
  DENIED_SCHEMAS,
  isDeniedFunction,
} from "./denylist.js";
export {
  parseMysqlGrants,
  postgresReadOnlyUserSql,
  mysqlReadOnlyUserSql,
  READ_ONLY_USER,
  type PrivilegeReport,
} from "./privileges.js";
export { jsonCell, type JsonCell, type SqlValue } from "./cells.js";
export { sqliteQuotedSpanEnd } from "./sqlite-text.js";
export { SqlExecutor, type ExecOutcome, type SqlExecutorOptions, type ExecuteOptions } from "./spider-executor.js";
