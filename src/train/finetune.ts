// finetune(): the whole job a user runs. Resolves options, the base model (src/model), the data
// (src/train/data), the native engine (src/train/native), the run folder (src/track) and a checkpoint to resume,
// then runs the loop (loop.ts) and saves the final adapter (PEFT format) to save-model/. Under mpirun/srun the same
// function runs on every rank (src/distributed): rank 0 alone makes the run folder and writes checkpoints and the
// adapter; a failure on any rank ends the whole job (MPI_Abort) rather than leaving the others waiting.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ADAPTER_CONFIG_NAME, writeAdapter, type LoraAdapterSpec, type Tokenizer } from "../model/index.js";
import {
  detectLaunch,
  openDataParallel,
  selectLocalGpu,
  SINGLE_PROCESS,
  type DataParallel,
} from "../distributed/index.js";
import { checkOutputDir, removeStaleTempDirs } from "../files/index.js";
import { loadAddon } from "../native/index.js";
import { createRun, runTrackers, SWANLAB_KEY_MISSING } from "../track/index.js";
import { loadCheckpoint, type LoadedCheckpoint } from "./checkpoint.js";
import {
  examplesFingerprint,
  runTrainingLoop,
  type CollatedBatch,
  type LogEvent,
  type LoopResult,
  type LoopTrainer,
  type StepEvent,
  type TrainExample,
  type TrainTracker,
} from "./loop.js";
import { collate, formatLoadStats, loadTrainingData, type DataTokenizer } from "./data.js";
import { openTrainingBase, type TrainingBase } from "./base.js";
import { engineModelConfig, type EngineModelConfig, type WeightDtype } from "./native.js";
import {
  FinetuneOptionError,
  PYTHON_OPTION_NAMES,
  resolveFinetuneOptions,
  type FinetuneOptions,
  type ResolvedFinetuneOptions,
} from "./options.js";

/** finetune()'s options: the training options plus run-time hooks (TypeScript API only). */
export interface FinetuneRunOptions extends FinetuneOptions {
  /** Extra metric sinks beside the run folder (dashboard, TensorBoard, SwanLab-like). */
  tracker?: TrainTracker | TrainTracker[];
  /** Abort to stop after the current step: a checkpoint is saved, the result has status "interrupted". */
  signal?: AbortSignal;
  /** Terminal progress: true/"auto" (bar on a TTY, lines otherwise), false for none. Default "auto". */
  progress?: boolean | "auto";
  /** Every log_history entry as it is made (training window, eval, final summary). */
  onLog?: (e: LogEvent) => void;
  /** After every optimizer step (per-step loss, lr, grad norm). */
  onStep?: (e: StepEvent) => void;
  /** Evaluate before the first step when there is an eval file (default true): the "before" loss. */
  evalOnStart?: boolean;
  /** Where setup messages go (data statistics, run folder). Default: stderr unless progress is false. */
  onMessage?: (text: string) => void;
  /** Builds the engine instead of the native Trainer (tests, other engines). */
  createTrainer?: (spec: TrainerSpec) => FinetuneTrainer | Promise<FinetuneTrainer>;
}

export interface FinetuneResult extends LoopResult {
  /** The final adapter folder (save_model_dir), when the run finished. */
  adapterDir: string | null;
  runDir: string;
  options: ResolvedFinetuneOptions;
}

/** Whether the native addon was built with the CUDA engine (false when the addon is missing). */
export function cudaBuilt(): boolean {
  try {
    return loadAddon().buildInfo().cuda === true;
  } catch {
    return false;
  }
}

/** The checkpoint to resume from (or null), with a clear error when the asked-for one is missing or incomplete. */
/**
 * The checkpoint to resume from (or null). One rule for a damaged checkpoint, whatever is wrong with it (a missing
 * or truncated file, an unreadable sqlfocus_state.json): with `true` the newest checkpoint that loads is used, and
 * each newer one skipped is named with its problem (through `say`); a folder named explicitly must load, or the error
 * names it, its problem and the flag.
 */
export function resolveResumeCheckpoint(
  o: ResolvedFinetuneOptions,
  say: (text: string) => void = (t) => process.stderr.write(t + "\n"),
): string | null {
  if (o.resumeFromCheckpoint === null) return null;
  const why = (dir: string): string | null => {
    try {
      loadCheckpoint(dir);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  };
  if (o.resumeFromCheckpoint === true) {
    const all = existsSync(o.outputDir)
      ? readdirSync(o.outputDir)
          .map((name) => ({ name, m: /^checkpoint-(\d+)$/.exec(name) }))
          .filter((e) => e.m && statSync(join(o.outputDir, e.name)).isDirectory())
          .map((e) => ({ step: Number(e.m![1]), dir: join(o.outputDir, e.name) }))
          .sort((a, b) => b.step - a.step)
      : [];
    const skipped: string[] = [];
    for (const c of all) {
      const problem = why(c.dir);
      if (problem === null) {
        if (skipped.length)
          say(
            `resume_from_checkpoint: skipped ${skipped.join("; ")}; resuming ${c.dir}, the newest checkpoint that loads`,
          );
        return c.dir;
      }
      skipped.push(`${c.dir} (${problem})`);
    }
    if (skipped.length)
      throw new Error(
        `resume_from_checkpoint: no checkpoint in ${o.outputDir} loads: ${skipped.join("; ")} (name one with --resume_from_checkpoint <folder>, or leave the flag out to start over)`,
      );
    throw new Error(`resume_from_checkpoint: no complete checkpoint (checkpoint-N/) in ${o.outputDir}`);
  }
  const dir = o.resumeFromCheckpoint;
  if (!existsSync(dir)) throw new Error(`resume_from_checkpoint: ${dir} does not exist`);
  const problem = why(dir);
  if (problem)
    throw new Error(
      `resume_from_checkpoint: ${dir} cannot be resumed (${problem}); --resume_from_checkpoint true resumes the newest checkpoint that loads`,
    );
  return dir;
}

/**
 * Throws when a checkpoint's adapter_config.json was made with another LoRA rank or other target modules than the
 * run resuming it (its tensors would not fit the engine's LoRA matrices).
 */
export function checkResumeLoraSettings(dir: string, o: ResolvedFinetuneOptions): void {
  const path = join(dir, ADAPTER_CONFIG_NAME);
  let raw: { r?: unknown; target_modules?: unknown };
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
  }
  if (raw.r !== o.loraRank) {
    throw new Error(
      `${path}: field "r" is ${JSON.stringify(raw.r)} but --lora_rank is ${o.loraRank}; resume with the checkpoint's LoRA settings`,
    );
  }
  const saved = Array.isArray(raw.target_modules)
    ? [...raw.target_modules].map(String).sort().join(",")
    : JSON.stringify(raw.target_modules);
  const wanted = [...o.targetModules].sort().join(",");
  if (saved !== wanted) {
    throw new Error(
      `${path}: field "target_modules" is ${saved} but --target_modules is ${wanted}; resume with the checkpoint's LoRA settings`,
    );
  }
}

/** LoRA spec of a run, as written to adapter_config.json. */
export function adapterSpecOf(o: ResolvedFinetuneOptions): LoraAdapterSpec {
  return {
    baseModelNameOrPath: o.modelName,
    r: o.loraRank,
    loraAlpha: o.loraAlpha,
    loraDropout: o.loraDropout,
    targetModules: o.targetModules,
    useRslora: o.useRslora,
  };
}

/** A run folder's face as the loop uses it (src/track's createRun returns one). */
export interface RunSink {
  id: string;
  dir: string;
  log(step: number, metrics: Record<string, number>): void | Promise<void>;
  finish(result: { status: "finished" | "failed" | "interrupted"; error?: string }): void | Promise<void>;
}

/** Everything a run needs once the model, data, engine and run folder are in place. */
export interface TrainingSetup {
  trainer: LoopTrainer;
  train: TrainExample[];
  eval: TrainExample[] | null;
  collate(examples: TrainExample[]): CollatedBatch;
  run: RunSink;
  /** The checkpoint to resume (restored into the trainer here), or null. */
  resume: LoadedCheckpoint | null;
  /** The ranks of a data-parallel job (absent: one process). */
  dist?: DataParallel;
}

/** Restores a checkpoint into the engine: LoRA weights, AdamW state, dropout RNG. */
export function restoreCheckpoint(trainer: LoopTrainer, c: LoadedCheckpoint): void {
  trainer.setLoraTensors(c.loraTensors);
  trainer.setOptimizerState(c.optimizer);
  if (c.state.rng !== null && c.state.rng !== undefined) trainer.setRngState(c.state.rng);
}

/** Runs the loop on a prepared setup, saves the final adapter, closes the run folder. */
export async function trainWithSetup(
  o: ResolvedFinetuneOptions,
  hooks: FinetuneRunOptions,
  setup: TrainingSetup,
): Promise<FinetuneResult> {
  const spec = adapterSpecOf(o);
  const dist = setup.dist ?? SINGLE_PROCESS;
  const main = dist.rank === 0;
  const trackers =
    !main || hooks.tracker === undefined ? [] : Array.isArray(hooks.tracker) ? hooks.tracker : [hooks.tracker];
  if (main) removeStaleTempDirs(o.outputDir);
  if (setup.resume) restoreCheckpoint(setup.trainer, setup.resume);
  if (dist.size > 1) await checkRanksAgree(dist, o, setup);
  const finishAll = async (result: { status: "finished" | "failed" | "interrupted"; error?: string }) => {
    await setup.run.finish(result);
    for (const t of trackers) await t.finish?.(result);
  };
  let loop: LoopResult;
  try {
    loop = await runTrainingLoop({
      options: o,
      trainer: setup.trainer,
      train: setup.train,
      eval: setup.eval,
      collate: setup.collate,
      adapterSpec: spec,
      dataFingerprint: examplesFingerprint(setup.train),
      resumeState: setup.resume?.state ?? null,
      resumeDir: setup.resume?.dir ?? null,
      runId: setup.run.id,
      logMetrics: (step, m) => setup.run.log(step, m),
      trackers,
      progress: hooks.progress ?? "auto",
      signal: hooks.signal,
      onStep: hooks.onStep,
      onLog: hooks.onLog,
      evalOnStart: hooks.evalOnStart ?? true,
      dist: dist.size > 1 ? dist : undefined,
    });
  } catch (err) {
    await finishAll({ status: "failed", error: (err as Error).message ?? String(err) });
    throw err;
  }
  let adapterDir: string | null = null;
  if (loop.status === "finished") {
    if (main) await writeAdapter(o.saveModelDir, spec, setup.trainer.loraTensors());
    adapterDir = o.saveModelDir;
  }
  // every rank returns once rank 0 has written the last checkpoint and the adapter (a rank that exited at once, with
  // status 130 after a stop, would have the launcher kill rank 0 in the middle of its save)
  if (dist.size > 1) await dist.allreduce(new Float64Array(1));
  await finishAll({ status: loop.status });
  return { ...loop, adapterDir, runDir: setup.run.dir, options: o };
}

/** 32-bit FNV-1a of a string, as a number (exact in a float64). */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Before the first step of a data-parallel run: every rank must train the same thing (options, data, resumed
 * checkpoint, LoRA weights). A rank that read another train file or another checkpoint would silently train a
 * different model; compare min and max over the ranks and stop all of them with the field that differs.
 */
async function checkRanksAgree(dist: DataParallel, o: ResolvedFinetuneOptions, setup: TrainingSetup): Promise<void> {
  const { threads: _threads, ...shared } = o; // threads may differ from machine to machine
  let weights = 0;
  for (const t of setup.trainer.loraTensors())
    for (let i = 0; i < t.data.length; i += 97) weights += t.data[i] * ((i % 7) + 1);
  const fields: [string, number][] = [
    ["the options", hash32(JSON.stringify(shared))],
    ["the training data (--train_file, its tokens)", hash32(examplesFingerprint(setup.train))],
    ["the evaluation data", setup.eval ? hash32(examplesFingerprint(setup.eval)) : -1],
    ["the resumed checkpoint's step", setup.resume ? setup.resume.state.globalStep : -1],
    ["the LoRA weights (a different checkpoint?)", weights],
  ];
  const lo = new Float64Array(fields.map(([, v]) => v));
  const hi = new Float64Array(lo);
  await dist.allreduce(lo, "min");
  await dist.allreduce(hi, "max");
  const differ = fields.filter((_, i) => lo[i] !== hi[i]).map(([name]) => name);
  if (differ.length) {
    throw new Error(
      `the ${dist.size} ranks disagree on ${differ.join(", ")}: every rank must see the same files (a shared filesystem, or identical copies) and options`,
    );
  }
}

/** What the engine is built from (the Engine contract in docs/architecture.md; src/train/native.ts takes it). */
export interface TrainerSpec {
  /** The engine's model config with headDim resolved. */
  config: Required<EngineModelConfig>;
  /** F32/F16/BF16, or ggml block types (a GGUF base, or --base_dtype q8_0/q4_k). */
  weights: Record<string, { data: Uint8Array; dtype: WeightDtype; shape: number[] }>;
  lora: { rank: number; alpha: number; dropout: number; targetModules: string[]; useRslora: boolean };
  maxBatch: number;
  maxSeqLen: number;
  threads: number;
  seed: number;
  recompute: boolean;
  device: "cpu" | "cuda";
  optimizer: { beta1: number; beta2: number; eps: number; weightDecay: number; maxGradNorm: number };
}

/** An engine as finetune() uses it: the loop's methods, and dispose() to free it. */
export type FinetuneTrainer = LoopTrainer & { dispose?(): void };

/** Options with the Python names (config.json of a run folder, --dry_run). */
export function pythonNamedOptions(o: ResolvedFinetuneOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[PYTHON_OPTION_NAMES[k as keyof typeof PYTHON_OPTION_NAMES] ?? k] = v;
  return out;
}

/** The trainer spec for a base model and a run's options. */
export function trainerSpecFor(
  base: Pick<TrainingBase, "config" | "weights">,
  o: ResolvedFinetuneOptions,
  maxBatch: number,
  maxSeqLen: number,
): TrainerSpec {
  const c = base.config;
  const weights: TrainerSpec["weights"] = { ...base.weights };
  return {
    config: { ...engineModelConfig(c), headDim: c.headDim },
    weights,
    lora: {
      rank: o.loraRank,
      alpha: o.loraAlpha,
      dropout: o.loraDropout,
      targetModules: [...o.targetModules],
      useRslora: o.useRslora,
    },
    maxBatch,
    maxSeqLen,
    threads: o.threads,
    seed: o.seed,
    recompute: o.recompute,
    device: o.device,
    optimizer: {
      beta1: o.adamBeta1,
      beta2: o.adamBeta2,
      eps: o.adamEpsilon,
      weightDecay: o.weightDecay,
      maxGradNorm: o.maxGradNorm,
    },
  };
}

/** The loader's view of src/model's tokenizer (end of turn: the tokenizer's EOS, `<|im_end|>` for Qwen2.5 chat). */
export function dataTokenizerOf(tok: Tokenizer): DataTokenizer {
  const eosTokenId = tok.eosTokenId;
  if (eosTokenId === undefined)
    throw new Error(
      `${tok.dir}: the tokenizer has no eos_token (tokenizer_config.json); training needs it to end answers`,
    );
  return {
    renderChat: (messages, addGenerationPrompt) =>
      tok.applyChatTemplate(messages, { addGenerationPrompt, tokenize: false }),
    encode: (text) => tok.encode(text),
    eosToken: tok.decode([eosTokenId]),
    eosTokenId,
    padTokenId: tok.padTokenId ?? eosTokenId,
  };
}

const tokenizers = new Map<string, Promise<Tokenizer>>();
/** Tokenizers are slow to build (seconds for Qwen's 151k vocabulary): reuse one per base while its files are unchanged. */
function cachedTokenizer(base: TrainingBase): Promise<Tokenizer> {
  const key = base.tokenizerKey;
  let t = tokenizers.get(key);
  if (!t) {
    t = base.loadTokenizer();
    t.catch(() => tokenizers.delete(key));
    tokenizers.set(key, t);
  }
  return t;
}

/** The run folder to continue: the checkpoint's run when its folder is still under logdir. */
function resumableRunId(o: ResolvedFinetuneOptions, c: LoadedCheckpoint | null): string | undefined {
  const id = c?.state.runId;
  if (!id || !existsSync(join(o.logdir, id, "status.json"))) return undefined;
  return id;
}

/** The native engine (loaded on first use, so finetune() with another engine never needs the addon). */
async function nativeTrainer(spec: TrainerSpec): Promise<FinetuneTrainer> {
  const { createNativeTrainer } = await import("./native.js");
  return createNativeTrainer(spec);
}

/** Fine-tunes a Qwen2 model with LoRA. See docs/training.md. */
export async function finetune(options: FinetuneRunOptions = {}): Promise<FinetuneResult> {
  const launch = detectLaunch();
  // One GPU per rank: narrow CUDA_VISIBLE_DEVICES before anything can start CUDA (harmless for CPU runs).
  if (launch.size > 1) selectLocalGpu(launch);
  const o = resolveFinetuneOptions(options, cudaBuilt());
  const main = launch.rank === 0;
  const say =
    options.onMessage ??
    ((text: string) => {
      if (options.progress !== false && main) process.stderr.write(text + "\n");
    });
  checkOutputDir(o.outputDir);
  checkOutputDir(o.saveModelDir);
  if (o.reportTo.includes("swanlab") && !process.env.SWANLAB_API_KEY)
    throw new FinetuneOptionError("reportTo", `finetune: ${SWANLAB_KEY_MISSING}`);
  if (main) removeStaleTempDirs(o.outputDir);
  // which checkpoints were skipped is said even without progress output: it changes what the run continues from
  const resumeDir = resolveResumeCheckpoint(
    o,
    options.onMessage ??
      ((t) => {
        if (main) process.stderr.write(t + "\n");
      }),
  );
  if (resumeDir) checkResumeLoraSettings(resumeDir, o);
  const resume: LoadedCheckpoint | null = resumeDir ? loadCheckpoint(resumeDir) : null;

  const base = await openTrainingBase(o.modelName, {
    baseDtype: o.baseDtype,
    threads: o.threads,
    progress: options.progress !== false,
    onMessage: say,
  });
  const modelDir = base.source;
  say(`base model: ${base.source}: ${base.description}`);
  const tokenizer = dataTokenizerOf(await cachedTokenizer(base));
  const train = loadTrainingData(o.trainFile, tokenizer, o.maxSeqLength);
  say(`train data: ${formatLoadStats(train.stats, o.maxSeqLength)}`);
  const evalData = o.evalFile ? loadTrainingData(o.evalFile, tokenizer, o.maxSeqLength) : null;
  if (evalData) say(`eval data: ${formatLoadStats(evalData.stats, o.maxSeqLength)}`);

  const maxSeqLen = Math.max(train.stats.maxLength, evalData?.stats.maxLength ?? 0);
  const maxBatch = Math.max(o.perDeviceTrainBatchSize, evalData ? o.perDeviceEvalBatchSize : 0);
  const spec = trainerSpecFor(base, o, maxBatch, maxSeqLen);
  // Several ranks: MPI starts here, after the checks every rank makes alike, so that a bad option or file ends each
  // rank on its own without MPI.
  let dist: DataParallel = SINGLE_PROCESS;
  if (launch.size > 1) {
    dist = openDataParallel({ device: o.device, timeoutS: o.ddpTimeout, launch });
    say(
      `data-parallel: ${dist.size} ranks (${launch.launcher}, ${dist.backend}), global batch ${o.perDeviceTrainBatchSize} × ${o.gradientAccumulationSteps} × ${dist.size} = ${o.perDeviceTrainBatchSize * o.gradientAccumulationSteps * dist.size}`,
    );
    if (dist.note) say(`data-parallel: ${dist.note}`);
  }
  try {
    return await trainOnRanks(o, options, base, modelDir, tokenizer, train, evalData, resume, spec, dist, say);
  } catch (err) {
    if (dist.size === 1) throw err;
    // The other ranks cannot go on without this one (and wait for it in the next collective): end the job.
    const e = err as Error;
    process.stderr.write(`sqlfocus: rank ${dist.rank} of ${dist.size}: ${e?.message ?? String(err)}\n`);
    return dist.abort(1);
  }
}

async function trainOnRanks(
  o: ResolvedFinetuneOptions,
  options: FinetuneRunOptions,
  base: TrainingBase,
  modelDir: string,
  tokenizer: DataTokenizer,
  train: ReturnType<typeof loadTrainingData>,
  evalData: ReturnType<typeof loadTrainingData> | null,
  resume: LoadedCheckpoint | null,
  spec: TrainerSpec,
  dist: DataParallel,
  say: (text: string) => void,
): Promise<FinetuneResult> {
  const main = dist.rank === 0;
  const trainer: FinetuneTrainer = options.createTrainer
    ? await options.createTrainer(spec)
    : await nativeTrainer(spec);
  try {
    const c = base.config;
    const run: RunSink = !main
      ? { id: "", dir: "", log: () => {}, finish: () => {} }
      : await createRun({
          logdir: o.logdir,
          name: o.runName ?? undefined,
          resume: resumableRunId(o, resume),
          config: {
            ...pythonNamedOptions(o),
            model_dir: modelDir,
            base_weights: base.description,
            model: {
              vocab_size: c.vocabSize,
              hidden_size: c.hiddenSize,
              intermediate_size: c.intermediateSize,
              num_hidden_layers: c.numHiddenLayers,
              num_attention_heads: c.numAttentionHeads,
              num_key_value_heads: c.numKeyValueHeads,
              tie_word_embeddings: c.tieWordEmbeddings,
              torch_dtype: c.torchDtype,
            },
            data: { train: train.stats, eval: evalData?.stats ?? null },
          },
        });
    say(`run folder: ${run.dir}${resume ? ` (resuming ${resume.dir})` : ""}`);
    // --report_to: TensorBoard event files in the run folder, SwanLab's cloud (beside the caller's own trackers);
    // rank 0 alone reports, as it alone writes the run folder
    const reported =
      o.reportTo.length === 0 || !main
        ? []
        : await runTrackers({
            run,
            config: pythonNamedOptions(o),
            tensorboard: o.reportTo.includes("tensorboard"),
            swanlab: o.reportTo.includes("swanlab"),
            warn: say,
          });
    if (reported.length) say(`reporting to: ${o.reportTo.join(", ")}`);
    const own =
      options.tracker === undefined ? [] : Array.isArray(options.tracker) ? options.tracker : [options.tracker];
    return await trainWithSetup(
      o,
      { ...options, tracker: [...own, ...reported], progress: main ? options.progress : false },
      {
        trainer,
        train: train.examples,
        eval: evalData?.examples ?? null,
        collate: (examples) => collate(examples, tokenizer.padTokenId),
        run,
        resume,
        dist,
      },
    );
  } finally {
    trainer.dispose?.();
  }
}
