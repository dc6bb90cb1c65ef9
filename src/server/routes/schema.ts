// GET /schema and POST /schema/refresh: the configured database's M-Schema (--enable-mschema), cached.
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";
import { schemaGetSchema, schemaRefreshSchema } from "../schemas.js";

export async function schemaRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get("/schema", { schema: schemaGetSchema }, async () => {
    const s = await ctx.schema.get();
    return { dialect: ctx.database!.dialect, schema: s.text, loaded_at: s.loadedAt.toISOString() };
  });

  app.post("/schema/refresh", { schema: schemaRefreshSchema }, async () => {
    const s = await ctx.schema.get(true);
    return { dialect: ctx.database!.dialect, chars: s.text.length, loaded_at: s.loadedAt.toISOString() };
  });
}
