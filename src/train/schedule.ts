// Learning-rate schedules and step arithmetic, with Hugging Face Trainer's semantics (get_scheduler, warmup,
// steps per epoch), so a run here and the same run in the Python project follow the same learning rates.
import type { LrSchedulerType } from "./options.js";

export interface ScheduleSpec {
  type: LrSchedulerType;
  baseLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * Learning rate of the optimizer step that follows `completed` finished steps (0 for the first step), as
 * transformers' LambdaLR schedules compute it:
 *   linear:  warmup ramp step/warmup, then (total − step)/(total − warmup), floored at 0
 *   cosine:  warmup ramp, then ½·(1 + cos(π·progress)) (num_cycles 0.5)
 *   constant: base lr throughout (warmup ignored, as in transformers); constant_with_warmup: ramp then base.
 */
export function learningRateAt(spec: ScheduleSpec, completed: number): number {
  const { type, baseLr, warmupSteps: w, totalSteps: n } = spec;
  if (type === "constant") return baseLr;
  if (completed < w) return (baseLr * completed) / Math.max(1, w);
  if (type === "constant_with_warmup") return baseLr;
  const progress = (completed - w) / Math.max(1, n - w);
  if (type === "linear") return baseLr * Math.max(0, (n - completed) / Math.max(1, n - w));
  if (type === "cosine") return baseLr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
  throw new Error(`unknown lr_scheduler_type ${JSON.stringify(type)}`);
}

/** Warmup steps: warmup_steps when > 0, else ceil(warmup_ratio × total), as TrainingArguments.get_warmup_steps. */
export function warmupStepsFor(totalSteps: number, warmupSteps: number, warmupRatio: number): number {
  return warmupSteps > 0 ? warmupSteps : Math.ceil(totalSteps * warmupRatio);
}

/** Optimizer steps per epoch: a partial accumulation window at an epoch's end still makes a step. */
export function updateStepsPerEpoch(batchesPerEpoch: number, gradientAccumulationSteps: number): number {
  return Math.max(1, Math.ceil(batchesPerEpoch / gradientAccumulationSteps));
}

/** Total optimizer steps: max_steps when > 0, else ceil(epochs × steps per epoch). */
export function totalTrainingSteps(maxSteps: number, numTrainEpochs: number, stepsPerEpoch: number): number {
  return maxSteps > 0 ? maxSteps : Math.max(1, Math.ceil(numTrainEpochs * stepsPerEpoch));
}
