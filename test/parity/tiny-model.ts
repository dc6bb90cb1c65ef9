// A tiny deterministic Qwen2 generated in memory (no files): the weights the engine tests and the parity
// fixture use. Values come from a seeded generator, so Python (make_reference.py) can rebuild them from the
// same safetensors file that writeTinySafetensors() produces.
import type { EngineModelConfig, EngineWeight } from "../../src/train/native.js";

export const TINY_CONFIG: EngineModelConfig = {
  vocabSize: 64,
  hiddenSize: 32,
  intermediateSize: 48,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  ropeTheta: 10000,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: false,
};

/** Mulberry32: uniform [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** HF tensor names and shapes of a Qwen2 with this config. */
export function qwen2TensorShapes(cfg: EngineModelConfig): [string, number[]][] {
  const H = cfg.hiddenSize;
  const D = cfg.headDim ?? H / cfg.numHeads;
  const q = cfg.numHeads * D;
  const kv = cfg.numKvHeads * D;
  const I = cfg.intermediateSize;
  const out: [string, number[]][] = [["model.embed_tokens.weight", [cfg.vocabSize, H]]];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    out.push(
      [p + "self_attn.q_proj.weight", [q, H]],
      [p + "self_attn.q_proj.bias", [q]],
      [p + "self_attn.k_proj.weight", [kv, H]],
      [p + "self_attn.k_proj.bias", [kv]],
      [p + "self_attn.v_proj.weight", [kv, H]],
      [p + "self_attn.v_proj.bias", [kv]],
      [p + "self_attn.o_proj.weight", [H, q]],
      [p + "mlp.gate_proj.weight", [I, H]],
      [p + "mlp.up_proj.weight", [I, H]],
      [p + "mlp.down_proj.weight", [H, I]],
      [p + "input_layernorm.weight", [H]],
      [p + "post_attention_layernorm.weight", [H]],
    );
  }
  out.push(["model.norm.weight", [H]]);
  if (!cfg.tieWordEmbeddings) out.push(["lm_head.weight", [cfg.vocabSize, H]]);
  return out;
}

/** Deterministic F32 weights: norms ≈ 1, matrices uniform(±1/√in), embeddings uniform(±1). */
export function tinyWeightsF32(cfg: EngineModelConfig = TINY_CONFIG, seed = 1234): Map<string, Float32Array> {
  const rand = seededRandom(seed);
  const map = new Map<string, Float32Array>();
  for (const [name, shape] of qwen2TensorShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    const isNorm = name.endsWith("norm.weight");
    const bound = name.includes("embed") ? 1 : name.endsWith(".bias") ? 0.1 : 1 / Math.sqrt(shape[shape.length - 1]);
    for (let i = 0; i < n; i++) a[i] = isNorm ? 1 + (rand() - 0.5) * 0.2 : (rand() * 2 - 1) * bound;
    map.set(name, a);
  }
  return map;
}

/** Round-to-nearest-even F32 → BF16 bits. */
export function toBf16(a: Float32Array): Uint16Array {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
  return out;
}
export function fromBf16(b: Uint16Array): Float32Array {
  const u = new Uint32Array(b.length);
  for (let i = 0; i < b.length; i++) u[i] = b[i] << 16;
  return new Float32Array(u.buffer);
}

/** Engine weights (views, no copy) from F32 arrays, optionally as BF16. */
export function engineWeights(
  cfg: EngineModelConfig,
  f32: Map<string, Float32Array>,
  dtype: "F32" | "BF16" = "F32",
): Record<string, EngineWeight> {
  const shapes = new Map(qwen2TensorShapes(cfg));
  const out: Record<string, EngineWeight> = {};
  for (const [name, a] of f32) {
    const data = dtype === "F32" ? a : toBf16(a);
    out[name] = {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      dtype,
      shape: shapes.get(name)!,
    };
  }
  return out;
}

/** A right-padded batch of random ids; labels = ids with the first `prompt` positions and the padding masked. */
export function randomBatch(
  cfg: EngineModelConfig,
  batch: number,
  seqLen: number,
  seed: number,
  prompt = 3,
): { inputIds: Int32Array; labels: Int32Array } {
  const rand = seededRandom(seed);
  const inputIds = new Int32Array(batch * seqLen);
  const labels = new Int32Array(batch * seqLen).fill(-100);
  for (let b = 0; b < batch; b++) {
    const len = seqLen - (b % 3);
    for (let t = 0; t < len; t++) {
      const id = Math.floor(rand() * cfg.vocabSize);
      inputIds[b * seqLen + t] = id;
      if (t >= prompt) labels[b * seqLen + t] = id;
    }
  }
  return { inputIds, labels };
}
