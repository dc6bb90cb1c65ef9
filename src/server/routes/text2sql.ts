// POST /text2sql: a question (and a schema, or the configured database's) → XiYan's prompt → the model → SQL; with
// `"execute": true` the SQL runs through src/sql's read-only executor. Refused SQL answers 422 with the SQL and the
// reason; an SQL error or a timeout is reported in `execution` (the generation itself succeeded).
import type { FastifyInstance, FastifyRequest } from "fastify";
import { parseDialect, resolveAdapter, type SqlDialect } from "../../text2sql/index.js";
import { QueryFailedError, SqlRefusedError } from "../../sql/index.js";
import { clientGone, type ServerContext } from "../context.js";
import { HttpError } from "../errors.js";
import { text2sqlSchema } from "../schemas.js";

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

export async function text2sqlRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { database } = ctx;

  async function execute(sql: string, dialect: SqlDialect, request: FastifyRequest): Promise<Record<string, unknown>> {
    try {
      const r = await database!.executor!.execute(sql, ctx.executeLimits);
      const out: Record<string, unknown> = { status: "ok", columns: r.columns, rows: r.rows, truncated: r.truncated, ms: Math.round(r.ms * 10) / 10 };
      if (r.truncatedBy) out.truncated_by = r.truncatedBy;
      return out;
    } catch (err) {
      if (err instanceof SqlRefusedError) {
        request.log.info({ refusal: err.code }, "execution refused");
        throw new HttpError(422, `execute refused: ${err.message}`, "execute", {
          code: err.code,
          sql,
          dialect,
          execution: { status: "refused", code: err.code, error: err.message },
        });
      }
      if (err instanceof QueryFailedError) return { status: err.kind, error: err.message };
      request.log.error({ err }, "execution failed");
      return { status: "error", error: `internal error while executing (request ${request.id}); see the server log` };
    }
  }

  app.post<{ Body: Text2SqlBody }>("/text2sql", { schema: text2sqlSchema(ctx.maxTokensLimit, !database, ctx.maxSchemaChars) }, async (request, reply) => {
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
    const adapter = resolveAdapter(body.adapter, ctx.model.adapters);
    let dbSchema: string;
    if (body.db_schema !== undefined) {
      try {
        dbSchema = await ctx.schemaText(body.db_schema, dialect, body.question);
      } catch (err) {
        if (err instanceof HttpError) throw err;
        throw new HttpError(400, `body/db_schema: ${(err as Error).message}`, "db_schema");
      }
    } else {
      const loaded = await ctx.schema.get();
      dbSchema = database!.schemaForQuestion ? await database!.schemaForQuestion(body.question) : loaded.text;
    }
    const signal = clientGone(request, reply);
    const out = await ctx.gate.run(
      () =>
        ctx.generator.generate(
          { question: body.question, dbSchema, dialect, evidence: body.evidence },
          { maxTokens: body.max_tokens ?? ctx.defaultMaxTokens, temperature: body.temperature, seed: body.seed, adapter, signal },
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
    if (body.execute) response.execution = await execute(out.sql, dialect, request);
    return response;
  });
}
