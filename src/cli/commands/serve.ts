// `sqlfocus serve`: the text2sql server (Fastify, port 4060) on a GGUF model or an HF folder.
import type { Argv, CommandModule } from "yargs";
import { closeOnSignals, startServer } from "../../server/index.js";
import { linkFromArgs, withLinkOptions, type LinkArgs } from "./link-options.js";

interface ServeArgs extends LinkArgs {
  model: string;
  lora?: string[];
  host: string;
  port: number;
  "enable-mschema": boolean;
  config: string;
  sequences: number;
  "context-size"?: number;
  "max-queue": number;
  "max-tokens": number;
  threads?: number;
  gpu: string;
  "body-limit": number;
  "log-level": string;
  "row-limit": number;
  "statement-timeout": number;
  "max-result-bytes": number;
  "max-schema-chars": number;
  "allow-privileged-user": boolean;
  "cache-dir": string;
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: "serve",
  describe: "Serve text2sql over HTTP (POST /text2sql, OpenAI-compatible /v1/chat/completions, docs at /docs)",
  builder: (y: Argv) =>
    withLinkOptions(y)
      .option("model", {
        type: "string",
        demandOption: true,
        describe: "GGUF model file, or an HF Qwen2 folder (converted to GGUF once, cached in output/gguf-cache)",
      })
      .option("lora", {
        type: "string",
        array: true,
        describe: "LoRA adapter(s): GGUF file or PEFT folder, optionally name=path; requests pick one by name",
      })
      .option("cache-dir", {
        type: "string",
        default: "output/gguf-cache",
        describe: "where HF folders and PEFT adapters converted to GGUF are kept",
      })
      .option("host", { type: "string", default: "127.0.0.1" })
      .option("port", { type: "number", default: 4060 })
      .option("enable-mschema", {
        type: "boolean",
        default: false,
        describe: "schema from the configured database (body is just {question}); enables execute",
      })
      .option("config", {
        type: "string",
        default: "config/config.ini",
        describe: "database config ([database] type host port user password dbname | path)",
      })
      .option("sequences", {
        type: "number",
        default: 4,
        describe: "requests generated in parallel (sequences of one context)",
      })
      .option("context-size", { type: "number", describe: "tokens per sequence (default min(4096, the model's))" })
      .option("max-queue", {
        type: "number",
        default: 32,
        describe: "requests that may wait for a sequence; more get 503",
      })
      .option("max-tokens", { type: "number", default: 512, describe: "default max tokens of a reply" })
      .option("threads", {
        type: "number",
        describe: "CPU threads for generation (default: node-llama-cpp's choice, at most the CPUs)",
      })
      .option("gpu", {
        type: "string",
        choices: ["false", "auto", "cuda", "vulkan", "metal"],
        default: "false",
        describe: "GPU backend (default CPU)",
      })
      .option("body-limit", {
        type: "number",
        default: 1024 * 1024,
        describe: "largest request body in bytes (413 above)",
      })
      .option("log-level", {
        type: "string",
        choices: ["fatal", "error", "warn", "info", "debug", "trace"],
        default: "info",
        describe: "debug logs prompts and replies",
      })
      .option("row-limit", { type: "number", default: 1000, describe: "rows returned at most by execute" })
      .option("statement-timeout", { type: "number", default: 10, describe: "seconds an executed query may run" })
      .option("max-result-bytes", {
        type: "number",
        default: 16 * 1024 * 1024,
        describe: "bytes of rows execute returns at most (more: truncated)",
      })
      .option("max-schema-chars", {
        type: "number",
        default: 1_000_000,
        describe: "longest db_schema accepted, in characters (400 above)",
      })
      .option("allow-privileged-user", {
        type: "boolean",
        default: false,
        describe:
          "execute even when the configured user may write or reach the server (superuser, FILE, …); the function denylist still applies",
      })
      .check((a) => {
        for (const k of [
          "port",
          "sequences",
          "max-queue",
          "max-tokens",
          "body-limit",
          "row-limit",
          "max-result-bytes",
          "max-schema-chars",
        ] as const) {
          const v = a[k] as number;
          if (!Number.isInteger(v) || v < (k === "port" || k === "max-queue" ? 0 : 1))
            throw new Error(
              `--${k} must be a ${k === "port" || k === "max-queue" ? "non-negative" : "positive"} integer`,
            );
        }
        if (!(a["statement-timeout"] > 0)) throw new Error("--statement-timeout must be a positive number of seconds");
        if (a.port > 65535) throw new Error(`--port must be at most 65535, got ${a.port}`);
        for (const k of ["context-size", "threads"] as const) {
          const v = a[k];
          if (v !== undefined && (!Number.isInteger(v) || v < 1))
            throw new Error(`--${k} must be a positive integer, got ${v}`);
        }
        return true;
      }) as unknown as Argv<ServeArgs>,
  handler: async (args) => {
    const { app, url } = await startServer({
      model: args.model,
      lora: args.lora,
      host: args.host,
      port: args.port,
      enableMschema: args["enable-mschema"],
      config: args.config,
      execute: { allowPrivilegedUser: args["allow-privileged-user"] },
      sequences: args.sequences,
      contextSize: args["context-size"],
      threads: args.threads,
      cacheDir: args["cache-dir"],
      gpu: args.gpu === "false" ? false : (args.gpu as "auto"),
      link: linkFromArgs(args),
      server: {
        maxQueue: args["max-queue"],
        defaultMaxTokens: args["max-tokens"],
        bodyLimit: args["body-limit"],
        maxSchemaChars: args["max-schema-chars"],
        logger: { level: args["log-level"] },
        executeLimits: {
          rowLimit: args["row-limit"],
          timeoutMs: args["statement-timeout"] * 1000,
          maxBytes: args["max-result-bytes"],
        },
      },
    });
    closeOnSignals(app);
    console.error(`sqlfocus text2sql server on ${url} (docs: ${url}/docs)`);
  },
};
