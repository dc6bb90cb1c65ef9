// `sqlfocus demo`: the README's main job, with no arguments on a fresh clone. Makes the tiny Qwen2 model
// (model/tiny-qwen2) if it is not there, LoRA-fine-tunes it on the demo text-to-SQL set (data/demo/train.jsonl,
// eval on data/demo/dev.jsonl) for about a minute on 2 CPU cores, and prints the loss before and after.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Argv, CommandModule } from "yargs";
import { quantize } from "../../gguf/index.js";
import { checkOutputDir } from "../../files/index.js";
import { initTinyModel, merge } from "../../model/index.js";
import { finetune, type FinetuneResult } from "../../train/index.js";
import { abortOnSignals } from "../shared.js";

interface DemoArgs {
  model_dir: string;
  train_file?: string;
  eval_file?: string;
  output_dir: string;
  save_model_dir: string;
  num_train_epochs: number;
  max_steps: number;
  learning_rate: number;
  threads?: number;
  progress?: boolean;
  export: boolean;
  merged_dir: string;
}

/** The demo's training recipe (tuned for the tiny model on 2 CPU cores; see docs/training.md for figures). */
export const DEMO_RECIPE = {
  maxSeqLength: 1024,
  perDeviceTrainBatchSize: 4,
  perDeviceEvalBatchSize: 4,
  gradientAccumulationSteps: 1,
  loggingSteps: 4,
  evalSteps: 12,
  warmupSteps: 4,
  lrSchedulerType: "linear",
  loraRank: 16,
  loraAlpha: 32,
  loraDropout: 0.05,
  seed: 42,
} as const;

/** data/demo/<name>: in the current folder (a clone), else in this package (run from src/ by tsx, or from dist/). */
export function demoFile(name: string): string {
  const local = resolve("data", "demo", name);
  if (existsSync(local)) return local;
  for (const up of ["../../../", "../../../../"]) {
    const packaged = fileURLToPath(new URL(`${up}data/demo/${name}`, import.meta.url));
    if (existsSync(packaged)) return packaged;
  }
  return local;
}

function fmt(x: number | null | undefined): string {
  return x === null || x === undefined ? "-" : x.toFixed(3);
}

export function formatDemoSummary(r: FinetuneResult, minutes: number): string {
  const lines = [
    "",
    `demo: ${r.globalStep} steps (${r.epoch.toFixed(1)} epochs) in ${minutes.toFixed(1)} min, ${Math.round(r.tokensPerS)} tokens/s`,
    `  train loss   ${fmt(r.firstLoss)} → ${fmt(r.lastLoss)}   (first and last logged)`,
  ];
  if (r.evalLoss !== null)
    lines.push(`  eval loss    ${fmt(r.initialEvalLoss)} → ${fmt(r.evalLoss)}   (dev set, before and after)`);
  if (r.adapterDir) lines.push(`  adapter      ${r.adapterDir}`);
  lines.push(`  run folder   ${r.runDir}`);
  return lines.join("\n");
}

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: "demo",
  describe:
    "The main job: make the tiny Qwen2 model and LoRA-fine-tune it on the demo text-to-SQL set (about a minute on 2 CPU cores)",
  builder: (y: Argv) =>
    y
      .option("model_dir", {
        type: "string",
        default: "model/tiny-qwen2",
        describe: "the tiny model's folder (made if absent)",
      })
      .option("train_file", { type: "string", describe: "training JSONL (default data/demo/train.jsonl)" })
      .option("eval_file", { type: "string", describe: "evaluation JSONL (default data/demo/dev.jsonl)" })
      .option("output_dir", {
        type: "string",
        default: "output/demo",
        describe: "checkpoints and run folders (the demo's own: old checkpoints there are removed)",
      })
      .option("save_model_dir", { type: "string", default: "save-model", describe: "the final adapter" })
      .option("num_train_epochs", { type: "number", default: 4, describe: "epochs over the demo set" })
      .option("max_steps", {
        type: "number",
        default: -1,
        describe: "stop after N optimizer steps (overrides epochs; for a quick try)",
      })
      .option("learning_rate", { type: "number", default: 5e-3, describe: "peak learning rate" })
      .option("threads", { type: "number", describe: "CPU threads (default: all cores)" })
      .option("progress", { type: "boolean", describe: "progress bar (default: on a terminal)" })
      .option("export", {
        type: "boolean",
        default: true,
        describe: "then merge the adapter into the model and quantize it to a Q4_K_M GGUF (--no-export to skip)",
      })
      .option("merged_dir", {
        type: "string",
        default: "new-model",
        describe: "merged model folder (--export); the GGUF goes inside it",
      }) as unknown as Argv<DemoArgs>,
  handler: async (args) => {
    const t0 = performance.now();
    const out = (s: string) => process.stdout.write(s + "\n");
    const modelDir = resolve(args.model_dir);
    // Outputs that are files are refused before minutes of training (an output folder never replaces a file).
    checkOutputDir(args.output_dir);
    checkOutputDir(args.save_model_dir);
    if (args.export) checkOutputDir(args.merged_dir);
    if (!existsSync(join(modelDir, "config.json"))) {
      out(`demo: making the tiny Qwen2 model in ${args.model_dir} …`);
      await initTinyModel(modelDir, {});
    }
    const trainFile = args.train_file ?? demoFile("train.jsonl");
    const evalFile = args.eval_file ?? demoFile("dev.jsonl");
    if (!existsSync(trainFile))
      throw new Error(`demo: ${trainFile} not found (run the demo from the sqlfocus folder, or pass --train_file)`);
    if (existsSync(args.output_dir)) {
      const old = readdirSync(args.output_dir).filter((n) => /^checkpoint-\d+$/.test(n));
      for (const n of old) rmSync(join(args.output_dir, n), { recursive: true, force: true });
      if (old.length) out(`demo: removed ${old.length} checkpoint(s) of an earlier demo in ${args.output_dir}`);
    }
    out(`demo: fine-tuning ${args.model_dir} on ${trainFile} (eval: ${existsSync(evalFile) ? evalFile : "none"})`);
    const controller = new AbortController();
    const release = abortOnSignals(controller);
    try {
      const result = await finetune({
        ...DEMO_RECIPE,
        modelName: modelDir,
        trainFile,
        evalFile: existsSync(evalFile) ? evalFile : undefined,
        outputDir: args.output_dir,
        saveModelDir: args.save_model_dir,
        numTrainEpochs: args.num_train_epochs,
        maxSteps: args.max_steps,
        learningRate: args.learning_rate,
        saveSteps: 1_000_000,
        saveTotalLimit: 1,
        threads: args.threads,
        runName: "demo",
        signal: controller.signal,
        progress: args.progress ?? "auto",
      });
      out(formatDemoSummary(result, (performance.now() - t0) / 60_000));
      if (result.status === "interrupted") {
        process.exitCode = 130;
        return;
      }
      let serveModel = `${args.model_dir} --lora ${args.save_model_dir}`;
      if (args.export && result.adapterDir) {
        const t1 = performance.now();
        const merged = await merge({ base: modelDir, adapter: result.adapterDir, out: args.merged_dir });
        const gguf = join(args.merged_dir, "model-Q4_K_M.gguf");
        const q = await quantize({ input: merged.out, output: gguf, type: "Q4_K_M", threads: args.threads });
        out(`  merged       ${merged.out} (${merged.merged} modules)`);
        out(
          `  quantized    ${q.output} (Q4_K_M, ${(q.bytes / 2 ** 20).toFixed(1)} MiB) in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
        );
        serveModel = gguf;
      }
      out("");
      out("next:");
      out(`  sqlfocus serve --model ${serveModel}     # text2sql API on 127.0.0.1:4060`);
      out(`  sqlfocus board --logdir ${result.options.logdir}     # loss curves in the browser`);
    } finally {
      release();
    }
  },
};
