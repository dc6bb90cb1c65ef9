// Public face of src/server: the text2sql server (Fastify). SQL execution lives in src/sql.
export {
  createServer,
  HttpError,
  DEFAULT_MAX_SCHEMA_CHARS,
  type ServerOptions,
  type ConfiguredDatabase,
} from "./app.js";
export { OffThread, schemaForPromptOffThread, checkReadOnlySqlOffThread, type OffThreadOptions } from "./offload.js";
export { RequestGate, QueueFullError } from "./gate.js";
export {
  startServer,
  closeOnSignals,
  configuredDatabase,
  promptSchemaText,
  resolveModelGguf,
  resolveLora,
  type ServeOptions,
} from "./start.js";
