// A tiny, seeded, random-initialised Qwen2 model in Hugging Face format, with the real Qwen2.5 tokenizer: the
// embedded default for demos and tests. Same options → same bytes. Every tensor has its own random stream derived
// from (seed, tensor name), so tensors are generated one at a time while they are written (streamed).
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { checkOutputDir, writeFileAtomic } from "../files/index.js";
import { join, resolve } from "node:path";
import { sortedJson, writeQwen2Config } from "./config.js";
import { fromFloat32, writeSafetensorsModel, type SafetensorsDtype, type TensorSource } from "./safetensors.js";
import {
  QWEN25_ENDOFTEXT_ID,
  QWEN25_IM_END_ID,
  QWEN25_PADDED_VOCAB_SIZE,
  QWEN25_TOKENIZER_SIZE,
  writeQwen25TokenizerFiles,
} from "./qwen-tokenizer-files.js";

export type TinyDtype = "bf16" | "f16" | "f32";

export interface TinyModelOptions {
  /** Random seed (default 0). */
  seed?: number;
  /** Tie lm_head to the embeddings (no lm_head.weight), as Qwen2.5-0.5B (default false). */
  tied?: boolean;
  /** Weight dtype (default bf16, as real Qwen2.5 checkpoints). */
  dtype?: TinyDtype;
  layers?: number;
  hidden?: number;
  intermediate?: number;
  heads?: number;
  kvHeads?: number;
  /** Embedding rows (default 151936, Qwen2.5's padded size; at least the tokenizer's 151,665). */
  vocabSize?: number;
  /** Standard deviation of the normal initialiser (default 0.02, Qwen2's initializer_range). */
  std?: number;
  /** Write shards of at most this many bytes (default: one file). */
  maxShardSize?: number;
  /** Replace a non-empty folder (default false: refuse). */
  overwrite?: boolean;
}

export interface TinyModelInfo {
  dir: string;
  parameters: number;
  nonEmbeddingParameters: number;
  bytes: number;
  tensors: number;
}

export const TINY_DEFAULTS = {
  seed: 0,
  tied: false,
  dtype: "bf16" as TinyDtype,
  layers: 4,
  hidden: 256,
  intermediate: 768,
  heads: 4,
  kvHeads: 2,
  vocabSize: QWEN25_PADDED_VOCAB_SIZE,
  std: 0.02,
};

// ---- deterministic random numbers: SplitMix64-seeded xoshiro128** (32-bit ops), Box-Muller normals -------------

function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(text, "utf8")) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

function splitmix64(state: bigint): [bigint, bigint] {
  const s = (state + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
  return [s, z ^ (z >> 31n)];
}

/** A small deterministic generator: xoshiro128** seeded from (seed, stream name). */
export class TinyRng {
  private s = new Uint32Array(4);

  constructor(seed: number, stream: string) {
    let st = (BigInt.asUintN(64, BigInt(Math.trunc(seed))) ^ fnv1a64(stream)) & 0xffffffffffffffffn;
    for (let i = 0; i < 2; i++) {
      const [next, z] = splitmix64(st);
      st = next;
      this.s[2 * i] = Number(z & 0xffffffffn);
      this.s[2 * i + 1] = Number(z >> 32n);
    }
    if (!(this.s[0] | this.s[1] | this.s[2] | this.s[3])) this.s[0] = 1;
  }

  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in (0, 1). */
  uniform(): number {
    return ((this.nextU32() >>> 8) + 0.5) / 16777216;
  }

  /** Fills `out` with N(0, std²) samples (Box-Muller on pairs of uniforms; same stream as uniform()). */
  fillNormal(out: Float32Array, std: number): void {
    // The generator inlined on local state: the same sequence as nextU32(), several times faster.
    let s0 = this.s[0],
      s1 = this.s[1],
      s2 = this.s[2],
      s3 = this.s[3];
    const TWO_PI = 2 * Math.PI;
    for (let i = 0; i < out.length; i += 2) {
      let r1 = Math.imul(s1, 5);
      r1 = Math.imul(((r1 << 7) | (r1 >>> 25)) >>> 0, 9) >>> 0;
      let t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = ((s3 << 11) | (s3 >>> 21)) >>> 0;
      let r2 = Math.imul(s1, 5);
      r2 = Math.imul(((r2 << 7) | (r2 >>> 25)) >>> 0, 9) >>> 0;
      t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = ((s3 << 11) | (s3 >>> 21)) >>> 0;
      const u1 = ((r1 >>> 8) + 0.5) / 16777216;
      const u2 = ((r2 >>> 8) + 0.5) / 16777216;
      const r = Math.sqrt(-2 * Math.log(u1)) * std;
      const a = TWO_PI * u2;
      out[i] = r * Math.cos(a);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(a);
    }
    this.s[0] = s0;
    this.s[1] = s1;
    this.s[2] = s2;
    this.s[3] = s3;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

// ---- the model ------------------------------------------------------------------------------------------------

const ST_DTYPE: Record<TinyDtype, SafetensorsDtype> = { bf16: "BF16", f16: "F16", f32: "F32" };
const TORCH_DTYPE: Record<TinyDtype, string> = { bf16: "bfloat16", f16: "float16", f32: "float32" };

interface TensorSpec {
  name: string;
  shape: number[];
  init: "normal" | "ones";
}

function resolveOptions(options: TinyModelOptions) {
  const o = {
    ...TINY_DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as typeof TINY_DEFAULTS & TinyModelOptions;
  const int = (name: string, v: number, min: number) => {
    if (!Number.isSafeInteger(v) || v < min)
      throw new Error(`initTinyModel: ${name} must be an integer ≥ ${min}, got ${v}`);
  };
  int("seed", o.seed, Number.MIN_SAFE_INTEGER);
  int("layers", o.layers, 1);
  int("hidden", o.hidden, 1);
  int("intermediate", o.intermediate, 1);
  int("heads", o.heads, 1);
  int("kvHeads", o.kvHeads, 1);
  int("vocabSize", o.vocabSize, QWEN25_TOKENIZER_SIZE);
  if (!["bf16", "f16", "f32"].includes(o.dtype))
    throw new Error(`initTinyModel: dtype must be bf16, f16 or f32, got ${String(o.dtype)}`);
  if (o.hidden % o.heads) throw new Error(`initTinyModel: heads (${o.heads}) must divide hidden (${o.hidden})`);
  if (o.heads % o.kvHeads) throw new Error(`initTinyModel: kvHeads (${o.kvHeads}) must divide heads (${o.heads})`);
  if (!(o.std > 0)) throw new Error(`initTinyModel: std must be > 0, got ${o.std}`);
  return o;
}

function tensorSpecs(o: ReturnType<typeof resolveOptions>): TensorSpec[] {
  const h = o.hidden;
  const kv = (h / o.heads) * o.kvHeads;
  const specs: TensorSpec[] = [{ name: "model.embed_tokens.weight", shape: [o.vocabSize, h], init: "normal" }];
  for (let i = 0; i < o.layers; i++) {
    const p = `model.layers.${i}`;
    specs.push(
      { name: `${p}.self_attn.q_proj.weight`, shape: [h, h], init: "normal" },
      { name: `${p}.self_attn.q_proj.bias`, shape: [h], init: "normal" },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, h], init: "normal" },
      { name: `${p}.self_attn.k_proj.bias`, shape: [kv], init: "normal" },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, h], init: "normal" },
      { name: `${p}.self_attn.v_proj.bias`, shape: [kv], init: "normal" },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, h], init: "normal" },
      { name: `${p}.mlp.gate_proj.weight`, shape: [o.intermediate, h], init: "normal" },
      { name: `${p}.mlp.up_proj.weight`, shape: [o.intermediate, h], init: "normal" },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, o.intermediate], init: "normal" },
      { name: `${p}.input_layernorm.weight`, shape: [h], init: "ones" },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h], init: "ones" },
    );
  }
  specs.push({ name: "model.norm.weight", shape: [h], init: "ones" });
  if (!o.tied) specs.push({ name: "lm_head.weight", shape: [o.vocabSize, h], init: "normal" });
  return specs;
}

/** The F32 values of one tiny-model tensor (deterministic in seed and name). */
export function tinyTensorValues(
  seed: number,
  spec: { name: string; shape: number[]; init: "normal" | "ones" },
  std = TINY_DEFAULTS.std,
): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (spec.init === "ones") out.fill(1);
  else new TinyRng(seed, spec.name).fillNormal(out, std);
  return out;
}

/**
 * Writes a seeded random Qwen2 model into `dir`: config.json, generation_config.json, model.safetensors (or shards),
 * and Qwen2.5's tokenizer files. Defaults: hidden 256, 4 layers, 4 heads / 2 KV heads (head_dim 64), intermediate
 * 768, vocab 151936, rope_theta 1e6, rms_norm_eps 1e-6, q/k/v biases, N(0, 0.02) weights and biases, norms = 1.
 */
export async function initTinyModel(dir: string, options: TinyModelOptions = {}): Promise<TinyModelInfo> {
  const o = resolveOptions(options);
  const out = resolve(dir);
  checkOutputDir(out);
  if (existsSync(out) && readdirSync(out).length > 0 && !o.overwrite) {
    throw new Error(`${out} is not empty; pass overwrite (--overwrite) to replace the model there`);
  }
  mkdirSync(out, { recursive: true });
  const specs = tensorSpecs(o);
  const dtype = ST_DTYPE[o.dtype];
  const sources: TensorSource[] = specs.map((s) => ({
    name: s.name,
    dtype,
    shape: s.shape,
    data: () => fromFloat32(tinyTensorValues(o.seed, s, o.std), dtype as "F32" | "F16" | "BF16"),
  }));
  const written = await writeSafetensorsModel(out, sources, {
    maxShardSize: o.maxShardSize ?? Number.MAX_SAFE_INTEGER,
  });
  writeQwen2Config(out, {
    vocabSize: o.vocabSize,
    hiddenSize: o.hidden,
    intermediateSize: o.intermediate,
    numHiddenLayers: o.layers,
    numAttentionHeads: o.heads,
    numKeyValueHeads: o.kvHeads,
    ropeTheta: 1000000.0,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: o.tied,
    maxPositionEmbeddings: 32768,
    torchDtype: TORCH_DTYPE[o.dtype],
    bosTokenId: QWEN25_ENDOFTEXT_ID,
    eosTokenId: QWEN25_IM_END_ID,
    raw: {
      initializer_range: o.std,
      max_window_layers: o.layers,
      sliding_window: 32768,
      transformers_version: "4.43.1",
      sqlfocus_tiny: { seed: o.seed },
    },
  });
  writeFileAtomic(
    join(out, "generation_config.json"),
    sortedJson({
      bos_token_id: QWEN25_ENDOFTEXT_ID,
      do_sample: true,
      eos_token_id: [QWEN25_IM_END_ID, QWEN25_ENDOFTEXT_ID],
      pad_token_id: QWEN25_ENDOFTEXT_ID,
      repetition_penalty: 1.05,
      temperature: 0.7,
      top_k: 20,
      top_p: 0.8,
      transformers_version: "4.43.1",
    }),
  );
  writeQwen25TokenizerFiles(out);
  const parameters = specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  const embedding = specs
    .filter((s) => s.name === "model.embed_tokens.weight" || s.name === "lm_head.weight")
    .reduce((a, s) => a + s.shape[0] * s.shape[1], 0);
  return {
    dir: out,
    parameters,
    nonEmbeddingParameters: parameters - embedding,
    bytes: written.totalSize,
    tensors: specs.length,
  };
}
