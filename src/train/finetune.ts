// finetune(): the whole job a user runs. Resolves options, the base model (src/model), the data
// (src/train/data), the native engine (src/train/native), the run folder (src/track) and a checkpoint to resume,
// then runs the loop (loop.ts) and saves the final adapter (PEFT format) to save-model/.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { loadAddon } from "../native/index.js";
import { writeAdapter, type LoraAdapterSpec } from "./adapter.js";
import { removeStaleTempDirs } from "./atomic-dir.js";
import { checkpointProblem, latestCheckpoint, loadCheckpoint, type LoadedCheckpoint } from "./checkpoint.js";
import { examplesFingerprint, runTrainingLoop, type CollatedBatch, type LogEvent, type LoopResult, type LoopTrainer, type StepEvent, type TrainExample, type TrainTracker } from "./loop.js";
import { resolveFinetuneOptions, type FinetuneOptions, type ResolvedFinetuneOptions } from "./options.js";

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
export function resolveResumeCheckpoint(o: ResolvedFinetuneOptions): string | null {
  if (o.resumeFromCheckpoint === null) return null;
  if (o.resumeFromCheckpoint === true) {
    const dir = latestCheckpoint(o.outputDir);
    if (!dir) throw new Error(`resume_from_checkpoint: no complete checkpoint (checkpoint-N/) in ${o.outputDir}`);
    return dir;
  }
  const dir = o.resumeFromCheckpoint;
  if (!existsSync(dir)) throw new Error(`resume_from_checkpoint: ${dir} does not exist`);
  const problem = checkpointProblem(dir);
  if (problem) throw new Error(`resume_from_checkpoint: ${dir} is not a complete checkpoint (${problem})`);
  return dir;
}

/** LoRA spec of a run, as written to adapter_config.json. */
export function adapterSpecOf(o: ResolvedFinetuneOptions): LoraAdapterSpec {
  return { baseModelNameOrPath: o.modelName, r: o.loraRank, loraAlpha: o.loraAlpha, loraDropout: o.loraDropout, targetModules: o.targetModules, useRslora: o.useRslora };
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
}

/** Restores a checkpoint into the engine: LoRA weights, AdamW state, dropout RNG. */
export function restoreCheckpoint(trainer: LoopTrainer, c: LoadedCheckpoint): void {
  trainer.setLoraTensors(c.loraTensors);
  trainer.setOptimizerState(c.optimizer);
  if (c.state.rng !== null && c.state.rng !== undefined) trainer.setRngState(c.state.rng);
}

/** Runs the loop on a prepared setup, saves the final adapter, closes the run folder. */
export async function trainWithSetup(o: ResolvedFinetuneOptions, hooks: FinetuneRunOptions, setup: TrainingSetup): Promise<FinetuneResult> {
  const spec = adapterSpecOf(o);
  const trackers = hooks.tracker === undefined ? [] : Array.isArray(hooks.tracker) ? hooks.tracker : [hooks.tracker];
  removeStaleTempDirs(o.outputDir);
  if (setup.resume) restoreCheckpoint(setup.trainer, setup.resume);
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
    });
  } catch (err) {
    await finishAll({ status: "failed", error: (err as Error).message ?? String(err) });
    throw err;
  }
  let adapterDir: string | null = null;
  if (loop.status === "finished") {
    await writeAdapter(o.saveModelDir, spec, setup.trainer.loraTensors());
    adapterDir = o.saveModelDir;
  }
  await finishAll({ status: loop.status });
  return { ...loop, adapterDir, runDir: setup.run.dir, options: o };
}

/** Fine-tunes a Qwen2 model with LoRA. See docs/training.md. */
export async function finetune(options: FinetuneRunOptions = {}): Promise<FinetuneResult> {
  const o = resolveFinetuneOptions(options, cudaBuilt());
  removeStaleTempDirs(o.outputDir);
  const resumeDir = resolveResumeCheckpoint(o);
  const loaded: LoadedCheckpoint | null = resumeDir ? loadCheckpoint(resumeDir) : null;
  void loaded;
  void resolve;
  throw new Error("finetune: waiting for src/model, src/train/data, src/train/native and src/track");
}
