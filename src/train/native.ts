// The typed JS face of the native training engine (native/addon/trainer.cpp → native/core): a LoopTrainer
// (src/train/loop.ts) plus logits(), memory() and dispose(). Base weights are handed over as views (e.g. into
// mapped safetensors) and read in place; the trainer keeps them referenced while it lives.
import type { OpenedModel, Qwen2Config } from "../model/index.js";
import { loadAddon } from "../native/index.js";
import type { LoraTensor } from "../model/index.js";
import type { OptimizerState } from "./checkpoint.js";
import type { LoopTrainer } from "./loop.js";

export type WeightDtype = "F32" | "F16" | "BF16";

export interface EngineModelConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Defaults to hiddenSize / numHeads. */
  headDim?: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
}

/** One base tensor: bytes in its file dtype, Hugging Face shape ([out, in] for Linear weights). */
export interface EngineWeight {
  data: Uint8Array;
  dtype: WeightDtype;
  shape: number[];
}

export interface NativeTrainerOptions {
  config: EngineModelConfig;
  /** Hugging Face tensor name → tensor. q/k/v biases are optional; lm_head.weight only when not tied. */
  weights: Record<string, EngineWeight>;
  lora: { rank: number; alpha: number; dropout: number; targetModules?: string[]; useRslora?: boolean };
  maxBatch: number;
  maxSeqLen: number;
  /** Worker threads of the kernels (default 2). */
  threads?: number;
  seed: number;
  /** Keep only each layer's input; recompute its activations in the backward pass (less memory, ~30% slower). */
  recompute?: boolean;
  device?: "cpu" | "cuda";
  optimizer?: { beta1?: number; beta2?: number; eps?: number; weightDecay?: number; maxGradNorm?: number };
  /** Tokens per lm_head + cross-entropy chunk (default 128): the logits scratch is ceChunk × vocab floats. */
  ceChunk?: number;
}

export type EngineMemory = {
  weightsBytes: number;
  loraBytes: number;
  optimizerBytes: number;
  activationsBytes: number;
};

/** The dropout stream: uint64 seed and counter as decimal strings (exact in JSON). */
export interface EngineRngState {
  seed: string;
  counter: string;
}

export interface NativeTrainer extends LoopTrainer {
  forwardBackward(inputIds: Int32Array, labels: Int32Array, batch: number, seqLen: number, lossScale: number): Promise<{ lossSum: number; tokens: number; ms: number }>;
  optimizerStep(lr: number): Promise<{ gradNorm: number; ms: number }>;
  evaluate(inputIds: Int32Array, labels: Int32Array, batch: number, seqLen: number): Promise<{ lossSum: number; tokens: number }>;
  /** All logits, [batch · seqLen · vocab] (tests and parity checks). */
  logits(inputIds: Int32Array, batch: number, seqLen: number): Promise<Float32Array>;
  loraTensors(): LoraTensor[];
  setLoraTensors(list: LoraTensor[]): void;
  optimizerState(): OptimizerState;
  setOptimizerState(state: OptimizerState): void;
  rngState(): EngineRngState;
  setRngState(state: unknown): void;
  memory(): EngineMemory;
  dispose(): void;
}

interface TrainerAddon {
  buildInfo(): { cuda: boolean };
  Trainer: new (options: NativeTrainerOptions) => NativeTrainer;
}

/** Creates the engine; throws with the offending field or tensor named when the options or weights are wrong. */
export function createNativeTrainer(options: NativeTrainerOptions): NativeTrainer {
  const addon = loadAddon<TrainerAddon>();
  if (options.device === "cuda" && addon.buildInfo().cuda !== true) {
    throw new Error("createNativeTrainer: device 'cuda' is not available in this build (no CUDA toolkit with cuBLAS was found when the addon was built; rebuild with SQLFOCUS_CUDA=on npm run build:native, or use 'cpu')");
  }
  if (typeof addon.Trainer !== "function") throw new Error("sqlfocus: the native addon has no Trainer (rebuild it with 'npm run build:native')");
  return new addon.Trainer(options);
}

/** The engine's model config from src/model's Qwen2Config. */
export function engineModelConfig(c: Qwen2Config): EngineModelConfig {
  return {
    vocabSize: c.vocabSize,
    hiddenSize: c.hiddenSize,
    intermediateSize: c.intermediateSize,
    numLayers: c.numHiddenLayers,
    numHeads: c.numAttentionHeads,
    numKvHeads: c.numKeyValueHeads,
    headDim: c.headDim,
    ropeTheta: c.ropeTheta,
    rmsNormEps: c.rmsNormEps,
    tieWordEmbeddings: c.tieWordEmbeddings,
  };
}

/** Zero-copy views of an opened model's base weights (mapped safetensors), in the engine's form. */
export function engineWeightsFromModel(model: OpenedModel): Record<string, EngineWeight> {
  const out: Record<string, EngineWeight> = {};
  for (const name of model.tensorNames) {
    if (!name.startsWith("model.") && name !== "lm_head.weight") continue;
    const t = model.tensor(name);
    if (t.dtype !== "F32" && t.dtype !== "F16" && t.dtype !== "BF16") throw new Error(`${name}: dtype ${t.dtype} is not supported by the engine (F32, F16, BF16)`);
    out[name] = { data: t.data, dtype: t.dtype, shape: t.shape };
  }
  return out;
}
