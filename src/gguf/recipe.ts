// llama.cpp's choice of each tensor's type for a quantization file type (llama_tensor_get_type in src/llama-quant.cpp
// at node-llama-cpp 3.21.1's commit), for the qwen2 architecture only (no experts, no importance matrix, no per-tensor
// overrides, not "pure"), and the order in which llama_model_quantize writes tensors. Read from llama.cpp to learn the
// rules; written here for the streaming route (src/gguf/streaming.ts), whose output must equal llama.cpp's.
import { GGML_TYPES, type FileTypeName, type GgmlTypeName } from "./constants.js";

/** llama_model_quantize's tensor order: non-`blk.` tensors first, then by layer index, then by name (byte order). */
export function llamaQuantTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  const layer = (n: string) => {
    const m = /^blk\.(-?\d+)\./.exec(n);
    return m ? Number(m[1]) : -1;
  };
  return [...tensors].sort((a, b) => {
    const la = layer(a.name),
      lb = layer(b.name);
    if (la !== lb) return la - lb;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** The ggml type a file type quantizes to by default (llama_ftype_get_default_type). */
const DEFAULT_TYPE: Record<FileTypeName, GgmlTypeName> = {
  F32: "F32",
  F16: "F16",
  BF16: "BF16",
  Q4_0: "Q4_0",
  Q4_1: "Q4_1",
  Q5_0: "Q5_0",
  Q5_1: "Q5_1",
  Q8_0: "Q8_0",
  Q2_K: "Q2_K",
  Q2_K_S: "Q2_K",
  Q3_K_S: "Q3_K",
  Q3_K_M: "Q3_K",
  Q3_K_L: "Q3_K",
  Q4_K_S: "Q4_K",
  Q4_K_M: "Q4_K",
  Q5_K_S: "Q5_K",
  Q5_K_M: "Q5_K",
  Q6_K: "Q6_K",
  IQ4_NL: "IQ4_NL",
  IQ4_XS: "IQ4_XS",
};

const FLOAT_TYPES = new Set<GgmlTypeName>(["F32", "F16", "BF16"]);

export interface RecipeTensor {
  /** GGUF tensor name (blk.N.attn_v.weight …). */
  name: string;
  /** ggml order: dims[0] is the row length. */
  dims: number[];
  /** The tensor's type in the input llama.cpp would read. */
  type: GgmlTypeName;
}

export interface RecipeModel {
  /** qwen2.block_count */
  layers: number;
  /** attention.head_count / attention.head_count_kv */
  gqa: number;
}

/** use_more_bits(i, n) with C++ integer division. */
function useMoreBits(i: number, n: number): boolean {
  const n8 = Math.trunc(n / 8);
  return i < n8 || i >= Math.trunc((7 * n) / 8) || (i - n8) % 3 === 2;
}

function fallback(type: GgmlTypeName, ncols: number): GgmlTypeName {
  if (ncols % GGML_TYPES[type].blockSize === 0) return type;
  const map: Partial<Record<GgmlTypeName, GgmlTypeName>> = {
    Q2_K: "Q4_0",
    Q3_K: "Q4_0",
    Q4_K: "Q5_0",
    Q5_K: "Q5_1",
    Q6_K: "Q8_0",
    IQ4_XS: "IQ4_NL",
  };
  let out = map[type];
  if (!out) {
    if (GGML_TYPES[type].blockSize > 32) throw new Error(`no tensor type fallback is defined for type ${type}`);
    out = type;
  }
  return ncols % GGML_TYPES[out].blockSize === 0 ? out : "F16";
}

/**
 * Every tensor's output type, in llama_model_quantize's order (the counters for attn_v / ffn_down advance in that
 * order). Throws where llama.cpp would need an importance matrix (Q2_K_S).
 */
export function llamaQuantTypes(
  ftype: FileTypeName,
  model: RecipeModel,
  tensors: readonly RecipeTensor[],
): Map<string, GgmlTypeName> {
  const ordered = llamaQuantTensorOrder(tensors);
  const def = DEFAULT_TYPE[ftype];
  const quantized = !FLOAT_TYPES.has(def);
  const hasOutput = ordered.some((t) => t.name === "output.weight");
  let iAttnV = 0;
  let iFfnDown = 0;
  const nAttnV = ordered.filter((t) => t.name.includes("attn_v.weight")).length;
  const nLayer = model.layers;
  const out = new Map<string, GgmlTypeName>();
  for (const t of ordered) {
    const name = t.name;
    const allows = t.dims.length >= 2 && name.endsWith("weight") && !name.includes("_norm.weight");
    if (!allows) {
      out.set(name, t.type);
      continue;
    }
    let type: GgmlTypeName = def;
    if (quantized) {
      const isOutput = name === "output.weight";
      const isEmbd = name === "token_embd.weight";
      if (isOutput || (!hasOutput && isEmbd)) {
        if (t.dims[0] % GGML_TYPES[type].blockSize !== 0) type = "Q8_0";
        else if (type !== "Q8_0") type = "Q6_K";
      } else if (isEmbd) {
        // no change for the file types offered here
      } else if (name.includes("attn_qkv.weight") || name.includes("attn_v.weight")) {
        if (ftype === "Q2_K") type = model.gqa >= 4 ? "Q4_K" : "Q3_K";
        else if (ftype === "Q2_K_S" && model.gqa >= 4) type = "Q4_K";
        else if (ftype === "Q3_K_M") type = iAttnV < 2 ? "Q5_K" : "Q4_K";
        else if (ftype === "Q3_K_L") type = "Q5_K";
        else if ((ftype === "IQ4_NL" || ftype === "IQ4_XS") && model.gqa >= 4) type = "Q5_K";
        else if ((ftype === "Q4_K_M" || ftype === "Q5_K_M") && useMoreBits(iAttnV, nAttnV)) type = "Q6_K";
        else if (ftype === "Q4_K_S" && iAttnV < 4) type = "Q5_K";
        iAttnV++;
      } else if (name.includes("ffn_down")) {
        const i = iFfnDown,
          n = nLayer,
          n8 = Math.trunc(n / 8),
          n16 = Math.trunc(n / 16);
        if (ftype === "Q2_K") type = "Q3_K";
        else if (ftype === "Q2_K_S") {
          if (i < n8) type = "Q4_K";
        } else if (ftype === "Q3_K_M") type = i < n16 ? "Q5_K" : "Q4_K";
        else if (ftype === "Q3_K_L") type = "Q5_K";
        else if (ftype === "Q4_K_M") {
          if (useMoreBits(i, n)) type = "Q6_K";
        } else if (i < n8 && (ftype === "IQ4_NL" || ftype === "IQ4_XS")) type = "Q5_K";
        else if (ftype === "Q5_K_M" && useMoreBits(i, n)) type = "Q6_K";
        else if (ftype === "Q4_K_S" && i < n8) type = "Q5_K";
        iFfnDown++;
      } else if (name.includes("attn_output.weight")) {
        if (ftype === "Q2_K") type = "Q3_K";
        else if (ftype === "Q3_K_M") type = "Q4_K";
        else if (ftype === "Q3_K_L") type = "Q5_K";
      }
      type = fallback(type, t.dims[0]);
      if (type === "Q2_K" && ftype === "Q2_K_S" && !isEmbd && !isOutput) {
        throw new Error(`${ftype} needs an importance matrix (tensor ${name} → Q2_K), which sqlfocus does not compute`);
      }
    }
    out.set(name, type);
  }
  return out;
}
