// Public face of src/server: the text2sql server (Fastify). SQL execution lives in src/sql.
export { createServer, HttpError, type ServerOptions, type ConfiguredDatabase } from "./app.js";
export { RequestGate, QueueFullError } from "./gate.js";
export { startServer, closeOnSignals, configuredDatabase, promptSchemaText, resolveModelGguf, resolveLora, type ServeOptions } from "./start.js";
