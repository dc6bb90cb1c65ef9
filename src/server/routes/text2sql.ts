// POST /text2sql: a question (and a schema, or the configured database's) → XiYan's prompt → the model → SQL; with
// `"execute": true` the SQL runs through src/sql's read-only executor. Refused SQL answers 422 with the SQL and the
// reason; an SQL error or a timeout is reported in `execution` (the generation itself succeeded). With `n` > 1,
// n candidates are sampled, run read-only and voted on (src/text2sql voteByExecution); `include_candidates` lists them.
import type { FastifyInstance, FastifyRequest } from "fastify";
import { parseDialect, resolveAdapter, voteByExecution, type SqlDialect } from "../../text2sql/index.js";
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
  n?: number;
  include_candidates?: boolean;
}

export async function text2sqlRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { database } = ctx;

  async function execute(sql: string, dialect: SqlDialect, request: FastifyRequest): Promise<Record<string, unknown>> {
    try {
      const r = await database!.executor!.execute(sql, ctx.executeLimits);
      const out: Record<string, unknown> = {
        status: "ok",
        columns: r.columns,
        rows: r.rows,
        truncated: r.truncated,
        ms: Math.round(r.ms * 10) / 10,
      };
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

  app.post<{ Body: Text2SqlBody }>(
    "/text2sql",
    { schema: text2sqlSchema(ctx.maxTokensLimit, !database, ctx.maxSchemaChars) },
    async (request, reply) => {
      const body = request.body;
      let dialect: SqlDialect;
      try {
        dialect = body.dialect !== undefined ? parseDialect(body.dialect) : (database?.dialect ?? "SQLite");
      } catch (err) {
        throw new HttpError(400, `body/dialect: ${(err as Error).message}`, "dialect");
      }
      if (body.execute && !database)
        throw new HttpError(
          400,
          "body/execute: no database configured (start the server with --enable-mschema)",
          "execute",
        );
      if (body.execute && !database!.executor)
        throw new HttpError(400, "body/execute: the configured database has no read-only executor", "execute");
      if (body.execute && dialect !== database!.dialect) {
        throw new HttpError(
          400,
          `body/dialect: execute runs on the configured ${database!.dialect} database, so the dialect must be ${database!.dialect}`,
          "dialect",
        );
      }
      const n = body.n ?? 1;
      if (n > 1 && !database?.executor)
        throw new HttpError(
          400,
          "body/n: voting executes the candidates: start the server with --enable-mschema (a database to run them on)",
          "n",
        );
      if (n > 1 && dialect !== database!.dialect)
        throw new HttpError(
          400,
          `body/dialect: candidates run on the configured ${database!.dialect} database, so the dialect must be ${database!.dialect}`,
          "dialect",
        );
      if (body.include_candidates && n <= 1)
        throw new HttpError(400, "body/include_candidates: needs n > 1", "include_candidates");
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
      const input = { question: body.question, dbSchema, dialect, evidence: body.evidence };
      const maxTokens = body.max_tokens ?? ctx.defaultMaxTokens;
      if (n > 1)
        return vote(request, signal, input, {
          n,
          maxTokens,
          temperature: body.temperature || 0.7,
          seed: body.seed,
          adapter,
        });
      const out = await ctx.gate.run(
        () =>
          ctx.generator.generate(input, { maxTokens, temperature: body.temperature, seed: body.seed, adapter, signal }),
        signal,
      );
      request.log.info(
        {
          adapter: out.adapter,
          promptTokens: out.promptTokens,
          completionTokens: out.completionTokens,
          genMs: Math.round(out.ms),
          finish: out.finishReason,
        },
        "text2sql generated",
      );
      request.log.debug({ prompt: out.prompt, reply: out.reply }, "text2sql prompt and reply");
      const response: Record<string, unknown> = {
        sql: out.sql,
        dialect,
        adapter: out.adapter,
        reply: out.reply,
        finish_reason: out.finishReason,
        usage: {
          prompt_tokens: out.promptTokens,
          completion_tokens: out.completionTokens,
          total_tokens: out.promptTokens + out.completionTokens,
        },
        ms: Math.round(out.ms * 10) / 10,
      };
      if (body.include_prompt) response.prompt = out.prompt;
      if (body.execute) response.execution = await execute(out.sql, dialect, request);
      return response;

      // n candidates sampled in one sequence slot, run read-only on the configured database (src/sql), voted on.
      async function vote(
        req: FastifyRequest,
        sig: AbortSignal,
        inp: typeof input,
        o: { n: number; maxTokens: number; temperature: number; seed?: number; adapter: string },
      ): Promise<Record<string, unknown>> {
        const start = performance.now();
        const cands = await ctx.gate.run(() => ctx.generator.candidates(inp, { ...o, signal: sig }), sig);
        const result = await voteByExecution(cands, async (sql) => {
          try {
            const r = await database!.executor!.execute(sql, ctx.executeLimits);
            return { ok: true, rows: r.rows };
          } catch (err) {
            return {
              ok: false,
              error: err instanceof SqlRefusedError ? `refused: ${err.message}` : (err as Error).message,
            };
          }
        });
        const win = cands[result.winner]!;
        const promptTokens = win.promptTokens;
        const completionTokens = cands.reduce((t, c) => t + c.completionTokens, 0);
        req.log.info(
          {
            n: o.n,
            groups: result.groups,
            winner: result.winner,
            allFailed: result.allFailed,
            genMs: Math.round(performance.now() - start),
          },
          "text2sql voted",
        );
        const response: Record<string, unknown> = {
          sql: win.sql,
          dialect,
          adapter: win.adapter,
          reply: win.reply,
          finish_reason: win.finishReason,
          usage: {
            prompt_tokens: promptTokens,
            completion_tokens: completionTokens,
            total_tokens: promptTokens + completionTokens,
          },
          ms: Math.round((performance.now() - start) * 10) / 10,
          vote: {
            n: o.n,
            temperature: o.temperature,
            groups: result.groups,
            winner: result.winner,
            all_failed: result.allFailed,
          },
        };
        if (body.include_candidates) {
          response.candidates = result.candidates.map((c) => ({
            sql: c.sql,
            ...(c.logprob !== undefined ? { logprob: Math.round(c.logprob * 1e4) / 1e4 } : {}),
            votes: c.votes,
            status: c.status,
            ...(c.error ? { error: c.error } : {}),
          }));
        }
        if (body.include_prompt) response.prompt = win.prompt;
        if (body.execute) response.execution = await execute(win.sql, dialect, req);
        return response;
      }
    },
  );
}
