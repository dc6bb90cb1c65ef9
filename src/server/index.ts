// Public face of src/server: the text2sql server (Fastify) and its read-only SQL execution.
export { createServer, HttpError, type ServerOptions, type ConfiguredDatabase } from "./app.js";
export { RequestGate, QueueFullError } from "./gate.js";
export { checkReadOnlySql, SqlRefusedError } from "./sql-guard.js";
export {
  openReadOnlyDatabase,
  describeConnection,
  jsonCell,
  QueryFailedError,
  type DatabaseConnection,
  type ExecuteLimits,
  type QueryResult,
  type ReadOnlyDatabase,
  type JsonCell,
} from "./database.js";
export { startServer, closeOnSignals, configuredDatabase, resolveModelGguf, resolveLora, type ServeOptions } from "./start.js";
