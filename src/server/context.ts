// What the route plugins share: the model, the admission gate, the configured database and its cached schema, and
// the limits. createServer builds one and hands it to each plugin as its options.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ChatModel, SqlDialect, SqlGenerator } from "../text2sql/index.js";
import type { ExecuteLimits, ReadOnlyDatabase } from "../sql/index.js";
import type { RequestGate } from "./gate.js";
import { HttpError } from "./errors.js";

/** A database configured for --enable-mschema: its schema text (M-Schema) and optional read-only execution. */
export interface ConfiguredDatabase {
  dialect: SqlDialect;
  /** Reads the database's schema as M-Schema text (called once, then on POST /schema/refresh). */
  loadSchema(): Promise<string>;
  /** Question-aware M-Schema (linked tables, matched values) over what loadSchema last read; absent: the whole text. */
  schemaForQuestion?(question: string): Promise<string>;
  /** Runs generated SQL read-only for `"execute": true` (src/sql); absent: execution is refused. */
  executor?: ReadOnlyDatabase;
  /** Shown in /health (never a password). */
  description?: string;
}

export interface ServerContext {
  model: ChatModel;
  gate: RequestGate;
  generator: SqlGenerator;
  database?: ConfiguredDatabase;
  schema: SchemaCache;
  /** Turns a request's db_schema into the prompt's schema text (DDL → M-Schema); its errors answer 400. */
  schemaText: (dbSchema: string, dialect: SqlDialect, question: string) => string | Promise<string>;
  maxTokensLimit: number;
  defaultMaxTokens: number;
  maxSchemaChars: number;
  executeLimits?: ExecuteLimits;
  started: number;
  /** True once the server is closing (responses then ask clients to close their connection). */
  closing(): boolean;
}

/** The configured database's schema, read once and on refresh; concurrent readers share one read. */
export class SchemaCache {
  private cache?: { text: string; loadedAt: Date };
  private loading?: Promise<{ text: string; loadedAt: Date }>;

  constructor(private readonly database: ConfiguredDatabase | undefined) {}

  get loaded(): boolean {
    return this.cache !== undefined;
  }

  get(refresh = false): Promise<{ text: string; loadedAt: Date }> {
    const database = this.database;
    if (!database)
      return Promise.reject(new HttpError(404, "no database configured (start the server with --enable-mschema)"));
    if (this.cache && !refresh) return Promise.resolve(this.cache);
    this.loading ??= database
      .loadSchema()
      .then(
        (text) => (this.cache = { text, loadedAt: new Date() }),
        (err: Error) => {
          throw new HttpError(503, `cannot read the configured database's schema: ${err.message}`);
        },
      )
      .finally(() => (this.loading = undefined));
    return this.loading;
  }
}

/** Signal aborted when the client goes away before the reply is sent. */
export function clientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) ac.abort(new Error(`client closed the connection (request ${request.id})`));
  });
  return ac.signal;
}
