// GET /health: liveness and load (model, adapters, sequences in use, queue, database). Answers from memory only,
// so it stays fast while other requests parse schemas or generate.
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";
import { healthSchema } from "../schemas.js";

export async function healthRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { model, gate, database } = ctx;
  app.get("/health", { schema: healthSchema }, async () => ({
    status: "ok",
    model: model.id,
    adapters: model.adapters,
    parallelism: model.parallelism,
    sequences: model.sequences(),
    queue: { running: gate.running, waiting: gate.queued, max: gate.maxQueue },
    database: database
      ? { dialect: database.dialect, description: database.description ?? null, schema_loaded: ctx.schema.loaded }
      : null,
    uptime_s: Math.round((Date.now() - ctx.started) / 1000),
  }));
}
