// Graceful close: app.close() (what SIGINT/SIGTERM call) first drains. The server keeps accepting connections,
// answers every NEW request 503 (Retry-After, Connection: close; /health too, so a load balancer stops sending), and
// waits until the requests in flight have finished (at most drainTimeoutMs); then it stops listening, and the model
// and database are released by the onClose hooks.
import type { FastifyInstance } from "fastify";
import { isOpenAi } from "./errors.js";

export interface Lifecycle {
  /** True from the moment close() is called. */
  closing(): boolean;
  /** Requests being answered now. */
  inFlight(): number;
}

const SHUTTING_DOWN = "server is shutting down; retry on another instance or later";

export function registerLifecycle(app: FastifyInstance, drainTimeoutMs: number): Lifecycle {
  let closing = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  app.addHook("onRequest", async (request, reply) => {
    if (closing) {
      reply.header("retry-after", "1").header("connection", "close");
      const body = isOpenAi(request.url)
        ? { error: { message: SHUTTING_DOWN, type: "server_busy", param: null, code: "shutting_down" } }
        : { statusCode: 503, error: "Service Unavailable", message: SHUTTING_DOWN };
      return reply.status(503).send(body);
    }
    inFlight++;
    let counted = true;
    reply.raw.once("close", () => {
      if (!counted) return;
      counted = false;
      if (--inFlight === 0) drained?.();
    });
  });

  // Responses sent while closing tell their clients to close the connection, so that no keep-alive connection
  // holds the server open.
  app.addHook("onSend", async (_request, reply, payload) => {
    if (closing) reply.header("connection", "close");
    return payload;
  });

  app.addHook("preClose", async () => {
    closing = true;
    if (inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, drainTimeoutMs);
      timer.unref();
      drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  });

  return { closing: () => closing, inFlight: () => inFlight };
}
