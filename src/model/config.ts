// Hugging Face `config.json` of a Qwen2ForCausalLM model: read with validation (errors name the file and field),
// written in transformers' layout (sorted keys, 2-space indent).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../files/index.js";
import { pyFloat, PyFloat, pythonJsonDumps } from "./python-json.js";

export interface Qwen2Config {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  /** hidden_size / num_attention_heads (Qwen2 has no separate head_dim field). */
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** "bfloat16" | "float16" | "float32" (config's torch_dtype or dtype). */
  torchDtype: string;
  bosTokenId: number | null;
  /** One id or several (generation stops at any). */
  eosTokenId: number | number[] | null;
  /** The whole config.json as read. */
  raw: Record<string, unknown>;
}

type Raw = Record<string, unknown>;

function bad(file: string, field: string, why: string): never {
  throw new Error(`${file}: field '${field}' ${why}`);
}

function posInt(file: string, raw: Raw, field: string, fallback?: number): number {
  const v = raw[field];
  if (v === undefined && fallback !== undefined) return fallback;
  if (v === undefined) bad(file, field, "is missing");
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0)
    bad(file, field, `must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function posNum(file: string, raw: Raw, field: string, fallback: number): number {
  const v = raw[field];
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0)
    bad(file, field, `must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function tokenId(file: string, raw: Raw, field: string): number | null {
  const v = raw[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    bad(file, field, `must be a token id (integer ≥ 0) or null, got ${JSON.stringify(v)}`);
  return v;
}

/** Validates a parsed config.json object (`file` is used in error messages). */
export function parseQwen2Config(raw: unknown, file = "config.json"): Qwen2Config {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new Error(`${file}: not a JSON object`);
  const r = raw as Raw;
  if (r.model_type !== undefined && r.model_type !== "qwen2")
    bad(file, "model_type", `must be "qwen2" (a Qwen2/Qwen2.5 model), got ${JSON.stringify(r.model_type)}`);
  if (r.architectures !== undefined) {
    if (!Array.isArray(r.architectures) || !r.architectures.includes("Qwen2ForCausalLM")) {
      bad(file, "architectures", `must include "Qwen2ForCausalLM", got ${JSON.stringify(r.architectures)}`);
    }
  }
  if (r.model_type === undefined && r.architectures === undefined)
    bad(file, "model_type", `is missing (expected "qwen2")`);
  const hiddenSize = posInt(file, r, "hidden_size");
  const numAttentionHeads = posInt(file, r, "num_attention_heads");
  const numKeyValueHeads = posInt(file, r, "num_key_value_heads", numAttentionHeads);
  if (hiddenSize % numAttentionHeads !== 0)
    bad(file, "num_attention_heads", `(${numAttentionHeads}) must divide hidden_size (${hiddenSize})`);
  if (numAttentionHeads % numKeyValueHeads !== 0)
    bad(file, "num_key_value_heads", `(${numKeyValueHeads}) must divide num_attention_heads (${numAttentionHeads})`);
  const headDim = hiddenSize / numAttentionHeads;
  if (r.head_dim !== undefined && r.head_dim !== null && r.head_dim !== headDim)
    bad(
      file,
      "head_dim",
      `(${JSON.stringify(r.head_dim)}) must equal hidden_size / num_attention_heads = ${headDim} for Qwen2`,
    );
  const act = r.hidden_act ?? "silu";
  if (act !== "silu") bad(file, "hidden_act", `must be "silu", got ${JSON.stringify(act)}`);
  const tie = r.tie_word_embeddings ?? false;
  if (typeof tie !== "boolean") bad(file, "tie_word_embeddings", `must be true or false, got ${JSON.stringify(tie)}`);
  const dtype = r.torch_dtype ?? r.dtype ?? "float32";
  if (typeof dtype !== "string" || !["bfloat16", "float16", "float32"].includes(dtype))
    bad(file, "torch_dtype", `must be "bfloat16", "float16" or "float32", got ${JSON.stringify(dtype)}`);
  let eos: number | number[] | null;
  if (Array.isArray(r.eos_token_id)) {
    if (!r.eos_token_id.every((x) => Number.isSafeInteger(x) && x >= 0))
      bad(file, "eos_token_id", `must be a token id or a list of ids, got ${JSON.stringify(r.eos_token_id)}`);
    eos = r.eos_token_id as number[];
  } else eos = tokenId(file, r, "eos_token_id");
  if (r.rope_scaling !== undefined && r.rope_scaling !== null)
    bad(
      file,
      "rope_scaling",
      `is not supported (got ${JSON.stringify(r.rope_scaling)}); use a model without rope scaling`,
    );
  return {
    vocabSize: posInt(file, r, "vocab_size"),
    hiddenSize,
    intermediateSize: posInt(file, r, "intermediate_size"),
    numHiddenLayers: posInt(file, r, "num_hidden_layers"),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    ropeTheta: posNum(file, r, "rope_theta", 10000),
    rmsNormEps: posNum(file, r, "rms_norm_eps", 1e-6),
    tieWordEmbeddings: tie,
    maxPositionEmbeddings: posInt(file, r, "max_position_embeddings", 32768),
    torchDtype: dtype,
    bosTokenId: tokenId(file, r, "bos_token_id"),
    eosTokenId: eos,
    raw: r,
  };
}

/** Reads and validates `<dir>/config.json`. */
export function readQwen2Config(dir: string): Qwen2Config {
  const file = join(dir, "config.json");
  if (!existsSync(file)) throw new Error(`${file}: missing (is ${dir} a Hugging Face model folder?)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseQwen2Config(raw, file);
}

/** The config.json object for a config: `raw` (if any) overlaid with the typed fields. */
export function qwen2ConfigToJson(
  config: Omit<Qwen2Config, "raw" | "headDim"> & { raw?: Record<string, unknown> },
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architectures: ["Qwen2ForCausalLM"],
    attention_dropout: 0.0,
    hidden_act: "silu",
    initializer_range: 0.02,
    max_window_layers: config.numHiddenLayers,
    model_type: "qwen2",
    sliding_window: null,
    use_cache: true,
    use_sliding_window: false,
    ...(config.raw ?? {}),
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenId,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    max_position_embeddings: config.maxPositionEmbeddings,
    num_attention_heads: config.numAttentionHeads,
    num_hidden_layers: config.numHiddenLayers,
    num_key_value_heads: config.numKeyValueHeads,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    tie_word_embeddings: config.tieWordEmbeddings,
    torch_dtype: config.torchDtype,
    vocab_size: config.vocabSize,
  };
  return out;
}

/** JSON text with object keys sorted at every level, 2-space indent and a final newline (transformers' layout). */
/** Config keys transformers holds as Python floats: written "1e-06", "1000000.0", "0.0" as json.dumps does. */
const PYTHON_FLOAT_KEYS = new Set([
  "rms_norm_eps",
  "rope_theta",
  "attention_dropout",
  "initializer_range",
  "temperature",
  "top_p",
  "repetition_penalty",
]);

/**
 * JSON as transformers writes config.json / generation_config.json (`json.dumps(d, indent=2, sort_keys=True)` +
 * newline): sorted keys, ASCII with \u escapes, and Python's float text for the keys it holds as floats.
 */
export function sortedJson(value: unknown): string {
  const mark = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(mark);
    if (v && typeof v === "object" && !(v instanceof PyFloat)) {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>))
        o[k] = typeof x === "number" && PYTHON_FLOAT_KEYS.has(k) ? pyFloat(x) : mark(x);
      return o;
    }
    return v;
  };
  return pythonJsonDumps(mark(value)) + "\n";
}

/** Writes `<dir>/config.json` atomically (validated first). */
export function writeQwen2Config(
  dir: string,
  config: Omit<Qwen2Config, "raw" | "headDim"> & { raw?: Record<string, unknown> },
): void {
  const json = qwen2ConfigToJson(config);
  parseQwen2Config(json, join(dir, "config.json"));
  writeFileAtomic(join(dir, "config.json"), sortedJson(json));
}
