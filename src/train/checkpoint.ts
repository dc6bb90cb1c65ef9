// Training checkpoints: `checkpoint-N/` folders holding the PEFT adapter, the AdamW state (optimizer.safetensors),
// Hugging Face's trainer_state.json and sqlfocus_state.json (data position, dropout RNG, logging accumulators),
// everything a resumed run needs to continue exactly as an uninterrupted one. Saved atomically (src/files' writeDirAtomic);
// only folders named exactly checkpoint-N whose state file says step N count as complete.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  pyFloat,
  pythonJsonDumps,
  readSafetensorsF32,
  serializeSafetensorsF32,
  writeAdapterFiles,
  type LoraAdapterSpec,
  type LoraTensor,
} from "../model/index.js";
import { writeDirAtomic, writeFileSynced } from "../files/index.js";

export const TRAINER_STATE_NAME = "trainer_state.json";
export const OPTIMIZER_NAME = "optimizer.safetensors";
export const SQLFOCUS_STATE_NAME = "sqlfocus_state.json";
export const SQLFOCUS_STATE_FORMAT = 1;

const CHECKPOINT_RE = /^checkpoint-(\d+)$/;

/** AdamW moments per LoRA tensor, as the engine exports them. */
export interface OptimizerState {
  step: number;
  tensors: { name: string; m: Float32Array; v: Float32Array }[];
}

/** One entry of Hugging Face's log_history (floats as numbers). */
export type LogHistoryEntry = Record<string, number | null>;

/** sqlfocus_state.json: what resuming needs beyond the adapter and the optimizer. */
export interface LoopState {
  format: number;
  globalStep: number;
  maxSteps: number;
  /** Epoch index of the next micro-batch, and that micro-batch's index within the epoch's order. */
  epochIndex: number;
  batchInEpoch: number;
  /** Checks that the run being resumed sees the same data order. worldSize: data-parallel ranks (absent: 1). */
  data: {
    examples: number;
    batchSize: number;
    gradientAccumulationSteps: number;
    worldSize?: number;
    seed: number;
    fingerprint: string;
  };
  /** The engine's RNG (dropout), opaque. */
  rng: unknown;
  /** Partial logging window (steps since the last log). */
  window: {
    lossSum: number;
    tokens: number;
    inputTokens: number;
    steps: number;
    lastGradNorm: number | null;
    ms: number;
  };
  /** Whole-run totals (train_loss at the end). */
  totals: { lossSum: number; tokens: number; inputTokens: number };
  logHistory: LogHistoryEntry[];
  runId: string | null;
  /** The TS options the run started with (informational). */
  options: Record<string, unknown>;
}

/** Hugging Face trainer_state.json (transformers 4.5x field set), as json.dumps(indent=2, sort_keys=True) + "\n". */
export function trainerStateJson(s: {
  epoch: number;
  globalStep: number;
  maxSteps: number;
  numTrainEpochs: number;
  loggingSteps: number;
  evalSteps: number;
  saveSteps: number;
  trainBatchSize: number;
  numInputTokensSeen: number;
  logHistory: LogHistoryEntry[];
  shouldTrainingStop: boolean;
}): string {
  const FLOAT_KEYS = new Set([
    "epoch",
    "loss",
    "learning_rate",
    "grad_norm",
    "eval_loss",
    "train_loss",
    "total_flos",
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "eval_runtime",
    "eval_samples_per_second",
    "eval_steps_per_second",
  ]);
  const history = s.logHistory.map((e) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) out[k] = v !== null && FLOAT_KEYS.has(k) ? pyFloat(v) : v;
    return out;
  });
  return (
    pythonJsonDumps({
      best_global_step: null,
      best_metric: null,
      best_model_checkpoint: null,
      epoch: pyFloat(s.epoch),
      eval_steps: s.evalSteps,
      global_step: s.globalStep,
      is_hyper_param_search: false,
      is_local_process_zero: true,
      is_world_process_zero: true,
      log_history: history,
      logging_steps: s.loggingSteps,
      max_steps: s.maxSteps,
      num_input_tokens_seen: s.numInputTokensSeen,
      num_train_epochs: Number.isInteger(s.numTrainEpochs) ? s.numTrainEpochs : pyFloat(s.numTrainEpochs),
      save_steps: s.saveSteps,
      stateful_callbacks: {
        TrainerControl: {
          args: {
            should_epoch_stop: false,
            should_evaluate: false,
            should_log: false,
            should_save: true,
            should_training_stop: s.shouldTrainingStop,
          },
          attributes: {},
        },
      },
      total_flos: pyFloat(0),
      train_batch_size: s.trainBatchSize,
      trial_name: null,
      trial_params: null,
    }) + "\n"
  );
}

export interface CheckpointContents {
  adapter: { spec: LoraAdapterSpec; tensors: readonly LoraTensor[] };
  optimizer: OptimizerState;
  trainerState: string;
  state: LoopState;
}

/** The folder of step N's checkpoint. */
export function checkpointDir(outputDir: string, step: number): string {
  return join(outputDir, `checkpoint-${step}`);
}

/** Writes checkpoint-N/ atomically; sqlfocus_state.json is written last, inside the temp folder. */
export async function saveCheckpoint(outputDir: string, c: CheckpointContents): Promise<string> {
  const dir = checkpointDir(outputDir, c.state.globalStep);
  await writeDirAtomic(dir, (tmp) => {
    writeAdapterFiles(tmp, c.adapter.spec, c.adapter.tensors, [
      ``,
      `Checkpoint at optimizer step ${c.state.globalStep} of ${c.state.maxSteps}.`,
    ]);
    const opt: LoraTensor[] = [];
    for (const t of c.optimizer.tensors) {
      opt.push({ name: `${t.name}.exp_avg`, shape: [t.m.length], data: t.m });
      opt.push({ name: `${t.name}.exp_avg_sq`, shape: [t.v.length], data: t.v });
    }
    writeFileSynced(
      join(tmp, OPTIMIZER_NAME),
      serializeSafetensorsF32(opt, { format: "sqlfocus-adamw", step: String(c.optimizer.step) }),
    );
    writeFileSynced(join(tmp, TRAINER_STATE_NAME), c.trainerState);
    writeFileSynced(join(tmp, SQLFOCUS_STATE_NAME), JSON.stringify(c.state, null, 1) + "\n");
  });
  return dir;
}

const REQUIRED_FILES = [
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  OPTIMIZER_NAME,
  TRAINER_STATE_NAME,
  SQLFOCUS_STATE_NAME,
];

/** Why a folder is not a complete sqlfocus checkpoint, or null when it is. */
export function checkpointProblem(dir: string): string | null {
  for (const f of REQUIRED_FILES) if (!existsSync(join(dir, f))) return `${f} is missing`;
  try {
    const s = JSON.parse(readFileSync(join(dir, SQLFOCUS_STATE_NAME), "utf8")) as LoopState;
    const m = CHECKPOINT_RE.exec(dir.split(/[\\/]/).pop() ?? "");
    if (s.format !== SQLFOCUS_STATE_FORMAT)
      return `${SQLFOCUS_STATE_NAME} has format ${s.format}, expected ${SQLFOCUS_STATE_FORMAT}`;
    if (m && Number(m[1]) !== s.globalStep)
      return `${SQLFOCUS_STATE_NAME} says step ${s.globalStep}, the folder says ${m[1]}`;
  } catch (err) {
    return `${SQLFOCUS_STATE_NAME} is unreadable: ${(err as Error).message}`;
  }
  return null;
}

/** Complete checkpoints in outputDir, oldest first. */
export function listCheckpoints(outputDir: string): { step: number; dir: string }[] {
  if (!existsSync(outputDir)) return [];
  const out: { step: number; dir: string }[] = [];
  for (const name of readdirSync(outputDir)) {
    const m = CHECKPOINT_RE.exec(name);
    if (!m) continue;
    const dir = join(outputDir, name);
    if (!statSync(dir).isDirectory() || checkpointProblem(dir) !== null) continue;
    out.push({ step: Number(m[1]), dir });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint, or null. */
export function latestCheckpoint(outputDir: string): string | null {
  const all = listCheckpoints(outputDir);
  return all.length ? all[all.length - 1].dir : null;
}

/** Deletes the oldest complete checkpoints beyond `limit` (never `keep`). Returns the deleted folders. */
export function rotateCheckpoints(outputDir: string, limit: number | null, keep: string): string[] {
  if (limit === null) return [];
  const all = listCheckpoints(outputDir);
  const removed: string[] = [];
  for (const c of all.slice(0, Math.max(0, all.length - limit))) {
    if (resolve(c.dir) === resolve(keep)) continue;
    rmSync(c.dir, { recursive: true, force: true });
    removed.push(c.dir);
  }
  return removed;
}

export interface LoadedCheckpoint {
  dir: string;
  state: LoopState;
  loraTensors: LoraTensor[];
  optimizer: OptimizerState;
}

/** Reads a checkpoint for resuming; errors say which file is wrong. */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const problem = checkpointProblem(dir);
  if (problem) throw new Error(`${dir}: not a complete sqlfocus checkpoint (${problem})`);
  const state = JSON.parse(readFileSync(join(dir, SQLFOCUS_STATE_NAME), "utf8")) as LoopState;
  const loraTensors = readSafetensorsF32(join(dir, ADAPTER_WEIGHTS_NAME)).map((t) => ({
    name: t.name,
    shape: t.shape,
    data: t.data,
  }));
  const optPath = join(dir, OPTIMIZER_NAME);
  const opt = readSafetensorsF32(optPath);
  const byName = new Map(opt.map((t) => [t.name, t.data]));
  const tensors: OptimizerState["tensors"] = [];
  for (const t of loraTensors) {
    const m = byName.get(`${t.name}.exp_avg`);
    const v = byName.get(`${t.name}.exp_avg_sq`);
    if (!m || !v) throw new Error(`${optPath}: no AdamW moments for ${t.name}`);
    tensors.push({ name: t.name, m, v });
  }
  return { dir, state, loraTensors, optimizer: { step: state.globalStep, tensors } };
}
