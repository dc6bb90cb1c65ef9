// `sqlfocus eval`: Spider execution accuracy for a model (SQL generated question by question) or for a
// predictions file; resumable; per-question results JSONL plus a summary (overall EX, EX per database,
// errors and timeouts).
import { existsSync, statSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import type { Argv, CommandModule } from "yargs";
import type cliProgress from "cli-progress";
import { progressBar } from "../shared.js";
import {
  evaluateSpider,
  generatorPredictor,
  parseSpiderSplit,
  prepareResultsPath,
  readPredictions,
  resolveSpiderDir,
  birdBenchmark,
  describeLink,
  resolveBirdDir,
  spiderBenchmark,
  spiderSchemaText,
  writeEvalSummary,
  type EvalSummary,
  type Predictor,
} from "../../eval/index.js";
import { linkFromArgs, withLinkOptions, type LinkArgs } from "./link-options.js";

function defaultResultsPath(source: string, split: string, kind: string): string {
  const name = basename(source, extname(source)).replace(/[^A-Za-z0-9._-]+/g, "_") || "model";
  return join("output", "eval", `${name}-${kind}-${split}.jsonl`);
}

function pct(x: number): string {
  return (100 * x).toFixed(2) + "%";
}

export function formatSummary(s: EvalSummary): string {
  const out: string[] = [];
  out.push(
    `${s.benchmark === "bird" ? "BIRD" : "Spider"} ${s.split}: execution accuracy ${pct(s.ex)} (${s.matched}/${s.scored} questions scored)`,
  );
  if (s.voted)
    out.push(
      `greedy EX ${pct(s.voted.greedyEx)} | voted EX ${pct(s.voted.ex)} (${s.voted.matched}/${s.voted.scored} with candidates)`,
    );
  if (s.skippedMissingDb > 0)
    out.push(`skipped ${s.skippedMissingDb} questions whose database is missing: ${s.missingDbs.join(", ")}`);
  const e = s.errors;
  out.push(
    `prediction errors ${e.pred_error}, prediction timeouts ${e.pred_timeout}, gold errors ${e.gold_error}, gold timeouts ${e.gold_timeout}` +
      (e.predict_error ? `, generation failures ${e.predict_error}` : ""),
  );
  if (s.perDifficulty) {
    const order = ["simple", "moderate", "challenging"];
    const rank = (d: string) => (order.includes(d) ? order.indexOf(d) : order.length);
    const ds = Object.entries(s.perDifficulty).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
    out.push("", `${"difficulty".padEnd(12)}  ${"EX".padStart(8)}  matched/scored`);
    for (const [d, x] of ds) out.push(`${d.padEnd(12)}  ${pct(x.ex).padStart(8)}  ${x.matched}/${x.scored}`);
  }
  const dbs = Object.entries(s.perDb).sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(8, ...dbs.map(([db]) => db.length));
  out.push("", `${"database".padEnd(width)}  ${"EX".padStart(8)}  matched/scored`);
  for (const [db, d] of dbs) out.push(`${db.padEnd(width)}  ${pct(d.ex).padStart(8)}  ${d.matched}/${d.scored}`);
  return out.join("\n");
}

interface EvalArgs extends LinkArgs {
  model?: string;
  predictions?: string;
  spider?: string;
  bird?: string;
  split: string;
  limit?: number;
  out?: string;
  fresh: boolean;
  timeout: number;
  "keep-distinct": boolean;
  "plug-value": boolean;
  "plug-limit": number;
  strict: boolean;
  n: number;
  temperature: number;
  jobs: number;
  "schema-style": string;
  lora?: string;
  threads?: number;
  gpu: boolean;
  "max-tokens": number;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: "eval",
  describe: "Spider execution accuracy of a model or of a predictions file (resumable)",
  builder: (y: Argv) =>
    withLinkOptions(y)
      .option("model", {
        type: "string",
        describe: "GGUF model that generates the SQL (greedy; convert an HF folder first with 'sqlfocus convert')",
      })
      .option("lora", { type: "string", describe: "GGUF LoRA adapter applied to --model" })
      .option("threads", {
        type: "number",
        describe: "CPU threads for generation (default node-llama-cpp's choice, at most the CPUs)",
      })
      .option("gpu", { type: "boolean", default: false, describe: "generate on a GPU when node-llama-cpp finds one" })
      .option("max-tokens", { type: "number", default: 512, describe: "longest reply generated per question" })
      .option("predictions", {
        type: "string",
        describe: "score SQL from a file: one per line in question order, or JSONL",
      })
      .option("spider", {
        type: "string",
        describe: "Spider 1.0 folder (default $SQLFOCUS_SPIDER or ../shared/spider)",
      })
      .option("bird", {
        type: "string",
        describe:
          "evaluate on BIRD instead (a folder with dev.json, dev_databases/; default $SQLFOCUS_BIRD): evidence in the prompt, BIRD's set comparison, EX by difficulty",
      })
      .conflicts("bird", "spider")
      .option("split", { type: "string", default: "dev", describe: "dev or train" })
      .option("limit", { type: "number", describe: "only the first N questions of the split" })
      .option("out", {
        type: "string",
        describe: "results JSONL (default output/eval/<model>-<spider|bird>-<split>.jsonl)",
      })
      .option("fresh", {
        type: "boolean",
        default: false,
        describe: "start the results file over instead of resuming it",
      })
      .option("timeout", { type: "number", default: 30, describe: "seconds allowed per query" })
      .option("keep-distinct", {
        type: "boolean",
        default: false,
        alias: "keep_distinct",
        describe: "keep DISTINCT when scoring (the Spider evaluator drops it; its --keep_distinct)",
      })
      .option("plug-value", {
        type: "boolean",
        default: false,
        alias: "plug_value",
        describe:
          "also try the gold query's values in the prediction's value slots (the evaluator's --plug_value: for models that do not predict values)",
      })
      .option("plug-limit", {
        type: "number",
        default: 1000,
        describe: "--plug-value: most value combinations tried per question",
      })
      .option("strict", {
        type: "boolean",
        default: false,
        describe:
          "stricter scoring than test-suite-sql-eval: the whole prediction runs (text after its first statement is an error), only ' value ' in Spider-format files becomes ' 1 '",
      })
      .option("n", {
        type: "number",
        default: 1,
        describe:
          "with --model: also sample N candidates, execute them read-only and vote on their results (voted EX beside greedy EX)",
      })
      .option("temperature", { type: "number", default: 0.7, describe: "--n: sampling temperature of the candidates" })
      .option("jobs", {
        type: "number",
        default: 1,
        describe: "questions in flight at once (with --model: parallel sequences of one context)",
      })
      .option("schema-style", {
        type: "string",
        choices: ["mschema", "ddl"],
        default: "mschema",
        describe: "schema text in the model's prompt (as the model was trained: see prepare)",
      })
      .check((a) => {
        if (!!a.model === !!a.predictions) throw new Error("give exactly one of --model or --predictions");
        if (a.predictions && a["link-budget"] !== undefined)
          throw new Error("--link-budget shapes the model's prompt: use it with --model, not --predictions");
        if (a.limit !== undefined && (!Number.isInteger(a.limit) || a.limit < 1))
          throw new Error("--limit must be a positive integer");
        if (!(a.timeout > 0)) throw new Error("--timeout must be a positive number of seconds");
        if (!Number.isInteger(a.jobs) || a.jobs < 1) throw new Error("--jobs must be a positive integer");
        if (!Number.isInteger(a["plug-limit"]) || a["plug-limit"] < 1)
          throw new Error("--plug-limit must be a positive integer");
        if (!Number.isInteger(a.n) || a.n < 1 || a.n > 64)
          throw new Error(`--n must be a whole number from 1 to 64, got ${a.n}`);
        if (!(a.temperature > 0 && a.temperature <= 2))
          throw new Error(`--temperature must be above 0 and at most 2, got ${a.temperature}`);
        if (a.n > 1 && a.predictions) throw new Error("--n samples candidates from a model: use it with --model");
        return true;
      }) as unknown as Argv<EvalArgs>,
  handler: async (args) => {
    const split = parseSpiderSplit(args.split);
    const bench =
      args.bird !== undefined
        ? birdBenchmark(resolveBirdDir(args.bird))
        : spiderBenchmark(resolveSpiderDir(args.spider));
    const source = (args.predictions ?? args.model)!;
    const resultsPath = args.out ?? defaultResultsPath(source, split, bench.kind);
    prepareResultsPath(resultsPath); // before a model is loaded
    let predict: Predictor;
    let predictorId: string;
    const jobs = args.jobs;
    let closeModel: () => Promise<void> = async () => {};
    if (args.predictions) {
      const all = bench.load(split);
      const examples = args.limit ? all.slice(0, args.limit) : all;
      const preds = readPredictions(args.predictions, examples, args.strict ? "strict" : "reference");
      predict = async (ex) => ({ sql: preds.get(ex.id)! });
      predictorId = `predictions:${args.predictions}`;
    } else {
      const model = args.model!;
      if (!existsSync(model) || !statSync(model).isFile() || extname(model).toLowerCase() !== ".gguf")
        throw new Error(
          `--model ${model}: ${existsSync(model) ? "not a GGUF file" : "no such file"} (convert an HF folder first: sqlfocus convert <dir> model.gguf)`,
        );
      if (args.lora !== undefined && !existsSync(args.lora)) throw new Error(`--lora ${args.lora}: no such file`);
      const style = args["schema-style"] as "mschema" | "ddl";
      const { loadSqlGenerator } = await import("../../text2sql/index.js");
      const generator = await loadSqlGenerator({
        modelPath: model,
        lora: args.lora ? [{ path: args.lora }] : undefined,
        sequences: jobs,
        threads: args.threads,
        gpu: args.gpu ? "auto" : false,
        maxTokens: args["max-tokens"],
        temperature: 0,
      });
      closeModel = () => generator.dispose();
      const link = linkFromArgs(args);
      const vote = args.n > 1 ? { n: args.n, temperature: args.temperature } : undefined;
      predict = generatorPredictor(generator, {
        benchmark: bench,
        schemaText: spiderSchemaText({ link }),
        schemaStyle: style,
        vote,
      });
      predictorId =
        `model:${resolve(model)}${args.lora ? `+lora:${resolve(args.lora)}` : ""}|schema:${style}|max_tokens:${args["max-tokens"]}` +
        (link ? `|link:${describeLink(link)}` : "") +
        (vote ? `|vote:n=${vote.n},t=${vote.temperature}` : "");
    }

    let bar: cliProgress.SingleBar | null = null;
    let summary: EvalSummary;
    try {
      summary = await evaluateSpider({
        benchmark: bench,
        split,
        limit: args.limit,
        predict,
        predictorId,
        resultsPath,
        resume: !args.fresh,
        timeoutMs: Math.round(args.timeout * 1000),
        keepDistinct: args["keep-distinct"],
        scoring: args.strict ? "strict" : "reference",
        plugValue: args["plug-value"],
        plugLimit: args["plug-limit"],
        concurrency: jobs,
        onProgress: (p) => {
          if (p.resumed !== undefined) {
            if (p.resumed > 0)
              process.stderr.write(`resuming ${resultsPath}: ${p.resumed} of ${p.total} questions already done\n`);
            bar = progressBar("eval", p.total, "EX {ex}", { ex: "-" }, p.done);
          }
          bar?.update(p.done, { ex: p.scored ? pct(p.matched / p.scored) : "-" });
        },
      });
    } finally {
      (bar as cliProgress.SingleBar | null)?.stop();
      await closeModel();
    }
    const summaryPath = writeEvalSummary(resultsPath, summary);
    process.stdout.write(formatSummary(summary) + "\n\n");
    process.stdout.write(`results: ${resultsPath}\nsummary: ${summaryPath}\n`);
  },
};
