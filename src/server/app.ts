// The text2sql server: Fastify, one plugin per route group, over one loaded ChatModel.
//   routes/text2sql.ts  POST /text2sql             {question, db_schema, …} → {sql, …}; `execute` → src/sql
//   routes/openai.ts    POST /v1/chat/completions  OpenAI-compatible (also streamed), GET /v1/models
//   routes/schema.ts    GET /schema, POST /schema/refresh (with a configured database)
//   routes/health.ts    GET /health
//   errors.ts           one error mapping for all of them; lifecycle.ts: drain on close (503 to new requests)
// Requests share the model; up to model.parallelism generate at once (parallel sequences of one context, batched by
// node-llama-cpp), up to maxQueue wait, more get 503.
import Fastify, { type FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { SqlGenerator, type ChatModel, type SqlDialect } from "../text2sql/index.js";
import type { ExecuteLimits } from "../sql/index.js";
import { RequestGate } from "./gate.js";
import { SchemaCache, type ConfiguredDatabase, type ServerContext } from "./context.js";
import { registerErrorMapping } from "./errors.js";
import { registerLifecycle } from "./lifecycle.js";
import { healthRoutes } from "./routes/health.js";
import { openAiRoutes } from "./routes/openai.js";
import { schemaRoutes } from "./routes/schema.js";
import { text2sqlRoutes } from "./routes/text2sql.js";

export type { ConfiguredDatabase } from "./context.js";
export { HttpError } from "./errors.js";

export interface ServerOptions {
  model: ChatModel;
  /** --enable-mschema: the schema (and execution) come from this database. */
  database?: ConfiguredDatabase;
  /**
   * Turns a request's db_schema into the text put in the prompt (DDL → M-Schema). Default: the text as given.
   * Errors it throws answer 400. startServer passes promptSchemaText (DDL parsing on a worker thread).
   */
  schemaText?: (dbSchema: string, dialect: SqlDialect, question: string) => string | Promise<string>;
  /** Requests waiting for a sequence before 503. Default 32. */
  maxQueue?: number;
  /** Largest request body in bytes (413 above). Default 1 MiB. */
  bodyLimit?: number;
  /** Longest db_schema in characters (400 above, before any parsing). Default 1,000,000. */
  maxSchemaChars?: number;
  /** max_tokens when a request gives none. Default 512. */
  defaultMaxTokens?: number;
  /** Largest max_tokens a request may ask. Default 4096. */
  maxTokensLimit?: number;
  /** Limits of `"execute": true`. Defaults 1000 rows, 10 s, 16 MiB. */
  executeLimits?: ExecuteLimits;
  /** On close, how long requests in flight may take to finish while new ones get 503. Default 30,000 ms. */
  drainTimeoutMs?: number;
  /** Fastify logger: true (info), false, or pino options ({ level, stream, … }). Default true. */
  logger?: boolean | { level?: string; stream?: { write(line: string): void } };
  /** OpenAPI document and docs page at /docs. Default true. */
  docs?: boolean;
  /** Close the model (and the database) when the server closes. Default true. */
  closeModel?: boolean;
}

export const DEFAULT_MAX_SCHEMA_CHARS = 1_000_000;

export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const model = options.model;
  const maxTokensLimit = options.maxTokensLimit ?? 4096;
  const app = Fastify({
    logger: options.logger ?? true,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // New requests during close are answered by lifecycle.ts (a clear 503), not Fastify's bare one.
    return503OnClosing: false,
    // Strict validation: "question": 5 is a 400, not "5"; unknown fields are refused, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    schemaErrorFormatter: (errors, dataVar) => {
      const e = errors[0]!;
      const path = `${dataVar}${e.instancePath}`;
      const extra = (e.params as { additionalProperty?: string }).additionalProperty;
      return new Error(
        extra ? `${path} must NOT have additional property '${extra}'` : `${path} ${e.message ?? "is invalid"}`,
      );
    },
  });
  registerErrorMapping(app);
  const lifecycle = registerLifecycle(app, options.drainTimeoutMs ?? 30_000);

  const ctx: ServerContext = {
    model,
    gate: new RequestGate(model.parallelism, options.maxQueue ?? 32),
    generator: new SqlGenerator(model),
    database: options.database,
    schema: new SchemaCache(options.database),
    schemaText: options.schemaText ?? ((text: string) => text),
    maxTokensLimit,
    defaultMaxTokens: Math.min(options.defaultMaxTokens ?? 512, maxTokensLimit),
    maxSchemaChars: options.maxSchemaChars ?? DEFAULT_MAX_SCHEMA_CHARS,
    executeLimits: options.executeLimits,
    started: Date.now(),
    closing: lifecycle.closing,
  };

  if (options.docs ?? true) {
    await app.register(swagger, {
      openapi: {
        info: {
          title: "sqlfocus text2sql server",
          description:
            "Text-to-SQL with a fine-tuned Qwen2 model (GGUF, node-llama-cpp); OpenAI-compatible chat endpoint.",
          version: "0.1.0",
        },
        tags: [
          { name: "text2sql", description: "Questions to SQL" },
          { name: "openai", description: "OpenAI-compatible API" },
          { name: "schema", description: "Configured database schema" },
          { name: "server", description: "Health" },
        ],
      },
    });
    await app.register(swaggerUi, { routePrefix: "/docs" });
  }

  app.addHook("onClose", async () => {
    if (options.closeModel ?? true) {
      await model.dispose();
      await options.database?.executor?.close();
    }
  });

  await app.register(healthRoutes, ctx);
  await app.register(text2sqlRoutes, ctx);
  await app.register(schemaRoutes, ctx);
  await app.register(openAiRoutes, ctx);
  return app;
}
