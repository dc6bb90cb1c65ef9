// finetune() options: the TypeScript (camelCase) names, their Python/CLI (snake_case) twins, defaults (those of the
// Python project and of Hugging Face's TrainingArguments), and validation with errors that name the option.
import { defaultThreadsPerRank } from "../distributed/index.js";

/** The seven Qwen2 linear projections LoRA can adapt (PEFT target_modules names). */
export const LORA_TARGET_MODULES = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
] as const;
export type LoraTargetModule = (typeof LORA_TARGET_MODULES)[number];

export const LR_SCHEDULER_TYPES = ["linear", "cosine", "constant", "constant_with_warmup"] as const;
export type LrSchedulerType = (typeof LR_SCHEDULER_TYPES)[number];

export type TrainDevice = "cpu" | "cuda";

/** How the frozen base weights are held: as the model files have them ("auto"), or quantized on load to a ggml block
 *  type (QLoRA-style: the seven projection matrices; embeddings, lm_head and norms stay as they are). */
export const BASE_DTYPES = ["auto", "q8_0", "q4_k"] as const;
export type BaseDtype = (typeof BASE_DTYPES)[number];

/** What finetune() takes. Every field is optional; `resolveFinetuneOptions` fills the defaults. */
export interface FinetuneOptions {
  /** Base model: local HF folder, HF cache entry, ./model/<name>, a hub id (resolved by src/model), or a qwen2 GGUF
   *  file (e.g. a Q4_K_M file from `sqlfocus quantize`, llama.cpp or Ollama: trained on as quantized, QLoRA-style). */
  modelName?: string;
  /** "auto" keeps the base weights' own dtype; "q8_0" / "q4_k" quantize an HF model's projection matrices on load
   *  (ggml's quantizer), so a 7B base needs ~7 / ~4 GB instead of ~15 GB. */
  baseDtype?: BaseDtype;
  /** Checkpoints go to `<outputDir>/checkpoint-N/`, run folders to `<outputDir>/runs/` (unless `logdir`). */
  outputDir?: string;
  /** Training JSONL (instruction/input/output, messages, or question+db_schema+query lines). */
  trainFile?: string;
  /** Optional evaluation JSONL; eval_loss is computed every `evalSteps` and at the end. */
  evalFile?: string;
  /** The final adapter's folder. */
  saveModelDir?: string;
  maxSeqLength?: number;
  perDeviceTrainBatchSize?: number;
  perDeviceEvalBatchSize?: number;
  gradientAccumulationSteps?: number;
  loggingSteps?: number;
  /** May be fractional, as in Hugging Face. */
  numTrainEpochs?: number;
  /** Optimizer steps; > 0 overrides numTrainEpochs. */
  maxSteps?: number;
  saveSteps?: number;
  /** Default: loggingSteps (as Hugging Face). */
  evalSteps?: number;
  /** Keep at most this many checkpoints (oldest deleted first); unset keeps all. */
  saveTotalLimit?: number;
  learningRate?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  adamBeta1?: number;
  adamBeta2?: number;
  adamEpsilon?: number;
  lrSchedulerType?: LrSchedulerType;
  /** Warmup optimizer steps; when 0, ceil(warmupRatio × total steps). */
  warmupSteps?: number;
  warmupRatio?: number;
  loraRank?: number;
  loraAlpha?: number;
  loraDropout?: number;
  useRslora?: boolean;
  targetModules?: readonly string[];
  seed?: number;
  /** A checkpoint folder, or true / "true" / "latest" for the newest complete checkpoint in outputDir. */
  resumeFromCheckpoint?: string | boolean;
  /** CPU threads for the engine (default: all cores, shared between the ranks a launcher starts on this machine). */
  threads?: number;
  /** Default: "cuda" when the addon was built with CUDA, else "cpu". */
  device?: TrainDevice;
  /** Recompute activations in backward (gradient checkpointing): less memory, ~1/3 more compute. */
  recompute?: boolean;
  /** Run folders' parent (default `<outputDir>/runs`). */
  logdir?: string;
  runName?: string;
  /** Data-parallel runs: seconds a rank waits for the others in a collective before failing (HF's ddp_timeout). */
  ddpTimeout?: number;
  /**
   * Trackers beside the run folder, as Hugging Face's report_to: "none" (default), "tensorboard", "swanlab", or a
   * comma list / array of them. SwanLab needs SWANLAB_API_KEY (SWANLAB_PROJ_NAME, SWANLAB_WORKSPACE optional).
   */
  reportTo?: string | readonly string[];
}

/** Options with every default filled and checked. */
export interface ResolvedFinetuneOptions {
  modelName: string;
  baseDtype: BaseDtype;
  outputDir: string;
  trainFile: string;
  evalFile: string | null;
  saveModelDir: string;
  maxSeqLength: number;
  perDeviceTrainBatchSize: number;
  perDeviceEvalBatchSize: number;
  gradientAccumulationSteps: number;
  loggingSteps: number;
  numTrainEpochs: number;
  maxSteps: number;
  saveSteps: number;
  evalSteps: number;
  saveTotalLimit: number | null;
  learningRate: number;
  weightDecay: number;
  maxGradNorm: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
  lrSchedulerType: LrSchedulerType;
  warmupSteps: number;
  warmupRatio: number;
  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
  useRslora: boolean;
  targetModules: LoraTargetModule[];
  seed: number;
  resumeFromCheckpoint: string | true | null;
  threads: number;
  device: TrainDevice;
  recompute: boolean;
  logdir: string;
  runName: string | null;
  ddpTimeout: number;
  reportTo: ReportTarget[];
}

/** The trackers `reportTo` can name. */
export const REPORT_TARGETS = ["tensorboard", "swanlab"] as const;
export type ReportTarget = (typeof REPORT_TARGETS)[number];

type OptionKey = keyof FinetuneOptions & keyof ResolvedFinetuneOptions;

/** camelCase (TypeScript) → snake_case (Python project, CLI flags). */
export const PYTHON_OPTION_NAMES: { readonly [K in OptionKey]: string } = {
  modelName: "model_name",
  baseDtype: "base_dtype",
  outputDir: "output_dir",
  trainFile: "train_file",
  evalFile: "eval_file",
  saveModelDir: "save_model_dir",
  maxSeqLength: "max_seq_length",
  perDeviceTrainBatchSize: "per_device_train_batch_size",
  perDeviceEvalBatchSize: "per_device_eval_batch_size",
  gradientAccumulationSteps: "gradient_accumulation_steps",
  loggingSteps: "logging_steps",
  numTrainEpochs: "num_train_epochs",
  maxSteps: "max_steps",
  saveSteps: "save_steps",
  evalSteps: "eval_steps",
  saveTotalLimit: "save_total_limit",
  learningRate: "learning_rate",
  weightDecay: "weight_decay",
  maxGradNorm: "max_grad_norm",
  adamBeta1: "adam_beta1",
  adamBeta2: "adam_beta2",
  adamEpsilon: "adam_epsilon",
  lrSchedulerType: "lr_scheduler_type",
  warmupSteps: "warmup_steps",
  warmupRatio: "warmup_ratio",
  loraRank: "lora_rank",
  loraAlpha: "lora_alpha",
  loraDropout: "lora_dropout",
  useRslora: "use_rslora",
  targetModules: "target_modules",
  seed: "seed",
  resumeFromCheckpoint: "resume_from_checkpoint",
  threads: "threads",
  device: "device",
  recompute: "recompute",
  logdir: "logdir",
  runName: "run_name",
  ddpTimeout: "ddp_timeout",
  reportTo: "report_to",
};

/** The defaults a user sees (Python project / Hugging Face TrainingArguments). */
export const FINETUNE_DEFAULTS = {
  modelName: "XGenerationLab/XiYanSQL-QwenCoder-7B-2502",
  baseDtype: "auto" as BaseDtype,
  outputDir: "./output",
  trainFile: "./data/train_data.jsonl",
  saveModelDir: "./save-model",
  maxSeqLength: 1024,
  perDeviceTrainBatchSize: 4,
  perDeviceEvalBatchSize: 4,
  gradientAccumulationSteps: 4,
  loggingSteps: 10,
  numTrainEpochs: 3,
  maxSteps: -1,
  saveSteps: 500,
  learningRate: 2e-4,
  weightDecay: 0,
  maxGradNorm: 1,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  lrSchedulerType: "linear" as LrSchedulerType,
  warmupSteps: 0,
  warmupRatio: 0,
  loraRank: 16,
  loraAlpha: 32,
  loraDropout: 0.05,
  useRslora: false,
  targetModules: [...LORA_TARGET_MODULES] as LoraTargetModule[],
  seed: 42,
  recompute: false,
  ddpTimeout: 1800,
} as const;

/** A bad option value: names the option (TypeScript and CLI spelling) and what was wrong. */
export class FinetuneOptionError extends Error {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
    this.name = "FinetuneOptionError";
  }
}

function label(key: OptionKey): string {
  return `${key} (--${PYTHON_OPTION_NAMES[key]})`;
}

function fail(key: OptionKey, what: string, got: unknown): never {
  throw new FinetuneOptionError(
    key,
    `finetune: option ${label(key)} ${what}, got ${JSON.stringify(got) ?? String(got)}`,
  );
}

function num(
  key: OptionKey,
  v: unknown,
  def: number,
  check: { int?: boolean; min?: number; gt?: number; max?: number; lt?: number },
): number {
  if (v === undefined || v === null) return def;
  const x = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof x !== "number" || !Number.isFinite(x)) fail(key, "must be a finite number", v);
  if (check.int && !Number.isInteger(x)) fail(key, "must be an integer", v);
  if (check.min !== undefined && x < check.min) fail(key, `must be ≥ ${check.min}`, v);
  if (check.gt !== undefined && !(x > check.gt)) fail(key, `must be > ${check.gt}`, v);
  if (check.max !== undefined && x > check.max) fail(key, `must be ≤ ${check.max}`, v);
  if (check.lt !== undefined && !(x < check.lt)) fail(key, `must be < ${check.lt}`, v);
  return x;
}

function str(key: OptionKey, v: unknown, def: string): string;
function str(key: OptionKey, v: unknown, def: null): string | null;
function str(key: OptionKey, v: unknown, def: string | null): string | null {
  if (v === undefined || v === null) return def;
  if (typeof v !== "string" || v.trim() === "") fail(key, "must be a non-empty string", v);
  return v;
}

function bool(key: OptionKey, v: unknown, def: boolean): boolean {
  if (v === undefined || v === null) return def;
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  fail(key, "must be true or false", v);
}

/** Parses target modules: a list, or a comma-separated string; "all-linear"/"all" means all seven. */
export function parseTargetModules(v: unknown): LoraTargetModule[] {
  if (v === undefined || v === null) return [...FINETUNE_DEFAULTS.targetModules];
  const items = (Array.isArray(v) ? v : [v]).flatMap((x) => {
    if (typeof x !== "string") fail("targetModules", "must be module names", v);
    return x
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  });
  if (items.length === 1 && (items[0] === "all-linear" || items[0] === "all")) return [...LORA_TARGET_MODULES];
  if (items.length === 0) fail("targetModules", "must name at least one module", v);
  const out: LoraTargetModule[] = [];
  for (const m of items) {
    if (!(LORA_TARGET_MODULES as readonly string[]).includes(m)) {
      fail(
        "targetModules",
        `must be among ${LORA_TARGET_MODULES.join(", ")} (or all-linear); unknown module ${JSON.stringify(m)}`,
        v,
      );
    }
    if (!out.includes(m as LoraTargetModule)) out.push(m as LoraTargetModule);
  }
  return out;
}

/** Parses base_dtype (case-insensitive: Q4_K and q4_k are the same). */
export function parseBaseDtype(v: unknown): BaseDtype {
  if (v === undefined || v === null) return FINETUNE_DEFAULTS.baseDtype;
  const s = typeof v === "string" ? v.trim().toLowerCase() : v;
  if (typeof s !== "string" || !(BASE_DTYPES as readonly string[]).includes(s))
    fail("baseDtype", `must be one of ${BASE_DTYPES.join(", ")}`, v);
  return s as BaseDtype;
}

/** Parses resume_from_checkpoint: a path, true/"true"/"latest"/"" for the newest checkpoint, false/"false" for none. */
export function parseResume(v: unknown): string | true | null {
  if (v === undefined || v === null || v === false) return null;
  if (v === true) return true;
  if (typeof v !== "string") fail("resumeFromCheckpoint", 'must be a checkpoint folder, true or "latest"', v);
  const s = v.trim();
  if (s === "" || s === "true" || s === "latest" || s === "True") return true;
  if (s === "false" || s === "False" || s === "none" || s === "None") return null;
  return s;
}

/** finetune()'s run-time hooks (FinetuneRunOptions in finetune.ts): accepted beside the options, not validated here. */
export const RUN_HOOK_NAMES = [
  "tracker",
  "signal",
  "progress",
  "onLog",
  "onStep",
  "onMessage",
  "evalOnStart",
  "createTrainer",
] as const;

/**
 * Fills defaults and validates. `cudaAvailable` picks the default device. Unknown keys are rejected (a typo in an
 * option name must not silently train with a default).
 */
export function resolveFinetuneOptions(options: FinetuneOptions = {}, cudaAvailable = false): ResolvedFinetuneOptions {
  const known = new Set<string>([...Object.keys(PYTHON_OPTION_NAMES), ...RUN_HOOK_NAMES]);
  const bySnake = new Map(Object.entries(PYTHON_OPTION_NAMES).map(([k, v]) => [v, k]));
  for (const key of Object.keys(options)) {
    if (known.has(key)) continue;
    const hint = bySnake.get(key) ? ` (the TypeScript API spells it ${bySnake.get(key)})` : "";
    throw new FinetuneOptionError(key, `finetune: unknown option ${JSON.stringify(key)}${hint}`);
  }
  const o = options;
  const d = FINETUNE_DEFAULTS;
  const outputDir = str("outputDir", o.outputDir, d.outputDir);
  const loggingSteps = num("loggingSteps", o.loggingSteps, d.loggingSteps, { int: true, min: 1 });
  const device = o.device ?? (cudaAvailable ? "cuda" : "cpu");
  if (device !== "cpu" && device !== "cuda") fail("device", "must be cpu or cuda", o.device);
  if (device === "cuda" && !cudaAvailable) {
    throw new FinetuneOptionError(
      "device",
      "finetune: option device (--device) is cuda, but this sqlfocus build has no CUDA engine (rebuild with a CUDA toolkit: SQLFOCUS_CUDA=on npm rebuild sqlfocus)",
    );
  }
  const scheduler = o.lrSchedulerType ?? d.lrSchedulerType;
  if (!(LR_SCHEDULER_TYPES as readonly string[]).includes(scheduler))
    fail("lrSchedulerType", `must be one of ${LR_SCHEDULER_TYPES.join(", ")}`, scheduler);
  const saveTotalLimit =
    o.saveTotalLimit === undefined || o.saveTotalLimit === null
      ? null
      : num("saveTotalLimit", o.saveTotalLimit, 0, { int: true, min: 1 });
  const resolved: ResolvedFinetuneOptions = {
    modelName: str("modelName", o.modelName, d.modelName),
    baseDtype: parseBaseDtype(o.baseDtype),
    outputDir,
    trainFile: str("trainFile", o.trainFile, d.trainFile),
    evalFile: str("evalFile", o.evalFile, null),
    saveModelDir: str("saveModelDir", o.saveModelDir, d.saveModelDir),
    maxSeqLength: num("maxSeqLength", o.maxSeqLength, d.maxSeqLength, { int: true, min: 2 }),
    perDeviceTrainBatchSize: num("perDeviceTrainBatchSize", o.perDeviceTrainBatchSize, d.perDeviceTrainBatchSize, {
      int: true,
      min: 1,
    }),
    perDeviceEvalBatchSize: num("perDeviceEvalBatchSize", o.perDeviceEvalBatchSize, d.perDeviceEvalBatchSize, {
      int: true,
      min: 1,
    }),
    gradientAccumulationSteps: num(
      "gradientAccumulationSteps",
      o.gradientAccumulationSteps,
      d.gradientAccumulationSteps,
      { int: true, min: 1 },
    ),
    loggingSteps,
    numTrainEpochs: num("numTrainEpochs", o.numTrainEpochs, d.numTrainEpochs, { gt: 0 }),
    maxSteps: num("maxSteps", o.maxSteps, d.maxSteps, { int: true }),
    saveSteps: num("saveSteps", o.saveSteps, d.saveSteps, { int: true, min: 1 }),
    evalSteps: num("evalSteps", o.evalSteps, loggingSteps, { int: true, min: 1 }),
    saveTotalLimit,
    learningRate: num("learningRate", o.learningRate, d.learningRate, { min: 0 }),
    weightDecay: num("weightDecay", o.weightDecay, d.weightDecay, { min: 0 }),
    maxGradNorm: num("maxGradNorm", o.maxGradNorm, d.maxGradNorm, { min: 0 }),
    adamBeta1: num("adamBeta1", o.adamBeta1, d.adamBeta1, { min: 0, lt: 1 }),
    adamBeta2: num("adamBeta2", o.adamBeta2, d.adamBeta2, { min: 0, lt: 1 }),
    adamEpsilon: num("adamEpsilon", o.adamEpsilon, d.adamEpsilon, { gt: 0 }),
    lrSchedulerType: scheduler,
    warmupSteps: num("warmupSteps", o.warmupSteps, d.warmupSteps, { int: true, min: 0 }),
    warmupRatio: num("warmupRatio", o.warmupRatio, d.warmupRatio, { min: 0, max: 1 }),
    loraRank: num("loraRank", o.loraRank, d.loraRank, { int: true, min: 1 }),
    loraAlpha: num("loraAlpha", o.loraAlpha, d.loraAlpha, { gt: 0 }),
    loraDropout: num("loraDropout", o.loraDropout, d.loraDropout, { min: 0, lt: 1 }),
    useRslora: bool("useRslora", o.useRslora, d.useRslora),
    targetModules: parseTargetModules(o.targetModules),
    seed: num("seed", o.seed, d.seed, { int: true, min: 0, max: 2 ** 32 - 1 }),
    resumeFromCheckpoint: parseResume(o.resumeFromCheckpoint),
    threads: num("threads", o.threads, defaultThreadsPerRank(), { int: true, min: 1, max: 1024 }),
    device,
    recompute: bool("recompute", o.recompute, d.recompute),
    logdir: str("logdir", o.logdir, null) ?? joinPath(outputDir, "runs"),
    runName: str("runName", o.runName, null),
    ddpTimeout: num("ddpTimeout", o.ddpTimeout, d.ddpTimeout, { gt: 0 }),
    reportTo: parseReportTo(o.reportTo),
  };
  if (resolved.maxSteps === 0 || resolved.maxSteps < -1)
    fail("maxSteps", "must be a positive integer (or -1 for num_train_epochs)", o.maxSteps);
  return resolved;
}

/** "none" | "tensorboard" | "swanlab" | a comma list or array of them → the trackers asked for (none: []). */
export function parseReportTo(v: unknown): ReportTarget[] {
  if (v === undefined || v === null) return [];
  const items = (
    Array.isArray(v)
      ? v
      : typeof v === "string"
        ? v.split(",")
        : fail("reportTo", "must be none, tensorboard, swanlab or a comma list of them", v)
  ).map((x) => (typeof x === "string" ? x.trim().toLowerCase() : fail("reportTo", "must be tracker names", v)));
  const out: ReportTarget[] = [];
  for (const item of items.filter(Boolean)) {
    if (item === "none") continue;
    if (!(REPORT_TARGETS as readonly string[]).includes(item))
      fail(
        "reportTo",
        `must be none or among ${REPORT_TARGETS.join(", ")}; unknown tracker ${JSON.stringify(item)}`,
        v,
      );
    if (!out.includes(item as ReportTarget)) out.push(item as ReportTarget);
  }
  if (out.length > 0 && items.includes("none")) fail("reportTo", "none cannot be combined with trackers", v);
  return out;
}

function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}
