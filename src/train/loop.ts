// The training loop: epochs of seeded micro-batches, gradient accumulation with loss normalised over the whole
// accumulation window, the learning-rate schedule, logging/eval/checkpoint cadence, resume from a checkpoint's
// exact position, NaN/inf stop, and graceful interruption. Engine-agnostic: it drives any object with the
// Trainer's methods (src/train/native.ts), so finetune() wires the real engine and tests can wire others.
// Data-parallel (ctx.dist, src/distributed): every rank walks the same global order; the micro-batches of one
// optimizer step (gradient_accumulation_steps × world size of them) are dealt round-robin to the ranks, the LoRA
// gradients are summed over the ranks before the one AdamW update all ranks apply, and rank 0 alone logs and writes.
import type { DataParallel } from "../distributed/index.js";
import type { LoraAdapterSpec, LoraTensor } from "../model/index.js";
import { isEngineError } from "../native/index.js";
import {
  checkpointDir,
  latestCheckpoint,
  rotateCheckpoints,
  saveCheckpoint,
  SQLFOCUS_STATE_FORMAT,
  trainerStateJson,
  type LogHistoryEntry,
  type LoopState,
  type OptimizerState,
} from "./checkpoint.js";
import type { ResolvedFinetuneOptions } from "./options.js";
import { createTrainProgress, formatStepLine } from "./progress.js";
import { epochBatches, sequentialBatches } from "./sampler.js";
import {
  learningRateAt,
  totalTrainingSteps,
  updateStepsPerEpoch,
  warmupStepsFor,
  type ScheduleSpec,
} from "./schedule.js";

/** A tokenized example: labels are -100 on prompt tokens; position t predicts labels[t + 1]. */
export interface TrainExample {
  inputIds: Int32Array;
  labels: Int32Array;
}

/** A right-padded micro-batch, row-major [batch, seqLen]. */
export interface CollatedBatch {
  inputIds: Int32Array;
  labels: Int32Array;
  batch: number;
  seqLen: number;
  /** Real (non-pad) tokens. */
  inputTokens: number;
  /** Tokens that carry a loss: positions t < seqLen−1 whose labels[t + 1] is not -100. */
  labelTokens: number;
}

/** The engine methods the loop uses (the native Trainer's JS face). */
export interface LoopTrainer {
  forwardBackward(
    inputIds: Int32Array,
    labels: Int32Array,
    batch: number,
    seqLen: number,
    lossScale: number,
  ): Promise<{ lossSum: number; tokens: number; ms?: number }>;
  optimizerStep(lr: number): Promise<{ gradNorm: number; ms?: number }>;
  evaluate(
    inputIds: Int32Array,
    labels: Int32Array,
    batch: number,
    seqLen: number,
  ): Promise<{ lossSum: number; tokens: number }>;
  loraTensors(): LoraTensor[];
  setLoraTensors(list: LoraTensor[]): void;
  optimizerState(): OptimizerState;
  setOptimizerState(state: OptimizerState): void;
  rngState(): unknown;
  setRngState(state: unknown): void;
  memory?(): Record<string, number>;
}

/** Extra metric sinks (the run folder is always written; the dashboard adds TensorBoard/SwanLab-like sinks). */
export interface TrainTracker {
  log(step: number, metrics: Record<string, number>): void | Promise<void>;
  finish?(result: { status: "finished" | "failed" | "interrupted"; error?: string }): void | Promise<void>;
}

/** After every optimizer step. */
export interface StepEvent {
  step: number;
  maxSteps: number;
  epoch: number;
  /** Mean token loss of this step's accumulation window (null when it had no label tokens). */
  loss: number | null;
  lossSum: number;
  tokens: number;
  lr: number;
  gradNorm: number;
}

/** Every logged entry (training window, evaluation, final summary), as in Hugging Face's log_history. */
export type LogEvent = LogHistoryEntry & { step: number };

export class TrainingDivergedError extends Error {
  constructor(
    message: string,
    readonly step: number,
    readonly lastCheckpoint: string | null,
  ) {
    super(message);
    this.name = "TrainingDivergedError";
  }
}

export interface LoopContext {
  options: ResolvedFinetuneOptions;
  trainer: LoopTrainer;
  train: TrainExample[];
  eval: TrainExample[] | null;
  collate(examples: TrainExample[]): CollatedBatch;
  adapterSpec: LoraAdapterSpec;
  /** Fingerprint of the tokenized training data (resume check). */
  dataFingerprint: string;
  /** A checkpoint to resume (already loaded into the trainer by the caller), or null. */
  resumeState: LoopState | null;
  resumeDir: string | null;
  runId: string | null;
  /** Appends to the run folder's metrics.jsonl. */
  logMetrics(step: number, metrics: Record<string, number>): void | Promise<void>;
  trackers: TrainTracker[];
  progress: boolean | "auto";
  signal?: AbortSignal;
  onStep?: (e: StepEvent) => void;
  onLog?: (e: LogEvent) => void;
  /** Evaluate before the first step (when there is eval data and the run is not resumed). */
  evalOnStart: boolean;
  /** The ranks of a data-parallel job (absent: one process). Only rank 0 logs, emits and writes checkpoints. */
  dist?: DataParallel;
}

export interface LoopResult {
  status: "finished" | "interrupted";
  globalStep: number;
  maxSteps: number;
  epoch: number;
  lastCheckpoint: string | null;
  firstLoss: number | null;
  lastLoss: number | null;
  trainLoss: number | null;
  evalLoss: number | null;
  initialEvalLoss: number | null;
  logHistory: LogEvent[];
  trainRuntimeS: number;
  tokensPerS: number;
}

/** Label tokens of one example (those that carry a loss once shifted). */
export function labelTokenCount(labels: Int32Array): number {
  let n = 0;
  for (let t = 1; t < labels.length; t++) if (labels[t] !== -100) n++;
  return n;
}

/** A stable fingerprint of tokenized examples (FNV-1a over lengths, ids and labels). */
export function examplesFingerprint(examples: readonly TrainExample[]): string {
  let h = 0x811c9dc5;
  const add = (x: number) => {
    h ^= x & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= (x >>> 8) & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= (x >>> 16) & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= x >>> 24;
    h = Math.imul(h, 0x01000193);
  };
  add(examples.length);
  for (const e of examples) {
    add(e.inputIds.length);
    for (let i = 0; i < e.inputIds.length; i++) {
      add(e.inputIds[i]);
      add(e.labels[i]);
    }
  }
  return (h >>> 0).toString(16).padStart(8, "0") + ":" + examples.length;
}

function finite(x: number): boolean {
  return Number.isFinite(x);
}

/** The dropout stream of engines that expose it as { seed, counter } (decimal strings), as the native Trainer does. */
function rngCounter(state: unknown): { seed: string; counter: bigint } {
  const s = state as { seed?: unknown; counter?: unknown } | null;
  if (!s || typeof s.seed !== "string" || typeof s.counter !== "string" || !/^\d+$/.test(s.counter)) {
    throw new Error(
      "data-parallel training needs an engine whose rngState() is { seed, counter } (the native Trainer's)",
    );
  }
  return { seed: s.seed, counter: BigInt(s.counter) };
}

/** Where a resumed run continues in its epoch's micro-batches, when the global batch is unchanged but the per-device
 *  batch is not: the same example offset, counted in the new micro-batches. null: the offset falls inside one. */
function convertBatchInEpoch(
  batchInEpoch: number,
  oldBatch: number,
  newBatch: number,
  examples: number,
): number | null {
  const offset = Math.min(examples, batchInEpoch * oldBatch);
  if (offset >= examples) return Math.ceil(examples / newBatch);
  return offset % newBatch === 0 ? offset / newBatch : null;
}

/** Runs (or resumes) training to max steps, or until `signal` aborts. */
export async function runTrainingLoop(ctx: LoopContext): Promise<LoopResult> {
  const o = ctx.options;
  const bs = o.perDeviceTrainBatchSize;
  const ga = o.gradientAccumulationSteps;
  const dist = ctx.dist;
  const world = dist?.size ?? 1;
  const rank = dist?.rank ?? 0;
  const main = rank === 0;
  // Micro-batches per optimizer step over all ranks: the global batch is bs × ga × world examples (HF's count).
  const gaGlobal = ga * world;
  if (ctx.train.length === 0) throw new Error(`${o.trainFile}: no training examples`);
  const batchesPerEpoch = Math.ceil(ctx.train.length / bs);
  const stepsPerEpoch = updateStepsPerEpoch(batchesPerEpoch, gaGlobal);
  const maxSteps = totalTrainingSteps(o.maxSteps, o.numTrainEpochs, stepsPerEpoch);
  const schedule: ScheduleSpec = {
    type: o.lrSchedulerType,
    baseLr: o.learningRate,
    warmupSteps: warmupStepsFor(maxSteps, o.warmupSteps, o.warmupRatio),
    totalSteps: maxSteps,
  };

  const rs = ctx.resumeState;
  let resumeBatchInEpoch = rs?.batchInEpoch ?? 0;
  if (rs) {
    const d = rs.data;
    const savedWorld = d.worldSize ?? 1;
    const mismatch: string[] = [];
    // Same global batch (per-device batch × accumulation × world size): the same optimizer steps over the same
    // examples, whatever the world size. With the same per-device batch the continuation is exact (dropout included).
    const savedGlobal = d.batchSize * d.gradientAccumulationSteps * savedWorld;
    if (savedGlobal !== bs * gaGlobal) {
      mismatch.push(
        `global batch (per_device_train_batch_size × gradient_accumulation_steps × world size) ${d.batchSize} × ${d.gradientAccumulationSteps} × ${savedWorld} = ${savedGlobal} → ${bs} × ${ga} × ${world} = ${bs * gaGlobal}`,
      );
    } else if (d.batchSize !== bs) {
      const converted = convertBatchInEpoch(rs.batchInEpoch, d.batchSize, bs, ctx.train.length);
      if (converted === null)
        mismatch.push(
          `per_device_train_batch_size ${d.batchSize} → ${bs} (the checkpoint's position is not on a micro-batch boundary of the new size)`,
        );
      else resumeBatchInEpoch = converted;
    }
    if (d.seed !== o.seed) mismatch.push(`seed ${d.seed} → ${o.seed}`);
    if (d.fingerprint !== ctx.dataFingerprint)
      mismatch.push(`training data (${d.examples} → ${ctx.train.length} examples, or their tokens)`);
    if (mismatch.length) {
      throw new Error(
        `${ctx.resumeDir}: cannot resume: the run changed since this checkpoint (${mismatch.join("; ")}); resume with the same data and global batch, or start a new output_dir`,
      );
    }
  }
  const dataSpec = {
    examples: ctx.train.length,
    batchSize: bs,
    gradientAccumulationSteps: ga,
    worldSize: world,
    seed: o.seed,
    fingerprint: ctx.dataFingerprint,
  };
  const state: LoopState = rs
    ? { ...rs, maxSteps, batchInEpoch: resumeBatchInEpoch, data: { ...rs.data, ...dataSpec }, options: rs.options }
    : {
        format: SQLFOCUS_STATE_FORMAT,
        globalStep: 0,
        maxSteps,
        epochIndex: 0,
        batchInEpoch: 0,
        data: dataSpec,
        rng: null,
        window: { lossSum: 0, tokens: 0, inputTokens: 0, steps: 0, lastGradNorm: null, ms: 0 },
        totals: { lossSum: 0, tokens: 0, inputTokens: 0 },
        logHistory: [],
        runId: ctx.runId,
        options: { ...o },
      };
  state.runId = ctx.runId;
  const epochOf = (s: LoopState) => s.epochIndex + s.batchInEpoch / batchesPerEpoch;

  const progress = createTrainProgress(main ? ctx.progress : false, state.globalStep);
  const history = state.logHistory as LogEvent[];
  let lastCheckpoint: string | null = ctx.resumeDir;
  let lastSavedStep = rs ? rs.globalStep : -1;
  let evalLoss: number | null = null;
  let initialEvalLoss: number | null = null;
  let lastEvalStep = -1;
  const t0 = performance.now();
  let sessionInputTokens = 0;

  const emit = async (step: number, metrics: Record<string, number>) => {
    if (!main) return;
    await ctx.logMetrics(step, metrics);
    for (const t of ctx.trackers) await t.log(step, metrics);
  };
  const memoryMetrics = (): Record<string, number> => {
    const m: Record<string, number> = { mem_rss_mb: process.memoryUsage.rss() / 2 ** 20 };
    const mem = ctx.trainer.memory?.();
    if (mem)
      for (const [k, v] of Object.entries(mem))
        if (typeof v === "number")
          m[`mem_${k.replace(/Bytes$/, "").replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())}_mb`] = v / 2 ** 20;
    return m;
  };

  const evaluate = async (): Promise<number | null> => {
    if (!ctx.eval || ctx.eval.length === 0) return null;
    const started = performance.now();
    let lossSum = 0;
    let tokens = 0;
    const batches = sequentialBatches(ctx.eval.length, o.perDeviceEvalBatchSize);
    // Sharded: rank r evaluates batches r, r + world, …; the sums are reduced.
    for (let k = rank; k < batches.length; k += world) {
      const b = ctx.collate(Array.from(batches[k], (i) => ctx.eval![i]));
      if (b.labelTokens === 0) continue;
      const r = await ctx.trainer.evaluate(b.inputIds, b.labels, b.batch, b.seqLen);
      lossSum += r.lossSum;
      tokens += r.tokens;
    }
    if (dist && world > 1) {
      const sums = new Float64Array([lossSum, tokens]);
      await collective(dist.allreduce(sums, "sum"));
      lossSum = sums[0];
      tokens = sums[1];
    }
    const loss = tokens > 0 ? lossSum / tokens : null;
    const runtime = (performance.now() - started) / 1000;
    const entry: LogEvent = {
      epoch: epochOf(state),
      eval_loss: loss,
      eval_runtime: runtime,
      eval_samples_per_second: ctx.eval.length / Math.max(runtime, 1e-9),
      eval_steps_per_second: batches.length / Math.max(runtime, 1e-9),
      step: state.globalStep,
    };
    history.push(entry);
    ctx.onLog?.(entry);
    if (loss !== null) await emit(state.globalStep, { eval_loss: loss, epoch: epochOf(state) });
    progress.line(
      `eval  step ${state.globalStep}/${maxSteps} | eval_loss ${loss === null ? "-" : loss.toFixed(4)} | ${runtime.toFixed(1)} s`,
    );
    lastEvalStep = state.globalStep;
    return loss;
  };

  const save = async (): Promise<string> => {
    state.rng = ctx.trainer.rngState();
    if (!main) {
      // Rank 0 writes; the others only know where.
      lastCheckpoint = checkpointDir(o.outputDir, state.globalStep);
      lastSavedStep = state.globalStep;
      return lastCheckpoint;
    }
    const dir = await saveCheckpoint(o.outputDir, {
      adapter: { spec: ctx.adapterSpec, tensors: ctx.trainer.loraTensors() },
      optimizer: ctx.trainer.optimizerState(),
      trainerState: trainerStateJson({
        epoch: epochOf(state),
        globalStep: state.globalStep,
        maxSteps,
        numTrainEpochs: o.numTrainEpochs,
        loggingSteps: o.loggingSteps,
        evalSteps: o.evalSteps,
        saveSteps: o.saveSteps,
        trainBatchSize: bs,
        numInputTokensSeen: state.totals.inputTokens,
        logHistory: state.logHistory,
        shouldTrainingStop: state.globalStep >= maxSteps,
      }),
      state,
    });
    lastCheckpoint = dir;
    lastSavedStep = state.globalStep;
    const removed = rotateCheckpoints(o.outputDir, o.saveTotalLimit, dir);
    progress.line(`saved ${dir}${removed.length ? ` (removed ${removed.length} older)` : ""}`);
    return dir;
  };

  /** A collective with the other ranks; when one of them is gone, the error says where to resume. */
  const collective = async <T>(call: Promise<T>): Promise<T> => {
    try {
      return await call;
    } catch (err) {
      const e = err as Error & { code?: string };
      progress.stop();
      const last = lastCheckpoint ?? latestCheckpoint(o.outputDir);
      const hint = last
        ? `The last checkpoint is ${last}: start the job again with --resume_from_checkpoint true.`
        : "No checkpoint was saved yet.";
      const out = new Error(
        `training stopped at step ${state.globalStep + 1}/${maxSteps}: ${e?.message ?? String(err)}. ${hint}`,
        { cause: err },
      );
      (out as Error & { code?: string }).code = e?.code;
      throw out;
    }
  };

  const diverged = async (what: string): Promise<never> => {
    progress.stop();
    const last = lastCheckpoint ?? latestCheckpoint(o.outputDir);
    const hint = last
      ? `The last good checkpoint is ${last} (resume with --resume_from_checkpoint ${last}).`
      : "No checkpoint was saved before this step.";
    throw new TrainingDivergedError(
      `training stopped at step ${state.globalStep + 1}/${maxSteps} (epoch ${epochOf(state).toFixed(2)}): ${what}. ${hint} ` +
        `Try a lower --learning_rate (now ${o.learningRate}), a higher --warmup_steps, or --max_grad_norm 1.0; check the base weights for NaN.`,
      state.globalStep + 1,
      last,
    );
  };

  try {
    if (ctx.evalOnStart && !rs && ctx.eval) initialEvalLoss = evalLoss = await evaluate();
    let batches = epochBatches(ctx.train.length, bs, o.seed, state.epochIndex);
    let status: "finished" | "interrupted" = "finished";
    while (state.globalStep < maxSteps) {
      if (state.batchInEpoch >= batches.length) {
        state.epochIndex++;
        state.batchInEpoch = 0;
        batches = epochBatches(ctx.train.length, bs, o.seed, state.epochIndex);
      }
      const stepStart = performance.now();
      const windowIdx = batches.slice(state.batchInEpoch, Math.min(batches.length, state.batchInEpoch + gaGlobal));
      // The loss is normalised over the label tokens of the whole global window, which every rank can count.
      const windowLabelTokens = windowIdx.map((idx) => {
        let n = 0;
        for (const i of idx) n += labelTokenCount(ctx.train[i].labels);
        return n;
      });
      const windowTokens = windowLabelTokens.reduce((s, n) => s + n, 0);
      const lossScale = windowTokens > 0 ? 1 / windowTokens : 0;
      // This rank's micro-batches: j = rank, rank + world, … of the window (all of them in one process).
      const mine =
        world === 1 ? windowIdx.map((_, j) => j) : windowIdx.map((_, j) => j).filter((j) => j % world === rank);
      // Dropout: micro-batch j of the window draws the masks it would draw in one process (the engine's counter
      // advances once per micro-batch that has label tokens), so N ranks give one process's update.
      const rng0 = world > 1 ? rngCounter(ctx.trainer.rngState()) : null;
      let stepLossSum = 0;
      let stepTokens = 0;
      let stepInputTokens = 0;
      let commMs = 0;
      let commBytes = 0;
      for (const j of mine) {
        const b = ctx.collate(Array.from(windowIdx[j], (i) => ctx.train[i]));
        stepInputTokens += b.inputTokens;
        if (b.labelTokens === 0) continue;
        if (rng0) {
          let before = 0n;
          for (let k = 0; k < j; k++) if (windowLabelTokens[k] > 0) before++;
          ctx.trainer.setRngState({ seed: rng0.seed, counter: String(rng0.counter + before) });
        }
        const r = await ctx.trainer.forwardBackward(b.inputIds, b.labels, b.batch, b.seqLen, lossScale);
        if (world === 1 && !finite(r.lossSum))
          await diverged(`the loss is ${r.lossSum} (not finite) in a forward pass`);
        stepLossSum += r.lossSum;
        stepTokens += r.tokens;
      }
      let stopRequested: boolean | null = null;
      if (dist && rng0) {
        ctx.trainer.setRngState({
          seed: rng0.seed,
          counter: String(rng0.counter + BigInt(windowLabelTokens.filter((n) => n > 0).length)),
        });
        // One small reduction (losses, tokens, a stop request from any rank), then the gradients.
        const sums = new Float64Array([stepLossSum, stepTokens, stepInputTokens, ctx.signal?.aborted ? 1 : 0]);
        await collective(dist.allreduce(sums, "sum"));
        [stepLossSum, stepTokens, stepInputTokens] = [sums[0], sums[1], sums[2]];
        stopRequested = sums[3] > 0;
        if (!finite(stepLossSum)) await diverged(`the loss is ${stepLossSum} (not finite) in a forward pass`);
        const g = await collective(dist.allreduceGradients(ctx.trainer));
        commMs = g.ms;
        commBytes = g.bytes;
      }
      const lr = learningRateAt(schedule, state.globalStep);
      let gradNorm: number;
      try {
        gradNorm = (await ctx.trainer.optimizerStep(lr)).gradNorm;
      } catch (err) {
        if (isEngineError(err, "SF_ERR_NONFINITE_GRADIENTS"))
          return await diverged(`the gradients are not finite (${err.message}); no update was applied`);
        throw err;
      }
      if (!finite(gradNorm)) await diverged(`the gradient norm is ${gradNorm}`);
      state.globalStep++;
      state.batchInEpoch += windowIdx.length;
      const ms = performance.now() - stepStart;
      const w = state.window;
      w.lossSum += stepLossSum;
      w.tokens += stepTokens;
      w.inputTokens += stepInputTokens;
      w.steps++;
      w.lastGradNorm = gradNorm;
      w.ms += ms;
      state.totals.lossSum += stepLossSum;
      state.totals.tokens += stepTokens;
      state.totals.inputTokens += stepInputTokens;
      sessionInputTokens += stepInputTokens;
      const epoch = epochOf(state);
      const stepLoss = stepTokens > 0 ? stepLossSum / stepTokens : null;
      ctx.onStep?.({
        step: state.globalStep,
        maxSteps,
        epoch,
        loss: stepLoss,
        lossSum: stepLossSum,
        tokens: stepTokens,
        lr,
        gradNorm,
      });
      // The run folder and trackers get every optimizer step (the dashboard's curves); log_history, the progress
      // line and onLog keep Hugging Face's logging_steps windows.
      const stepMetrics: Record<string, number> = {
        lr,
        grad_norm: gradNorm,
        tokens_per_s: ms > 0 ? (stepInputTokens * 1000) / ms : 0,
        epoch,
        step_time_s: ms / 1000,
        ...memoryMetrics(),
      };
      if (stepLoss !== null) stepMetrics.loss = stepLoss;
      if (world > 1)
        Object.assign(stepMetrics, { allreduce_ms: commMs, allreduce_mb: commBytes / 2 ** 20, world_size: world });
      await emit(state.globalStep, stepMetrics);
      const tokensPerS = w.ms > 0 ? (w.inputTokens * 1000) / w.ms : 0;
      progress.update({
        step: state.globalStep,
        total: maxSteps,
        epoch,
        loss: w.tokens > 0 ? w.lossSum / w.tokens : lastLoggedLoss(history),
        lr,
        tokensPerS,
      });

      if (state.globalStep % o.loggingSteps === 0 || state.globalStep === maxSteps) {
        const loss = w.tokens > 0 ? w.lossSum / w.tokens : null;
        const entry: LogEvent = { epoch, grad_norm: gradNorm, learning_rate: lr, loss, step: state.globalStep };
        history.push(entry);
        ctx.onLog?.(entry);
        const elapsed = (performance.now() - t0) / 1000;
        const doneThisSession = state.globalStep - (rs ? rs.globalStep : 0);
        const eta = doneThisSession > 0 ? (elapsed / doneThisSession) * (maxSteps - state.globalStep) : undefined;
        progress.line(
          formatStepLine({ step: state.globalStep, total: maxSteps, epoch, loss, lr, tokensPerS, gradNorm }, eta),
        );
        state.window = { lossSum: 0, tokens: 0, inputTokens: 0, steps: 0, lastGradNorm: null, ms: 0 };
      }
      if (ctx.eval && state.globalStep % o.evalSteps === 0) evalLoss = await evaluate();
      if (state.globalStep % o.saveSteps === 0 || state.globalStep === maxSteps) await save();
      if ((stopRequested ?? ctx.signal?.aborted) && state.globalStep < maxSteps) {
        if (lastSavedStep !== state.globalStep) await save();
        status = "interrupted";
        break;
      }
    }
    if (status === "finished" && ctx.eval && lastEvalStep !== state.globalStep) evalLoss = await evaluate();
    const runtime = (performance.now() - t0) / 1000;
    const trainLoss = state.totals.tokens > 0 ? state.totals.lossSum / state.totals.tokens : null;
    if (status === "finished") {
      const steps = state.globalStep - (rs ? rs.globalStep : 0);
      const entry: LogEvent = {
        epoch: epochOf(state),
        step: state.globalStep,
        total_flos: 0,
        train_loss: trainLoss,
        train_runtime: runtime,
        train_samples_per_second: (steps * bs * gaGlobal) / Math.max(runtime, 1e-9),
        train_steps_per_second: steps / Math.max(runtime, 1e-9),
      };
      history.push(entry);
      ctx.onLog?.(entry);
      const metrics: Record<string, number> = { train_runtime_s: runtime };
      if (trainLoss !== null) metrics.train_loss = trainLoss;
      await emit(state.globalStep, metrics);
    }
    progress.stop();
    const trainEntries = history.filter((e) => e.loss !== undefined && e.loss !== null);
    return {
      status,
      globalStep: state.globalStep,
      maxSteps,
      epoch: epochOf(state),
      lastCheckpoint,
      firstLoss: trainEntries.length ? (trainEntries[0].loss as number) : null,
      lastLoss: trainEntries.length ? (trainEntries[trainEntries.length - 1].loss as number) : null,
      trainLoss,
      evalLoss,
      initialEvalLoss: initialEvalLoss ?? firstEvalLoss(history),
      logHistory: history,
      trainRuntimeS: runtime,
      tokensPerS: runtime > 0 ? sessionInputTokens / runtime : 0,
    };
  } finally {
    progress.stop();
  }
}

function lastLoggedLoss(history: LogEvent[]): number | null {
  for (let i = history.length - 1; i >= 0; i--)
    if (typeof history[i].loss === "number") return history[i].loss as number;
  return null;
}

function firstEvalLoss(history: LogEvent[]): number | null {
  for (const e of history) if (typeof e.eval_loss === "number") return e.eval_loss;
  return null;
}
