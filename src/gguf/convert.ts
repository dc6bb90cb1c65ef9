// HF Qwen2 folder → GGUF (v3) in F32 / F16 / BF16, with the qwen2 metadata and tokenizer llama.cpp expects
// (what convert_hf_to_gguf.py writes for Qwen2/Qwen2.5). Tensors are streamed one at a time from the mapped
// safetensors files (pread, not mapped), converted in bounded chunks, so memory stays at about one chunk whatever
// the model size.
import { closeSync, openSync, readSync } from "node:fs";
import { basename, resolve } from "node:path";
import {
  openSafetensors,
  fromFloat32,
  readQwen2Config,
  toFloat32,
  type Qwen2Config,
  type TensorInfo,
} from "../model/index.js";
import { FILE_TYPES } from "./constants.js";
import { checkOutputFile } from "../files/index.js";
import { kv, writeGguf, type GgufKv, type GgufTensorSpec } from "./file.js";
import { readGgufTokenizer, tokenizerMetadata, type GgufTokenizer } from "./tokenizer.js";

export type GgufFloatType = "F32" | "F16" | "BF16";
export const GGUF_FLOAT_TYPES: readonly GgufFloatType[] = ["F32", "F16", "BF16"];

/** The llama.cpp name of an HF Qwen2 tensor; null for tensors the GGUF does not carry, undefined for unknown names. */
export function ggufTensorName(hfName: string): string | null | undefined {
  if (hfName === "model.embed_tokens.weight") return "token_embd.weight";
  if (hfName === "model.norm.weight") return "output_norm.weight";
  if (hfName === "lm_head.weight") return "output.weight";
  if (hfName.endsWith(".rotary_emb.inv_freq")) return null;
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  if (!m) return undefined;
  const part: Record<string, string> = {
    input_layernorm: "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    post_attention_layernorm: "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
  };
  const p = part[m[2]];
  return p ? `blk.${m[1]}.${p}.${m[3]}` : undefined;
}

/** The shape (PyTorch order) every Qwen2 tensor must have, by HF name. */
export function expectedQwen2Shapes(c: Qwen2Config): Map<string, number[]> {
  const h = c.hiddenSize;
  const kvDim = c.numKeyValueHeads * c.headDim;
  const qDim = c.numAttentionHeads * c.headDim;
  const m = new Map<string, number[]>();
  m.set("model.embed_tokens.weight", [c.vocabSize, h]);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.layers.${i}.`;
    m.set(p + "input_layernorm.weight", [h]);
    m.set(p + "self_attn.q_proj.weight", [qDim, h]);
    m.set(p + "self_attn.q_proj.bias", [qDim]);
    m.set(p + "self_attn.k_proj.weight", [kvDim, h]);
    m.set(p + "self_attn.k_proj.bias", [kvDim]);
    m.set(p + "self_attn.v_proj.weight", [kvDim, h]);
    m.set(p + "self_attn.v_proj.bias", [kvDim]);
    m.set(p + "self_attn.o_proj.weight", [h, qDim]);
    m.set(p + "post_attention_layernorm.weight", [h]);
    m.set(p + "mlp.gate_proj.weight", [c.intermediateSize, h]);
    m.set(p + "mlp.up_proj.weight", [c.intermediateSize, h]);
    m.set(p + "mlp.down_proj.weight", [h, c.intermediateSize]);
  }
  m.set("model.norm.weight", [h]);
  if (!c.tieWordEmbeddings) m.set("lm_head.weight", [c.vocabSize, h]);
  return m;
}

const CHUNK_ELEMENTS = 1 << 22; // 4M values per read/conversion chunk

/**
 * A tensor's bytes as `to`, read from its file in chunks with pread (not through a memory map, so the process's
 * resident memory stays at one chunk however large the model is), converted when the dtype differs.
 */
export function* convertedChunks(info: TensorInfo, to: GgufFloatType): Iterable<Uint8Array> {
  const inSize = info.dtype === "F32" ? 4 : 2;
  const chunkBytes = CHUNK_ELEMENTS * inSize;
  const buf = new Uint8Array(Math.min(chunkBytes, info.byteLength));
  const fd = openSync(info.file, "r");
  try {
    for (let off = 0; off < info.byteLength; off += chunkBytes) {
      const n = Math.min(chunkBytes, info.byteLength - off);
      let got = 0;
      while (got < n) {
        const r = readSync(fd, buf, got, n - got, info.offset + off + got);
        if (r <= 0) throw new Error(`${info.file}: tensor '${info.name}' is truncated`);
        got += r;
      }
      const part = buf.subarray(0, n);
      yield info.dtype === to ? part : fromFloat32(toFloat32({ dtype: info.dtype, data: part, name: info.name }), to);
    }
  } finally {
    closeSync(fd);
  }
}

export interface Qwen2GgufPlan {
  config: Qwen2Config;
  tokenizer: GgufTokenizer;
  metadata: GgufKv[];
  tensors: GgufTensorSpec[];
  /** HF name → GGUF name of every tensor written. */
  names: Map<string, string>;
}

export interface PlanOptions {
  /** general.name (default: the folder's name). */
  name?: string;
}

/**
 * Reads and checks an HF Qwen2 folder (config, tokenizer, every tensor's presence and shape) and plans its GGUF:
 * metadata and tensor list with lazy data. Nothing is written. Errors name the file and tensor.
 */
export function planQwen2Gguf(modelDir: string, type: GgufFloatType, opts: PlanOptions = {}): Qwen2GgufPlan {
  if (!GGUF_FLOAT_TYPES.includes(type))
    throw new Error(`unknown GGUF float type ${JSON.stringify(type)} (F32, F16 or BF16)`);
  const config = readQwen2Config(modelDir);
  const tokenizer = readGgufTokenizer(modelDir, config.vocabSize);
  const st = openSafetensors(modelDir);
  const expected = expectedQwen2Shapes(config);
  const where = st.files.map((f) => f.path).join(", ");
  for (const name of st.names()) {
    if (name === "lm_head.weight" && config.tieWordEmbeddings) continue; // tied: the embeddings are the output
    const g = ggufTensorName(name);
    if (g === null) continue;
    const shape = expected.get(name);
    if (g === undefined || !shape)
      throw new Error(`${where}: tensor '${name}' is not part of a Qwen2 model with ${config.numHiddenLayers} layers`);
    const info = st.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${where}: tensor '${name}' has shape [${info.shape}], config.json implies [${shape}]`);
    }
    if (!["F32", "F16", "BF16"].includes(info.dtype))
      throw new Error(`${where}: tensor '${name}' has dtype ${info.dtype} (only F32, F16, BF16 are converted)`);
  }
  for (const name of expected.keys()) {
    if (!st.has(name))
      throw new Error(
        `${where}: tensor '${name}' is missing (config.json describes ${config.numHiddenLayers} layers${config.tieWordEmbeddings ? "" : ", untied lm_head"})`,
      );
  }

  const arch = "qwen2";
  const metadata: GgufKv[] = [
    kv.str("general.architecture", arch),
    kv.str("general.type", "model"),
    kv.str("general.name", opts.name ?? basename(resolve(modelDir))),
    kv.u32(`${arch}.block_count`, config.numHiddenLayers),
    kv.u32(`${arch}.context_length`, config.maxPositionEmbeddings),
    kv.u32(`${arch}.embedding_length`, config.hiddenSize),
    kv.u32(`${arch}.feed_forward_length`, config.intermediateSize),
    kv.u32(`${arch}.attention.head_count`, config.numAttentionHeads),
    kv.u32(`${arch}.attention.head_count_kv`, config.numKeyValueHeads),
    kv.f32(`${arch}.rope.freq_base`, config.ropeTheta),
    kv.f32(`${arch}.attention.layer_norm_rms_epsilon`, config.rmsNormEps),
    kv.u32("general.file_type", FILE_TYPES[type]),
    kv.u32("general.quantization_version", 2),
    ...tokenizerMetadata(tokenizer),
  ];

  // Canonical order: embeddings, layer by layer, final norm, output (as llama.cpp lists them).
  const order = [...expected.keys()];
  const names = new Map<string, string>();
  const tensors: GgufTensorSpec[] = order.map((hf) => {
    const g = ggufTensorName(hf)!;
    names.set(hf, g);
    const info = st.info(hf);
    const out: GgufFloatType = info.shape.length <= 1 ? "F32" : type; // norms and biases stay F32
    return {
      name: g,
      dims: [...info.shape].reverse(),
      type: out,
      data: () => convertedChunks(info, out),
    };
  });
  return { config, tokenizer, metadata, tensors, names };
}

export interface ToGgufOptions {
  /** HF Qwen2 folder (config.json, safetensors, tokenizer.json, tokenizer_config.json). */
  model: string;
  /** Output .gguf path. */
  out: string;
  /** Tensor type of the matrices (norms and biases are always F32). Default F16. */
  type?: GgufFloatType;
  name?: string;
  onProgress?: (done: number, total: number, tensor: string) => void;
}

export interface ToGgufResult {
  path: string;
  type: GgufFloatType;
  tensors: number;
  metadata: number;
}

/** Converts an HF Qwen2 folder to a GGUF file (written atomically: a complete file or none). */
export async function toGGUF(opts: ToGgufOptions): Promise<ToGgufResult> {
  const type = opts.type ?? "F16";
  const plan = planQwen2Gguf(opts.model, type, { name: opts.name });
  checkOutputFile(opts.out, "output .gguf");
  writeGguf(opts.out, plan.metadata, plan.tensors, { onTensor: opts.onProgress });
  return { path: opts.out, type, tensors: plan.tensors.length, metadata: plan.metadata.length };
}
