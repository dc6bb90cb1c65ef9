// The typed JS face of the native training engine: a LoopTrainer (src/train/loop.ts) plus logits(), memory() and
// dispose(), over the addon's thin Trainer binding (src/native/binding.ts → native/addon/trainer.cpp →
// native/core). This is where Hugging Face and PEFT names live: the weights by tensor name are checked (present,
// shaped as the config says, a supported dtype) and laid out as the C struct wants them, and the LoRA tensors get
// their PEFT names here (the native side only knows layer, module and A/B). The core validates the config and
// numeric parameters. Base weights are handed over as views (e.g. into mapped safetensors) and read in place; the
// trainer keeps them referenced while it lives.
import type { OpenedModel, Qwen2Config } from "../model/index.js";
import {
  loadAddon,
  NATIVE_HANDLE,
  SF_DEVICE,
  SF_DTYPE,
  SF_DTYPE_BLOCK,
  SF_LORA_BUFFER,
  type BindingLoraSlot,
  type BindingTensor,
  type BindingTrainer,
  type NativeAddon,
} from "../native/index.js";
import type { LoraTensor } from "../model/index.js";
import type { OptimizerState } from "./checkpoint.js";
import type { LoopTrainer } from "./loop.js";

/** F32 / F16 / BF16, or a ggml block type (GGUF tensors: "Q8_0", "Q4_K", "Q6_K", ...; rows quantized along the input
 *  dimension, dequantized by the engine tile by tile). */
export type WeightDtype =
  | "F32"
  | "F16"
  | "BF16"
  | "Q4_0"
  | "Q4_1"
  | "Q5_0"
  | "Q5_1"
  | "Q8_0"
  | "Q2_K"
  | "Q3_K"
  | "Q4_K"
  | "Q5_K"
  | "Q6_K"
  | (string & {});

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
  /** Tokens per lm_head + cross-entropy chunk (default: the device's, 128 on the CPU): the logits scratch is ceChunk × vocab floats. */
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
  forwardBackward(
    inputIds: Int32Array,
    labels: Int32Array,
    batch: number,
    seqLen: number,
    lossScale: number,
  ): Promise<{ lossSum: number; tokens: number; ms: number }>;
  optimizerStep(lr: number): Promise<{ gradNorm: number; ms: number }>;
  evaluate(
    inputIds: Int32Array,
    labels: Int32Array,
    batch: number,
    seqLen: number,
  ): Promise<{ lossSum: number; tokens: number }>;
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

/** The 12 tensors of a layer, in sf_layer_tensor order (sqlfocus.h); the three biases are optional. */
const LAYER_TENSORS = [
  "self_attn.q_proj.weight",
  "self_attn.k_proj.weight",
  "self_attn.v_proj.weight",
  "self_attn.o_proj.weight",
  "mlp.gate_proj.weight",
  "mlp.up_proj.weight",
  "mlp.down_proj.weight",
  "self_attn.q_proj.bias",
  "self_attn.k_proj.bias",
  "self_attn.v_proj.bias",
  "input_layernorm.weight",
  "post_attention_layernorm.weight",
] as const;

/** PEFT's name of a LoRA tensor of a Qwen2 model. */
export function peftLoraName(layer: number, moduleName: string, isB: boolean): string {
  const parent =
    moduleName === "gate_proj" || moduleName === "up_proj" || moduleName === "down_proj" ? "mlp" : "self_attn";
  return `base_model.model.model.layers.${layer}.${parent}.${moduleName}.lora_${isB ? "B" : "A"}.weight`;
}

/** The Hugging Face weights by name → the C struct's layout, with presence, shapes and dtypes checked (errors name the
 *  tensor). The config has passed the core's checks. */
function bindingWeights(cfg: EngineModelConfig, weights: Record<string, EngineWeight>) {
  const H = cfg.hiddenSize,
    I = cfg.intermediateSize,
    D = cfg.headDim || Math.floor(H / cfg.numHeads);
  const q = cfg.numHeads * D,
    kv = cfg.numKvHeads * D;
  const tensor = (name: string, shape: number[], optional = false): BindingTensor | null => {
    const t = weights[name];
    if (t === undefined || t === null) {
      if (optional) return null;
      throw new Error(`weights: missing tensor ${name}`);
    }
    if (typeof t !== "object") throw new TypeError(`weights['${name}'] must be { data, dtype, shape }`);
    if (!Object.hasOwn(SF_DTYPE, t.dtype)) {
      throw new TypeError(
        `weights['${name}'].dtype is '${String(t.dtype)}' (expected F32, F16, BF16 or a ggml block type: ${Object.keys(SF_DTYPE).slice(3).join(", ")})`,
      );
    }
    if (!Array.isArray(t.shape)) throw new TypeError(`weights['${name}'].shape must be an array`);
    if (t.shape.join(",") !== shape.join(","))
      throw new RangeError(`weights['${name}'].shape is [${t.shape.join(", ")}] (expected [${shape.join(", ")}])`);
    if (!ArrayBuffer.isView(t.data))
      throw new TypeError(`weights['${name}'].data must be a Uint8Array (or other typed array view)`);
    // ggml block types quantize rows (the last dimension) in whole blocks
    const dtype = t.dtype as keyof typeof SF_DTYPE;
    const [block, blockBytes] = SF_DTYPE_BLOCK[dtype];
    const cols = shape[shape.length - 1];
    if (cols % block !== 0)
      throw new RangeError(
        `weights['${name}']: rows of ${cols} elements are not whole ${block}-element blocks of ${dtype}`,
      );
    const bytes = (shape.reduce((a, b) => a * b, 1) / block) * blockBytes;
    if (t.data.byteLength !== bytes)
      throw new RangeError(`weights['${name}'].data has ${t.data.byteLength} bytes (expected ${bytes} for ${dtype})`);
    return { data: t.data, dtype: SF_DTYPE[dtype] };
  };
  const shapes = [[q, H], [kv, H], [kv, H], [H, q], [I, H], [I, H], [H, I], [q], [kv], [kv], [H], [H]];
  const layers: (BindingTensor | null)[][] = [];
  for (let l = 0; l < cfg.numLayers; l++)
    layers.push(LAYER_TENSORS.map((n, k) => tensor(`model.layers.${l}.${n}`, shapes[k], n.endsWith(".bias"))));
  return {
    embedTokens: tensor("model.embed_tokens.weight", [cfg.vocabSize, H])!,
    norm: tensor("model.norm.weight", [H])!,
    lmHead: cfg.tieWordEmbeddings ? null : tensor("lm_head.weight", [cfg.vocabSize, H]),
    layers,
  };
}

/** A uint64 from a decimal string (checkpoints keep the dropout stream as strings). */
function uint64(value: unknown, what: string): bigint {
  const s = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof s !== "string" || !/^\d{1,20}$/.test(s) || BigInt(s) >= 1n << 64n)
    throw new TypeError(`rngState.${what} must be a decimal integer string`);
  return BigInt(s);
}

/** The LoopTrainer over the addon's Trainer. */
class EngineTrainer implements NativeTrainer {
  private readonly slots: (BindingLoraSlot & { name: string })[];
  /** The addon's Trainer (the communicator's allreduceGradients takes it: nativeHandle). */
  readonly [NATIVE_HANDLE]: BindingTrainer;
  constructor(private readonly t: BindingTrainer) {
    this[NATIVE_HANDLE] = t;
    this.slots = t.loraSlots().map((s) => ({ ...s, name: peftLoraName(s.layer, s.moduleName, s.isB) }));
  }
  forwardBackward(inputIds: Int32Array, labels: Int32Array, batch: number, seqLen: number, lossScale: number) {
    return this.t.forwardBackward(inputIds, labels, batch, seqLen, lossScale);
  }
  optimizerStep(lr: number) {
    return this.t.optimizerStep(lr);
  }
  evaluate(inputIds: Int32Array, labels: Int32Array, batch: number, seqLen: number) {
    return this.t.evaluate(inputIds, labels, batch, seqLen);
  }
  logits(inputIds: Int32Array, batch: number, seqLen: number) {
    return this.t.logits(inputIds, batch, seqLen);
  }
  /** One flat buffer cut into the LoRA tensors (copies). */
  private split(flat: Float32Array): Float32Array[] {
    return this.slots.map((s) => flat.slice(s.offset, s.offset + s.rows * s.cols));
  }
  /** Named per-tensor arrays → one flat buffer; every tensor exactly once, each of the right length. */
  private join<E extends { name: string }>(
    list: unknown,
    what: string,
    pick: (e: E, slot: number) => { value: unknown; where: string }[],
  ): Float32Array[] {
    if (!Array.isArray(list)) throw new TypeError(`${what} must be an array`);
    const index = new Map(this.slots.map((s, i) => [s.name, i]));
    const flats = [] as Float32Array[];
    const seen = new Set<number>();
    list.forEach((e, j) => {
      if (typeof e !== "object" || e === null) throw new TypeError(`${what}[${j}] must be an object`);
      const i = index.get(String((e as E).name));
      if (i === undefined)
        throw new Error(`${what}: unknown tensor ${String((e as E).name)} (not adapted by this trainer)`);
      seen.add(i);
      const s = this.slots[i];
      pick(e as E, i).forEach(({ value, where }, k) => {
        if (!(value instanceof Float32Array)) throw new TypeError(`${where} must be a Float32Array`);
        if (value.length !== s.rows * s.cols)
          throw new RangeError(`${where} has ${value.length} values (expected ${s.rows * s.cols})`);
        (flats[k] ??= new Float32Array(this.t.loraSize())).set(value, s.offset);
      });
    });
    const missing = this.slots.find((_, i) => !seen.has(i));
    if (missing) throw new Error(`${what}: missing tensor ${missing.name}`);
    return flats;
  }
  loraTensors(): LoraTensor[] {
    const data = this.split(this.t.readLora(SF_LORA_BUFFER.params));
    return this.slots.map((s, i) => ({ name: s.name, shape: [s.rows, s.cols], data: data[i] }));
  }
  setLoraTensors(list: LoraTensor[]): void {
    const [flat] = this.join<LoraTensor>(list, "setLoraTensors", (e, i) => {
      const s = this.slots[i];
      if (Array.isArray(e.shape) && (e.shape.length !== 2 || e.shape[0] !== s.rows || e.shape[1] !== s.cols))
        throw new RangeError(`setLoraTensors: ${s.name} has the wrong shape (expected [${s.rows}, ${s.cols}])`);
      return [{ value: e.data, where: `setLoraTensors: ${s.name}.data` }];
    });
    this.t.writeLora(SF_LORA_BUFFER.params, flat ?? new Float32Array(this.t.loraSize()));
  }
  optimizerState(): OptimizerState {
    const m = this.split(this.t.readLora(SF_LORA_BUFFER.adamM));
    const v = this.split(this.t.readLora(SF_LORA_BUFFER.adamV));
    return { step: this.t.getStep(), tensors: this.slots.map((s, i) => ({ name: s.name, m: m[i], v: v[i] })) };
  }
  setOptimizerState(state: OptimizerState): void {
    if (typeof state !== "object" || state === null)
      throw new TypeError("setOptimizerState(state): state must be { step, tensors }");
    if (!Number.isSafeInteger(state.step) || state.step < 0)
      throw new RangeError("optimizerState.step must be a non-negative integer");
    const [m, v] = this.join<OptimizerState["tensors"][number]>(state.tensors, "optimizerState.tensors", (e) => [
      { value: e.m, where: `optimizerState: ${e.name}.m` },
      { value: e.v, where: `optimizerState: ${e.name}.v` },
    ]);
    const empty = () => new Float32Array(this.t.loraSize());
    this.t.writeLora(SF_LORA_BUFFER.adamM, m ?? empty());
    this.t.writeLora(SF_LORA_BUFFER.adamV, v ?? empty());
    this.t.setStep(state.step);
  }
  rngState(): EngineRngState {
    const r = this.t.rngState();
    return { seed: r.seed.toString(), counter: r.counter.toString() };
  }
  setRngState(state: unknown): void {
    if (typeof state !== "object" || state === null)
      throw new TypeError("setRngState(state): state must be { seed, counter }");
    const s = state as Record<string, unknown>;
    this.t.setRngState(uint64(s.seed, "seed"), uint64(s.counter, "counter"));
  }
  memory(): EngineMemory {
    return this.t.memory();
  }
  dispose(): void {
    this.t.dispose();
  }
}

/** Creates the engine; throws with the offending field or tensor named when the options or weights are wrong. */
export function createNativeTrainer(options: NativeTrainerOptions): NativeTrainer {
  const addon: NativeAddon = loadAddon();
  if (typeof addon.Trainer !== "function")
    throw new Error("the native addon has no Trainer (rebuild it: npm rebuild sqlfocus)");
  const device = options.device ?? "cpu";
  if (!(device in SF_DEVICE)) throw new Error(`options.device: '${String(device)}' must be 'cpu' or 'cuda'`);
  if (device === "cuda" && addon.buildInfo().cuda !== true) {
    throw new Error(
      "createNativeTrainer: device 'cuda' is not available in this build (no CUDA toolkit with cuBLAS was found when the addon was built; rebuild with SQLFOCUS_CUDA=on npm rebuild sqlfocus, or use 'cpu')",
    );
  }
  const { config: cfg, lora } = options;
  if (typeof cfg !== "object" || cfg === null) throw new TypeError("options.config is required");
  if (typeof options.weights !== "object" || options.weights === null)
    throw new TypeError("options.weights is required");
  if (typeof lora !== "object" || lora === null) throw new TypeError("options.lora is required");
  let targetMask = 0;
  if (lora.targetModules !== undefined && lora.targetModules !== null) {
    if (!Array.isArray(lora.targetModules)) throw new TypeError("lora.targetModules must be an array of module names");
    const names = addon.Trainer.moduleNames;
    lora.targetModules.forEach((name, i) => {
      const m = names.indexOf(String(name));
      if (m < 0) throw new Error(`lora.targetModules[${i}] = '${String(name)}' is not one of ${names.join(", ")}`);
      targetMask |= 1 << m;
    });
    if (targetMask === 0) throw new Error("lora.targetModules is empty");
  }
  const seed = options.seed ?? 42;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError("options.seed must be a non-negative integer");
  const o = options.optimizer ?? {};
  const config = { ...cfg, headDim: cfg.headDim ?? 0 };
  const params = {
    loraRank: lora.rank,
    loraAlpha: lora.alpha,
    loraDropout: lora.dropout ?? 0,
    useRslora: lora.useRslora ?? false,
    targetMask,
    maxBatch: options.maxBatch,
    maxSeq: options.maxSeqLen,
    threads: options.threads ?? 2,
    seed: BigInt(seed),
    recompute: options.recompute ?? false,
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.999,
    eps: o.eps ?? 1e-8,
    weightDecay: o.weightDecay ?? 0,
    maxGradNorm: o.maxGradNorm ?? 1,
    device: SF_DEVICE[device],
    ceChunk: options.ceChunk ?? 0,
  };
  // the core checks the config and numbers first (its messages name the field), then the weights are matched to it
  addon.Trainer.checkConfig(config, params);
  const binding = new addon.Trainer(config, bindingWeights(cfg, options.weights), params);
  return new EngineTrainer(binding);
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
    if (t.dtype !== "F32" && t.dtype !== "F16" && t.dtype !== "BF16")
      throw new Error(`${name}: dtype ${t.dtype} is not supported by the engine (F32, F16, BF16)`);
    out[name] = { data: t.data, dtype: t.dtype, shape: t.shape };
  }
  return out;
}
