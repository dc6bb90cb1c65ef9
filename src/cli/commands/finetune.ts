// `sqlfocus finetune`: LoRA fine-tuning with the Python project's flag names (--model_name, --lora_rank, …) and
// defaults. A thin layer over finetune() (src/train): flags → options, Ctrl-C → a clean stop with a checkpoint.
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { detectLaunch } from "../../distributed/index.js";
import { parse as parseYaml } from "yaml";
import { abortOnSignals } from "../shared.js";
import {
  BASE_DTYPES,
  cudaBuilt,
  finetune,
  FINETUNE_DEFAULTS,
  resolveFinetuneOptions,
  LORA_TARGET_MODULES,
  LR_SCHEDULER_TYPES,
  PYTHON_OPTION_NAMES,
  type FinetuneOptions,
  type FinetuneResult,
} from "../../train/index.js";

type FlagType = "string" | "number" | "boolean";
interface FlagSpec {
  key: keyof typeof PYTHON_OPTION_NAMES & string;
  type: FlagType;
  describe: string;
  choices?: readonly string[];
  alias?: string;
}

const d = FINETUNE_DEFAULTS;
/** Every finetune flag, in --help order. Defaults live in FINETUNE_DEFAULTS (one source of truth). */
export const FINETUNE_FLAGS: FlagSpec[] = [
  {
    key: "modelName",
    type: "string",
    describe: `base model: local HF folder, HF cache, ./model/<name>, hub id, or a qwen2 .gguf file (trained on as quantized) (default ${d.modelName})`,
  },
  {
    key: "baseDtype",
    type: "string",
    choices: BASE_DTYPES,
    describe:
      "frozen base weights: auto (as the files have them), or q8_0 / q4_k quantized on load, QLoRA-style (~7 / ~4 GB for 7B) (default auto)",
  },
  { key: "trainFile", type: "string", describe: `training JSONL (default ${d.trainFile})` },
  {
    key: "evalFile",
    type: "string",
    describe: "evaluation JSONL: eval_loss every --eval_steps and at the end (default none)",
  },
  { key: "outputDir", type: "string", describe: `checkpoints folder: checkpoint-N/ (default ${d.outputDir})` },
  { key: "saveModelDir", type: "string", describe: `final adapter folder (default ${d.saveModelDir})` },
  {
    key: "maxSeqLength",
    type: "number",
    describe: `tokens per example, longer ones are truncated (default ${d.maxSeqLength})`,
  },
  {
    key: "perDeviceTrainBatchSize",
    type: "number",
    describe: `examples per micro-batch (default ${d.perDeviceTrainBatchSize})`,
  },
  {
    key: "perDeviceEvalBatchSize",
    type: "number",
    describe: `examples per evaluation batch (default ${d.perDeviceEvalBatchSize})`,
  },
  {
    key: "gradientAccumulationSteps",
    type: "number",
    describe: `micro-batches per optimizer step (default ${d.gradientAccumulationSteps})`,
  },
  { key: "numTrainEpochs", type: "number", describe: `epochs, may be fractional (default ${d.numTrainEpochs})` },
  { key: "maxSteps", type: "number", describe: "optimizer steps; overrides --num_train_epochs when > 0 (default -1)" },
  { key: "learningRate", type: "number", describe: `peak learning rate (default ${d.learningRate})` },
  {
    key: "lrSchedulerType",
    type: "string",
    choices: LR_SCHEDULER_TYPES,
    describe: `learning-rate schedule (default ${d.lrSchedulerType})`,
  },
  { key: "warmupSteps", type: "number", describe: "warmup optimizer steps (default 0)" },
  {
    key: "warmupRatio",
    type: "number",
    describe: "warmup as a fraction of all steps, when --warmup_steps is 0 (default 0)",
  },
  { key: "weightDecay", type: "number", describe: `AdamW weight decay (default ${d.weightDecay})` },
  { key: "maxGradNorm", type: "number", describe: `gradient clipping norm, 0 = off (default ${d.maxGradNorm})` },
  { key: "adamBeta1", type: "number", describe: `AdamW beta1 (default ${d.adamBeta1})` },
  { key: "adamBeta2", type: "number", describe: `AdamW beta2 (default ${d.adamBeta2})` },
  { key: "adamEpsilon", type: "number", describe: `AdamW epsilon (default ${d.adamEpsilon})` },
  { key: "loraRank", type: "number", describe: `LoRA rank r (default ${d.loraRank})` },
  { key: "loraAlpha", type: "number", describe: `LoRA alpha: scale alpha/r (default ${d.loraAlpha})` },
  { key: "loraDropout", type: "number", describe: `dropout on the LoRA input (default ${d.loraDropout})` },
  { key: "useRslora", type: "boolean", describe: "rank-stabilised LoRA: scale alpha/√r (default false)" },
  {
    key: "targetModules",
    type: "string",
    describe: `comma-separated projections to adapt, or all-linear (default ${LORA_TARGET_MODULES.join(",")})`,
  },
  {
    key: "loggingSteps",
    type: "number",
    describe: `log loss/lr/grad_norm every N optimizer steps (default ${d.loggingSteps})`,
  },
  { key: "saveSteps", type: "number", describe: `checkpoint every N optimizer steps (default ${d.saveSteps})` },
  { key: "evalSteps", type: "number", describe: "evaluate every N optimizer steps (default: --logging_steps)" },
  { key: "saveTotalLimit", type: "number", describe: "keep only the newest N checkpoints (default: keep all)" },
  {
    key: "resumeFromCheckpoint",
    type: "string",
    describe: "resume: a checkpoint folder, or true/latest for the newest in --output_dir",
  },
  { key: "seed", type: "number", describe: `random seed: LoRA init, dropout, data order (default ${d.seed})` },
  { key: "threads", type: "number", describe: "CPU threads (default: all cores)" },
  {
    key: "device",
    type: "string",
    choices: ["cpu", "cuda"],
    describe: "cpu or cuda (default cuda when built with CUDA, else cpu)",
  },
  {
    key: "recompute",
    type: "boolean",
    alias: "gradient_checkpointing",
    describe: "recompute activations in backward: less memory, more compute (default false)",
  },
  {
    key: "logdir",
    type: "string",
    describe: "run folders' parent: config, metrics.jsonl, system info (default <output_dir>/runs)",
  },
  { key: "runName", type: "string", describe: "run folder name (default: a timestamp)" },
  {
    key: "ddpTimeout",
    type: "number",
    describe: `data-parallel runs (mpirun/srun): seconds to wait for the other ranks before failing (default ${d.ddpTimeout})`,
  },
  {
    key: "reportTo",
    type: "string",
    describe:
      "trackers beside the run folder: none, tensorboard, swanlab, or a comma list (default none; swanlab needs SWANLAB_API_KEY)",
  },
];

type FinetuneArgs = Record<string, unknown> & { progress?: boolean; dry_run?: boolean; config?: string };

/**
 * A training config file (YAML or JSON, as `llamafactory-cli train config.yaml`): an object whose keys are the flag
 * names (model_name, lora_rank, …). Returns finetune() options; an unknown key or a non-object file is an error
 * naming the file and the key.
 */
export function readFinetuneConfig(path: string): FinetuneOptions {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(
      `${path}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  let data: unknown;
  try {
    data = extname(path).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new Error(
      `${path}: not valid ${extname(path).toLowerCase() === ".json" ? "JSON" : "YAML"}: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== "object" || Array.isArray(data))
    throw new Error(`${path}: must be a mapping of flag names to values (model_name: …, lora_rank: …)`);
  const byFlag = new Map<string, FlagSpec>();
  for (const f of FINETUNE_FLAGS) {
    byFlag.set(PYTHON_OPTION_NAMES[f.key], f);
    if (f.alias) byFlag.set(f.alias, f);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    const f = byFlag.get(k) ?? byFlag.get(k.replace(/-/g, "_"));
    if (!f)
      throw new Error(
        `${path}: unknown key ${JSON.stringify(k)} (keys are finetune's flag names: ${FINETUNE_FLAGS.map((x) => PYTHON_OPTION_NAMES[x.key]).join(", ")})`,
      );
    if (v === null || v === undefined) continue; // null: the default
    out[f.key] = v; // lists (target_modules, report_to) may be YAML/JSON arrays or comma strings
  }
  return out as FinetuneOptions;
}

/** yargs' parsed flags → finetune() options (values are validated by finetune itself). */
export function finetuneOptionsFromArgs(args: Record<string, unknown>): FinetuneOptions {
  const out: Record<string, unknown> = {};
  for (const flag of FINETUNE_FLAGS) {
    const v = args[PYTHON_OPTION_NAMES[flag.key]];
    if (v === undefined) continue;
    out[flag.key] = v;
  }
  return out as FinetuneOptions;
}

export function formatFinetuneResult(r: FinetuneResult): string {
  const lines: string[] = [];
  const loss = (x: number | null | undefined) => (x === null || x === undefined ? "-" : x.toFixed(4));
  lines.push(
    `${r.status === "finished" ? "finished" : "stopped"} at step ${r.globalStep}/${r.maxSteps} (epoch ${r.epoch.toFixed(2)}) in ${r.trainRuntimeS.toFixed(1)} s, ${Math.round(r.tokensPerS)} tokens/s`,
  );
  lines.push(
    `loss: first logged ${loss(r.firstLoss)} → last logged ${loss(r.lastLoss)} (mean over the run ${loss(r.trainLoss)})`,
  );
  if (r.evalLoss !== null)
    lines.push(
      `eval_loss: ${loss(r.evalLoss)}${r.initialEvalLoss !== null ? ` (before training ${loss(r.initialEvalLoss)})` : ""}`,
    );
  if (r.adapterDir) lines.push(`adapter: ${r.adapterDir}`);
  if (r.lastCheckpoint) lines.push(`last checkpoint: ${r.lastCheckpoint}`);
  lines.push(`run folder: ${r.runDir}`);
  return lines.join("\n");
}

export const finetuneCommand: CommandModule<object, FinetuneArgs> = {
  command: "finetune [config]",
  describe: "LoRA fine-tune a Qwen2 model on text-to-SQL JSONL (Python project's flags); PEFT checkpoints, resumable",
  builder: (y: Argv) => {
    let b = y;
    for (const f of FINETUNE_FLAGS) {
      // Numbers get no yargs type (so --help shows only the describe's [number], and yargs never makes NaN):
      // "2e-4" or "-1" arrive as numbers, "abc" as text that finetune() reports as typed.
      b = b.option(PYTHON_OPTION_NAMES[f.key], {
        ...(f.type === "number" ? { requiresArg: true } : { type: f.type }),
        describe: f.type === "number" ? `${f.describe} [number]` : f.describe,
        ...(f.choices ? { choices: f.choices as string[] } : {}),
        ...(f.alias ? { alias: f.alias } : {}),
      });
    }
    return b
      .positional("config", {
        type: "string",
        describe: "training config file (.yaml/.yml/.json) with the flag names as keys; flags given too override it",
      })
      .option("progress", {
        type: "boolean",
        describe: "progress bar (default: on a terminal; periodic lines otherwise)",
      })
      .option("dry_run", {
        type: "boolean",
        describe: "print the resolved options as a config file (JSON, flag names as keys) and exit without training",
      })
      .example(
        "$0 finetune train.yaml --learning_rate 1e-4",
        "the options of train.yaml, with --learning_rate overriding it",
      )
      .example("$0 finetune --model_name ./model/tiny-qwen2 --train_file data/train.jsonl --num_train_epochs 1", "")
      .example(
        "$0 finetune --resume_from_checkpoint true",
        "continue the newest checkpoint in ./output",
      ) as unknown as Argv<FinetuneArgs>;
  },
  handler: async (args) => {
    // the config file first, then the flags given on the command line over it
    const options: FinetuneOptions = {
      ...(args.config ? readFinetuneConfig(args.config) : {}),
      ...finetuneOptionsFromArgs(args),
    };
    if (args.dry_run) {
      const o = resolveFinetuneOptions(options, cudaBuilt());
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) out[PYTHON_OPTION_NAMES[k as keyof typeof PYTHON_OPTION_NAMES]] = v;
      process.stdout.write(JSON.stringify(out, null, 2) + "\n");
      return;
    }
    const controller = new AbortController();
    const release = abortOnSignals(controller);
    try {
      const result = await finetune({
        ...options,
        signal: controller.signal,
        progress: args.progress ?? "auto",
      });
      // several ranks (mpirun/srun): rank 0 speaks for the job
      if (detectLaunch().rank === 0) process.stdout.write(formatFinetuneResult(result) + "\n");
      if (result.status === "interrupted") process.exitCode = 130;
    } finally {
      release();
    }
  },
};
