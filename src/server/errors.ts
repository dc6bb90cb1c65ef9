// Error mapping: every error a route throws becomes one clear reply, in the route's shape ({statusCode, error,
// message} on /text2sql and the schema routes, OpenAI's {error: {message, type, param, code}} under /v1/). Refused SQL
// is 422 with the generated SQL and the reason; nothing answers with a raw driver or JavaScript error.
import type { FastifyError, FastifyInstance } from "fastify";
import { PromptTooLongError, UnknownAdapterError } from "../text2sql/index.js";
import { QueueFullError } from "./gate.js";

/** An error with an HTTP status the error handler answers with. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly param?: string,
    /** Extra fields of the reply body (e.g. the generated SQL of a refused execution). */
    readonly body?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Entity",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

function openAiErrorType(status: number): string {
  if (status === 404) return "not_found_error";
  if (status === 503) return "server_busy";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

export const isOpenAi = (url: string) => url.startsWith("/v1/");

/** Sets the error and not-found handlers of the root instance (routes registered after it inherit them). */
export function registerErrorMapping(app: FastifyInstance): void {
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
    if (status >= 500 && status !== 503) {
      request.log.error({ err: error }, "request failed");
      message = `internal error (request ${request.id}); see the server log`;
    } else request.log.info({ statusCode: status, reason: message.split("\n")[0] }, "request refused");
    if (isOpenAi(request.url)) {
      return reply.status(status).send({
        error: {
          message,
          type: openAiErrorType(status),
          param: (error as HttpError).param ?? null,
          code:
            error instanceof PromptTooLongError ? "context_length_exceeded" : ((error as FastifyError).code ?? null),
        },
      });
    }
    return reply
      .status(status)
      .send({ statusCode: status, error: STATUS_TEXT[status] ?? "Error", message, ...(error as HttpError).body });
  });

  app.setNotFoundHandler((request, reply) => {
    const message = `no route ${request.method} ${request.url}`;
    if (isOpenAi(request.url))
      return reply.status(404).send({ error: { message, type: "not_found_error", param: null, code: null } });
    return reply.status(404).send({ statusCode: 404, error: "Not Found", message });
  });
}
