// OpenAI-compatible routes over the same model: GET /v1/models, POST /v1/chat/completions (also streamed as
// server-sent events). `model` picks the adapter: "<model>", "<model>:<adapter>", "<model>:base" or "<adapter>".
import type { FastifyInstance } from "fastify";
import { BASE_ADAPTER, resolveAdapter, type ChatModel, type ChatTurn } from "../../text2sql/index.js";
import { clientGone, type ServerContext } from "../context.js";
import { HttpError } from "../errors.js";
import { chatCompletionsSchema, modelsSchema } from "../schemas.js";

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

function messageText(m: OpenAiMessage, index: number): string {
  if (m.content === null) return "";
  if (typeof m.content === "string") return m.content;
  return m.content
    .map((part, j) => {
      if (part.type !== "text" || typeof part.text !== "string") {
        throw new HttpError(
          400,
          `messages/${index}/content/${j}: only text parts are supported (got type '${part.type}')`,
          `messages`,
        );
      }
      return part.text;
    })
    .join("");
}

/** Model ids /v1/models lists: the model, and with adapters also "<model>:base" and "<model>:<adapter>". */
export function modelIds(model: ChatModel): string[] {
  if (model.adapters.length === 0) return [model.id];
  return [model.id, `${model.id}:${BASE_ADAPTER}`, ...model.adapters.map((a) => `${model.id}:${a}`)];
}

export async function openAiRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { model, gate } = ctx;

  function modelAdapter(name: string | undefined): string {
    // "<model>", "<model>:<adapter>", "<adapter>" or absent.
    if (name === undefined || name === "" || name === model.id) return resolveAdapter(undefined, model.adapters);
    const prefix = `${model.id}:`;
    const adapter = name.startsWith(prefix) ? name.slice(prefix.length) : name;
    if (adapter === BASE_ADAPTER || model.adapters.includes(adapter)) return adapter;
    throw new HttpError(404, `model '${name}' not found (served: ${modelIds(model).join(", ")})`, "model");
  }

  app.get("/v1/models", { schema: modelsSchema }, async () => ({
    object: "list",
    data: modelIds(model).map((id) => ({
      id,
      object: "model",
      created: Math.floor(ctx.started / 1000),
      owned_by: "sqlfocus",
    })),
  }));

  app.post<{ Body: ChatCompletionsBody }>(
    "/v1/chat/completions",
    { schema: chatCompletionsSchema(ctx.maxTokensLimit) },
    async (request, reply) => {
      const body = request.body;
      const adapter = modelAdapter(body.model ?? undefined);
      const messages: ChatTurn[] = body.messages.map((m, i) => ({
        role: m.role === "developer" ? "system" : m.role,
        content: messageText(m, i),
      }));
      if (messages[messages.length - 1]!.role === "assistant") {
        throw new HttpError(
          400,
          "body/messages: the last message must be from the user or system (the model answers it)",
          "messages",
        );
      }
      const stop = body.stop == null ? undefined : typeof body.stop === "string" ? [body.stop] : body.stop;
      const id = `chatcmpl-${request.id}-${Date.now().toString(36)}`;
      const created = Math.floor(Date.now() / 1000);
      const modelName =
        adapter === resolveAdapter(undefined, model.adapters) && !body.model?.includes(":")
          ? model.id
          : `${model.id}:${adapter}`;
      const signal = clientGone(request, reply);
      const common = {
        messages,
        maxTokens: body.max_completion_tokens ?? body.max_tokens ?? ctx.defaultMaxTokens,
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
        request.log.info(
          {
            adapter,
            promptTokens: out.promptTokens,
            completionTokens: out.completionTokens,
            genMs: Math.round(out.ms),
          },
          "chat completion generated",
        );
        return {
          id,
          object: "chat.completion",
          created,
          model: modelName,
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: out.text },
              logprobs: null,
              finish_reason: out.finishReason === "length" ? "length" : "stop",
            },
          ],
          usage: {
            prompt_tokens: out.promptTokens,
            completion_tokens: out.completionTokens,
            total_tokens: out.promptTokens + out.completionTokens,
          },
        };
      }

      // Streaming: admission first (a full queue is still a plain 503), then server-sent events.
      return gate.run(async () => {
        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, {
          "content-type": "text/event-stream",
          "cache-control": "no-cache",
          connection: ctx.closing() ? "close" : "keep-alive",
        });
        const send = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
          raw.write(
            `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: modelName, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`,
          );
        send({ role: "assistant", content: "" }, null);
        try {
          const out = await model.complete({ ...common, onText: (text) => send({ content: text }, null) });
          send({}, out.finishReason === "length" ? "length" : "stop", {
            usage: {
              prompt_tokens: out.promptTokens,
              completion_tokens: out.completionTokens,
              total_tokens: out.promptTokens + out.completionTokens,
            },
          });
          request.log.info(
            {
              adapter,
              promptTokens: out.promptTokens,
              completionTokens: out.completionTokens,
              genMs: Math.round(out.ms),
              stream: true,
            },
            "chat completion streamed",
          );
        } catch (err) {
          request.log.error({ err }, "streamed generation failed");
          raw.write(
            `data: ${JSON.stringify({ error: { message: (err as Error).message, type: "server_error" } })}\n\n`,
          );
        }
        raw.end("data: [DONE]\n\n");
      }, signal);
    },
  );
}
