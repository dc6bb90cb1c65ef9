// `sqlfocus serve` behind the CLI: resolves the model (a GGUF, or an HF folder converted once and cached),
// GGUF LoRA adapters (or PEFT adapter folders, converted once and cached), the configured database for
// --enable-mschema, then starts the server and closes it gracefully on SIGINT/SIGTERM.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { loraToGGUF, toGGUF } from "../gguf/index.js";
import {
  linkSchema,
  mschema,
  qwenTokenCounter,
  readDatabaseConfig,
  type DatabaseConfig,
  type DatabaseSchema,
  type ValueIndex,
} from "../mschema/index.js";
import { LlamaChatModel, type GgufLoraAdapter, type SqlDialect } from "../text2sql/index.js";
import {
  connectionFromConfig,
  openReadOnlyDatabase,
  privilegedUserMessage,
  type ReadOnlyOptions,
} from "../sql/index.js";
import { createServer, type ConfiguredDatabase, type ServerOptions } from "./app.js";
import { checkReadOnlySqlOffThread, schemaForPromptOffThread } from "./offload.js";

export interface ServeOptions {
  /** GGUF file or HF Qwen2 folder (converted to an F16 GGUF under cacheDir once). */
  model: string;
  /** LoRA adapters: GGUF files or PEFT adapter folders, optionally "name=path". */
  lora?: string[];
  host?: string;
  port?: number;
  /** Schema (and execute) from the database in `config`. */
  enableMschema?: boolean;
  /** Database config (the Python project's config.ini). Default config/config.ini. */
  config?: string;
  /** How `execute` runs: --allow-privileged-user, connect timeout … (src/sql's ReadOnlyOptions). */
  execute?: ReadOnlyOptions;
  /** Parallel sequences. Default 4. */
  sequences?: number;
  /** Tokens per sequence. Default min(4096, model's training context). */
  contextSize?: number;
  threads?: number;
  gpu?: false | "auto" | "cuda" | "vulkan" | "metal";
  /** Where converted GGUFs are cached. Default output/gguf-cache. */
  cacheDir?: string;
  /**
   * Question-aware prompts: the configured database's (and DDL db_schema's) M-Schema linked to each question under
   * `budget` schema tokens (0: all tables), with the cell values the question mentions (configured database only).
   */
  link?: { budget: number; values?: boolean; valueCacheDir?: string };
  /** Log line for progress (model conversion, loading). Default console.error. */
  log?: (line: string) => void;
  server?: Omit<ServerOptions, "model" | "database" | "schemaText">;
}

/** A key that changes when any file of the folder changes (name, size, mtime). */
function folderKey(dir: string): string {
  const h = createHash("sha256");
  h.update(resolve(dir));
  for (const name of readdirSync(dir).sort()) {
    const s = statSync(join(dir, name));
    if (s.isFile()) h.update(`${name}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return h.digest("hex").slice(0, 12);
}

function safeName(dir: string): string {
  return basename(resolve(dir)).replace(/[^A-Za-z0-9._-]+/g, "_") || "model";
}

/** The GGUF for a model argument: the file itself, or the cached conversion of an HF folder. */
export async function resolveModelGguf(model: string, cacheDir: string, log: (line: string) => void): Promise<string> {
  if (!existsSync(model)) throw new Error(`--model ${model}: no such file or folder`);
  if (statSync(model).isFile()) {
    if (!model.toLowerCase().endsWith(".gguf"))
      throw new Error(`--model ${model}: expected a .gguf file or an HF model folder`);
    return model;
  }
  if (!existsSync(join(model, "config.json")))
    throw new Error(`--model ${model}: folder has no config.json (not an HF model folder)`);
  const out = join(cacheDir, `${safeName(model)}-${folderKey(model)}.f16.gguf`);
  if (existsSync(out)) {
    log(`using cached GGUF ${out}`);
    return out;
  }
  mkdirSync(cacheDir, { recursive: true });
  log(`converting ${model} to GGUF (F16) → ${out}`);
  await toGGUF({ model, out, type: "F16" });
  return out;
}

/** A --lora argument ("[name=]path", a GGUF file or a PEFT adapter folder) as a GGUF adapter. */
export async function resolveLora(
  arg: string,
  base: string,
  cacheDir: string,
  log: (line: string) => void,
): Promise<GgufLoraAdapter> {
  const eq = arg.indexOf("=");
  const name = eq > 0 && !existsSync(arg) ? arg.slice(0, eq) : undefined;
  const path = name !== undefined ? arg.slice(eq + 1) : arg;
  if (!existsSync(path)) throw new Error(`--lora ${arg}: no such file or folder`);
  if (statSync(path).isFile()) return { name, path };
  if (!existsSync(join(path, "adapter_config.json")))
    throw new Error(`--lora ${arg}: folder has no adapter_config.json (not a PEFT adapter)`);
  const out = join(cacheDir, `${safeName(path)}-${folderKey(path)}.lora.gguf`);
  if (!existsSync(out)) {
    mkdirSync(cacheDir, { recursive: true });
    log(`converting adapter ${path} to GGUF → ${out}`);
    const hfBase = existsSync(join(base, "config.json")) ? base : undefined;
    await loraToGGUF({ adapter: path, out, base: hfBase });
  }
  return { name: name ?? safeName(path), path: out };
}

const DIALECT: Record<DatabaseConfig["type"], SqlDialect> = {
  sqlite: "SQLite",
  mysql: "MySQL",
  postgresql: "PostgreSQL",
};

/**
 * The database of a config.ini as the server's ConfiguredDatabase (schema via src/mschema, read-only executor from
 * src/sql whose SQL check runs on a worker thread).
 */
export function configuredDatabase(
  configPath: string,
  options: ReadOnlyOptions & { link?: ServeOptions["link"] } = {},
): ConfiguredDatabase {
  const config = readDatabaseConfig(configPath);
  const dialect = DIALECT[config.type];
  const connection = connectionFromConfig(config);
  const { link, ...executeOptions } = options;
  const executor = openReadOnlyDatabase(connection, { check: checkReadOnlySqlOffThread, ...executeOptions });
  if (link && !(Number.isInteger(link.budget) && link.budget >= 0))
    throw new Error(`link budget must be a whole number of tokens >= 0, got ${link.budget}`);
  // What loadSchema last read: the schema model and, for linking, the cell values (read with it, once per load).
  let loaded: { schema: DatabaseSchema; values?: ValueIndex } | undefined;
  let counter: Promise<(text: string) => number> | undefined;
  const loadSchema = async () => {
    const values =
      link && link.values !== false
        ? { cacheDir: config.type === "sqlite" ? link.valueCacheDir : undefined }
        : undefined;
    const r = await mschema(config, { values });
    loaded = { schema: r.schema, values: r.values };
    return r.text;
  };
  return {
    dialect,
    description: executor.description,
    executor,
    loadSchema,
    ...(link
      ? {
          schemaForQuestion: async (question: string) => {
            if (!loaded) await loadSchema();
            const countTokens = link.budget > 0 ? await (counter ??= qwenTokenCounter()) : undefined;
            return linkSchema(loaded!.schema, question, { budget: link.budget, countTokens, values: loaded!.values })
              .text;
          },
        }
      : {}),
  };
}

/**
 * The server's db_schema hook: DDL becomes M-Schema (linked to the question with a link budget); M-Schema passes.
 * The parsing runs on a worker thread (offload.ts), so a megabyte of DDL does not stall other requests.
 */
export function promptSchemaText(
  link?: ServeOptions["link"],
): (text: string, dialect: SqlDialect, question: string) => Promise<string> {
  return (text, dialect, question) =>
    schemaForPromptOffThread(text, dialect, link ? { question, budget: link.budget } : undefined);
}

/**
 * Reads the configured user's rights at start and says what `execute` will do: run (read-only user), run anyway
 * (privileged user, --allow-privileged-user) or refuse (privileged user: the message shows the SQL for a read-only
 * user). A database that cannot be reached is checked again at the first execute.
 */
async function reportPrivileges(database: ConfiguredDatabase, log: (line: string) => void): Promise<void> {
  const executor = database.executor!;
  try {
    const p = await executor.checkPrivileges();
    if (!p.privileged) log(`execute: ${executor.description} as ${p.user}, a read-only user`);
    else if (p.allowed)
      log(
        `execute: WARNING: ${p.user} has more than read rights (${p.privileges.slice(0, 4).join("; ")}); running anyway (--allow-privileged-user)`,
      );
    else log(`execute: ${privilegedUserMessage(executor.description, p)}`);
  } catch (err) {
    log(
      `execute: cannot check the rights of ${executor.description} yet (${(err as Error).message}); checked again at the first execute`,
    );
  }
}

/** Loads the model and starts listening. Resolves when the server is up. */
export async function startServer(
  options: ServeOptions,
): Promise<{ app: FastifyInstance; url: string; model: LlamaChatModel }> {
  const log = options.log ?? ((line: string) => console.error(line));
  const cacheDir = options.cacheDir ?? join("output", "gguf-cache");
  const modelPath = await resolveModelGguf(options.model, cacheDir, log);
  const lora: GgufLoraAdapter[] = [];
  for (const arg of options.lora ?? []) lora.push(await resolveLora(arg, options.model, cacheDir, log));
  const database = options.enableMschema
    ? configuredDatabase(options.config ?? join("config", "config.ini"), { ...options.execute, link: options.link })
    : undefined;
  if (database?.executor) await reportPrivileges(database, log);
  log(`loading ${modelPath}${lora.length ? ` with adapters ${lora.map((l) => l.name ?? l.path).join(", ")}` : ""}`);
  const model = await LlamaChatModel.load({
    id: basename(resolve(options.model)).replace(/\.gguf$/i, ""),
    modelPath,
    lora,
    sequences: options.sequences,
    contextSize: options.contextSize,
    threads: options.threads,
    gpu: options.gpu,
  });
  let app: FastifyInstance;
  try {
    app = await createServer({
      ...options.server,
      model,
      database,
      schemaText: promptSchemaText(options.link),
    });
    if (database) await app.ready();
    await app.listen({ host: options.host ?? "127.0.0.1", port: options.port ?? 4060 });
  } catch (err) {
    await model.dispose();
    await database?.executor?.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const url = `http://${options.host ?? "127.0.0.1"}:${port}`;
  return { app, url, model };
}

/**
 * Closes the server on SIGINT/SIGTERM: new requests get 503 while those in flight finish (app.close() drains, see
 * lifecycle.ts), then it stops listening and frees the model; a second signal exits at once.
 */
export function closeOnSignals(app: FastifyInstance, log: (line: string) => void = (l) => console.error(l)): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      log(`${signal} again: exiting now`);
      process.exit(1);
    }
    closing = true;
    log(`${signal}: closing (requests in flight finish first)`);
    app.close().then(
      () => process.exit(0),
      (err: Error) => {
        log(`error while closing: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
