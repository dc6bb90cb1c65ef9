// The text2sql server: Fastify routes over one loaded ChatModel.
//   POST /text2sql             {question, db_schema, …} → {sql, …} (XiYan prompt, SQL extracted)
//   POST /v1/chat/completions  OpenAI-compatible (also streamed), /v1/models
//   GET  /health, GET /schema, POST /schema/refresh (with a configured database), /docs (OpenAPI)
// Requests share the model; up to model.parallelism generate at once (parallel sequences of one context,
// batched by node-llama-cpp), up to maxQueue wait, more get 503.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import {
  BASE_ADAPTER,
  parseDialect,
  PromptTooLongError,
  resolveAdapter,
  SqlGenerator,
  UnknownAdapterError,
  type ChatTurn,
  type ChatModel,
  type SqlDialect,
} from "../text2sql/index.js";
import { QueueFullError, RequestGate } from "./gate.js";
import { QueryFailedError, SqlRefusedError, type ExecuteLimits, type QueryResult, type ReadOnlyDatabase } from "../sql/index.js";
import {
  chatCompletionsSchema,
  healthSchema,
  modelsSchema,
  schemaGetSchema,
  schemaRefreshSchema,
  text2sqlSchema,
} from "./schemas.js";

/** A database configured for --enable-mschema: its schema text (M-Schema) and optional read-only execution. */
export interface ConfiguredDatabase {
  dialect: SqlDialect;
  /** Reads the database's schema as M-Schema text (called once, then on POST /schema/refresh). */
  loadSchema(): Promise<string>;
  /** Question-aware M-Schema (linked tables, matched values) over what loadSchema last read; absent: the whole text. */
  schemaForQuestion?(question: string): Promise<string>;
  /** Runs generated SQL read-only for `"execute": true`; absent: execution is refused. */
  executor?: ReadOnlyDatabase;
  /** Shown in /health (never a password). */
  description?: string;
}

export interface ServerOptions {
  model: ChatModel;
  /** --enable-mschema: the schema (and execution) come from this database. */
  database?: ConfiguredDatabase;
  /**
   * Turns a request's db_schema into the text put in the prompt (DDL → M-Schema). Default: the text as given.
   * Errors it throws answer 400.
   */
  schemaText?: (dbSchema: string, dialect: SqlDialect, question: string) => string | Promise<string>;
  /** Requests waiting for a sequence before 503. Default 32. */
  maxQueue?: number;
  /** Largest request body in bytes (413 above). Default 1 MiB. */
  bodyLimit?: number;
  /** max_tokens when a request gives none. Default 512. */
  defaultMaxTokens?: number;
  /** Largest max_tokens a request may ask. Default 4096. */
  maxTokensLimit?: number;
  /** Limits of `"execute": true`. Defaults 1000 rows, 10 s. */
  executeLimits?: ExecuteLimits;
  /** Fastify logger: true (info), false, or pino options ({ level, stream, … }). Default true. */
  logger?: boolean | { level?: string; stream?: { write(line: string): void } };
  /** OpenAPI document and docs page at /docs. Default true. */
  docs?: boolean;
  /** Close the model (and the database) when the server closes. Default true. */
  closeModel?: boolean;
}

interface Text2SqlBody {
  question: string;
  db_schema?: string;
  dialect?: string;
  evidence?: string;
  adapter?: string;
  max_tokens?: number;
  temperature?: number;
  seed?: number;
  execute?: boolean;
  include_prompt?: boolean;
}

interface OpenAiMessage {
  role: "system" | "developer" | "user" | "assistant";
  content: string | Array<{ type: string; text?: string }> | null;
}

interface ChatCompletionsBody {
  model?: string;
  messages: OpenAiMessage[];
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
}

/** An error with an HTTP status the error handler answers with. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

function openAiErrorType(status: number): string {
  if (status === 404) return "not_found_error";
  if (status === 503) return "server_busy";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/** Signal aborted when the client goes away before the reply is sent. */
function clientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) ac.abort(new Error(`client closed the connection (request ${request.id})`));
  });
  return ac.signal;
}

function messageText(m: OpenAiMessage, index: number): string {
  if (m.content === null) return "";
  if (typeof m.content === "string") return m.content;
  return m.content
    .map((part, j) => {
      if (part.type !== "text" || typeof part.text !== "string") {
        throw new HttpError(400, `messages/${index}/content/${j}: only text parts are supported (got type '${part.type}')`, `messages`);
      }
      return part.text;
    })
    .join("");
}

export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const model = options.model;
  const maxTokensLimit = options.maxTokensLimit ?? 4096;
  const defaultMaxTokens = Math.min(options.defaultMaxTokens ?? 512, maxTokensLimit);
  const gate = new RequestGate(model.parallelism, options.maxQueue ?? 32);
  const generator = new SqlGenerator(model);
  const database = options.database;
  const schemaText = options.schemaText ?? ((text: string) => text);
  const started = Date.now();
  let schemaCache: { text: string; loadedAt: Date } | undefined;
  let schemaLoading: Promise<{ text: string; loadedAt: Date }> | undefined;

  const app = Fastify({
    logger: options.logger ?? true,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Strict validation: "question": 5 is a 400, not "5"; unknown fields are refused, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    schemaErrorFormatter: (errors, dataVar) => {
      const e = errors[0]!;
      const path = `${dataVar}${e.instancePath}`;
      const extra = (e.params as { additionalProperty?: string }).additionalProperty;
      return new Error(extra ? `${path} must NOT have additional property '${extra}'` : `${path} ${e.message ?? "is invalid"}`);
    },
  });

  const isOpenAi = (url: string) => url.startsWith("/v1/");

  app.setErrorHandler((error: FastifyError | HttpError | Error, request, reply) => {
    let status = (error as FastifyError).statusCode ?? 500;
    let message = error.message;
    if (error instanceof QueueFullError) {
      status = 503;
      reply.header("retry-after", "1");
    } else if (error instanceof PromptTooLongError) {
      status = 400;
    } else if (error instanceof UnknownAdapterError) {
      status = isOpenAi(request.url) ? 404 : 400;
    } else if ((error as FastifyError).code === "FST_ERR_CTP_INVALID_JSON_BODY" || error instanceof SyntaxError) {
      status = 400;
      message = `invalid JSON in request body: ${error.message}`;
    }
    if (status >= 500 && status !== 503) request.log.error({ err: error }, "request failed");
    else request.log.info({ statusCode: status, reason: message }, "request refused");
    if (isOpenAi(request.url)) {
      return reply.status(status).send({
        error: { message, type: openAiErrorType(status), param: (error as HttpError).param ?? null, code: error instanceof PromptTooLongError ? "context_length_exceeded" : ((error as FastifyError).code ?? null) },
      });
    }
    return reply.status(status).send({ statusCode: status, error: STATUS_TEXT[status] ?? "Error", message });
  });

  app.setNotFoundHandler((request, reply) => {
    const message = `no route ${request.method} ${request.url}`;
    if (isOpenAi(request.url)) return reply.status(404).send({ error: { message, type: "not_found_error", param: null, code: null } });
    return reply.status(404).send({ statusCode: 404, error: "Not Found", message });
  });

  if (options.docs ?? true) {
    await app.register(swagger, {
      openapi: {
        info: {
          title: "sqlfocus text2sql server",
          description: "Text-to-SQL with a fine-tuned Qwen2 model (GGUF, node-llama-cpp); OpenAI-compatible chat endpoint.",
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

  // Graceful close: responses still in flight tell their clients to close the connection, so that the
  // server's close() does not wait for keep-alive connections to time out.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onSend", async (_request, reply, payload) => {
    if (closing) reply.header("connection", "close");
    return payload;
  });

  app.addHook("onClose", async () => {
    if (options.closeModel ?? true) {
      await model.close();
      await database?.executor?.close();
    }
  });

  async function configuredSchema(refresh = false): Promise<{ text: string; loadedAt: Date }> {
    if (!database) throw new HttpError(404, "no database configured (start the server with --enable-mschema)");
    if (schemaCache && !refresh) return schemaCache;
    if (!schemaLoading) {
      schemaLoading = database
        .loadSchema()
        .then(
          (text) => (schemaCache = { text, loadedAt: new Date() }),
          (err: Error) => {
            throw new HttpError(503, `cannot read the configured database's schema: ${err.message}`);
          },
        )
        .finally(() => (schemaLoading = undefined));
    }
    return schemaLoading;
  }

  function modelAdapter(name: string | undefined): string {
    // "<model>", "<model>:<adapter>", "<adapter>" or absent.
    if (name === undefined || name === "" || name === model.id) return resolveAdapter(undefined, model.adapters);
    const prefix = `${model.id}:`;
    const adapter = name.startsWith(prefix) ? name.slice(prefix.length) : name;
    if (adapter === BASE_ADAPTER || model.adapters.includes(adapter)) return adapter;
    throw new HttpError(404, `model '${name}' not found (served: ${modelIds().join(", ")})`, "model");
  }

  function modelIds(): string[] {
    if (model.adapters.length === 0) return [model.id];
    return [model.id, `${model.id}:${BASE_ADAPTER}`, ...model.adapters.map((a) => `${model.id}:${a}`)];
  }

  app.get("/health", { schema: healthSchema }, async () => ({
    status: "ok",
    model: model.id,
    adapters: model.adapters,
    parallelism: model.parallelism,
    sequences: model.sequences(),
    queue: { running: gate.running, waiting: gate.queued, max: gate.maxQueue },
    database: database ? { dialect: database.dialect, description: database.description ?? null, schema_loaded: !!schemaCache } : null,
    uptime_s: Math.round((Date.now() - started) / 1000),
  }));

  app.post<{ Body: Text2SqlBody }>("/text2sql", { schema: text2sqlSchema(maxTokensLimit, !database) }, async (request, reply) => {
    const body = request.body;
    let dialect: SqlDialect;
    try {
      dialect = body.dialect !== undefined ? parseDialect(body.dialect) : (database?.dialect ?? "SQLite");
    } catch (err) {
      throw new HttpError(400, `body/dialect: ${(err as Error).message}`, "dialect");
    }
    if (body.execute && !database) throw new HttpError(400, "body/execute: no database configured (start the server with --enable-mschema)", "execute");
    if (body.execute && !database!.executor) throw new HttpError(400, "body/execute: the configured database has no read-only executor", "execute");
    if (body.execute && dialect !== database!.dialect) {
      throw new HttpError(400, `body/dialect: execute runs on the configured ${database!.dialect} database, so the dialect must be ${database!.dialect}`, "dialect");
    }
    const adapter = resolveAdapter(body.adapter, model.adapters);
    let dbSchema: string;
    if (body.db_schema !== undefined) {
      try {
        dbSchema = await schemaText(body.db_schema, dialect, body.question);
      } catch (err) {
        throw new HttpError(400, `body/db_schema: ${(err as Error).message}`, "db_schema");
      }
    } else {
      const loaded = await configuredSchema();
      dbSchema = database!.schemaForQuestion ? await database!.schemaForQuestion(body.question) : loaded.text;
    }
    const signal = clientGone(request, reply);
    const out = await gate.run(
      () =>
        generator.generate(
          { question: body.question, dbSchema, dialect, evidence: body.evidence },
          { maxTokens: body.max_tokens ?? defaultMaxTokens, temperature: body.temperature, seed: body.seed, adapter, signal },
        ),
      signal,
    );
    request.log.info(
      { adapter: out.adapter, promptTokens: out.promptTokens, completionTokens: out.completionTokens, genMs: Math.round(out.ms), finish: out.finishReason },
      "text2sql generated",
    );
    request.log.debug({ prompt: out.prompt, reply: out.reply }, "text2sql prompt and reply");
    const response: Record<string, unknown> = {
      sql: out.sql,
      dialect,
      adapter: out.adapter,
      reply: out.reply,
      finish_reason: out.finishReason,
      usage: { prompt_tokens: out.promptTokens, completion_tokens: out.completionTokens, total_tokens: out.promptTokens + out.completionTokens },
      ms: Math.round(out.ms * 10) / 10,
    };
    if (body.include_prompt) response.prompt = out.prompt;
    if (body.execute) response.execution = await executeSql(out.sql, request);
    return response;
  });

  async function executeSql(sql: string, request: FastifyRequest): Promise<Record<string, unknown>> {
    try {
      const r: QueryResult = await database!.executor!.execute(sql, options.executeLimits);
      return { status: "ok", columns: r.columns, rows: r.rows, truncated: r.truncated, ms: Math.round(r.ms * 10) / 10 };
    } catch (err) {
      if (err instanceof SqlRefusedError) return { status: "refused", error: err.message };
      if (err instanceof QueryFailedError) return { status: err.kind, error: err.message };
      request.log.error({ err }, "execution failed");
      return { status: "error", error: (err as Error).message };
    }
  }

  app.get("/schema", { schema: schemaGetSchema }, async () => {
    const s = await configuredSchema();
    return { dialect: database!.dialect, schema: s.text, loaded_at: s.loadedAt.toISOString() };
  });

  app.post("/schema/refresh", { schema: schemaRefreshSchema }, async () => {
    const s = await configuredSchema(true);
    return { dialect: database!.dialect, chars: s.text.length, loaded_at: s.loadedAt.toISOString() };
  });

  app.get("/v1/models", { schema: modelsSchema }, async () => ({
    object: "list",
    data: modelIds().map((id) => ({ id, object: "model", created: Math.floor(started / 1000), owned_by: "sqlfocus" })),
  }));

  app.post<{ Body: ChatCompletionsBody }>("/v1/chat/completions", { schema: chatCompletionsSchema(maxTokensLimit) }, async (request, reply) => {
    const body = request.body;
    const adapter = modelAdapter(body.model ?? undefined);
    const messages: ChatTurn[] = body.messages.map((m, i) => ({
      role: m.role === "developer" ? "system" : m.role,
      content: messageText(m, i),
    }));
    if (messages[messages.length - 1]!.role === "assistant") {
      throw new HttpError(400, "body/messages: the last message must be from the user or system (the model answers it)", "messages");
    }
    const stop = body.stop == null ? undefined : typeof body.stop === "string" ? [body.stop] : body.stop;
    const id = `chatcmpl-${request.id}-${Date.now().toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    const modelName = adapter === resolveAdapter(undefined, model.adapters) && !body.model?.includes(":") ? model.id : `${model.id}:${adapter}`;
    const signal = clientGone(request, reply);
    const common = {
      messages,
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? defaultMaxTokens,
      temperature: body.temperature ?? 0,
      topP: body.top_p ?? undefined,
      topK: body.top_k ?? undefined,
      seed: body.seed ?? undefined,
      stop,
      adapter,
      signal,
    };

    if (!body.stream) {
      const out = await gate.run(() => model.complete(common), signal);
      request.log.info({ adapter, promptTokens: out.promptTokens, completionTokens: out.completionTokens, genMs: Math.round(out.ms) }, "chat completion generated");
      return {
        id,
        object: "chat.completion",
        created,
        model: modelName,
        choices: [{ index: 0, message: { role: "assistant", content: out.text }, logprobs: null, finish_reason: out.finishReason === "length" ? "length" : "stop" }],
        usage: { prompt_tokens: out.promptTokens, completion_tokens: out.completionTokens, total_tokens: out.promptTokens + out.completionTokens },
      };
    }

    // Streaming: admission first (a full queue is still a plain 503), then server-sent events.
    return gate.run(async () => {
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: closing ? "close" : "keep-alive" });
      const send = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
        raw.write(
          `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: modelName, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`,
        );
      send({ role: "assistant", content: "" }, null);
      try {
        const out = await model.complete({ ...common, onText: (text) => send({ content: text }, null) });
        send({}, out.finishReason === "length" ? "length" : "stop", {
          usage: { prompt_tokens: out.promptTokens, completion_tokens: out.completionTokens, total_tokens: out.promptTokens + out.completionTokens },
        });
        request.log.info({ adapter, promptTokens: out.promptTokens, completionTokens: out.completionTokens, genMs: Math.round(out.ms), stream: true }, "chat completion streamed");
      } catch (err) {
        request.log.error({ err }, "streamed generation failed");
        raw.write(`data: ${JSON.stringify({ error: { message: (err as Error).message, type: "server_error" } })}\n\n`);
      }
      raw.end("data: [DONE]\n\n");
    }, signal);
  });

  return app;
}
