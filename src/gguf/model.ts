// A qwen2 GGUF file as a fine-tuning base (`finetune --model_name model-Q4_K_M.gguf`): the demo's quantized output,
// a GGUF from llama.cpp or Ollama. The reverse of convert: the qwen2.* metadata becomes a Qwen2Config, tensors get
// their Hugging Face names and shapes back (llama.cpp renames qwen2 tensors and reverses the dims; it permutes
// nothing), their bytes are mapped in place (ggml block types stay quantized: the engine dequantizes them tile by
// tile), and the tokenizer is rebuilt from the tokenizer.ggml.* metadata the file carries (no other file needed).
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { parseQwen2Config, Tokenizer, type Qwen2Config } from "../model/index.js";
import { loadAddon } from "../native/index.js";
import { ggufTensorName, expectedQwen2Shapes } from "./convert.js";
import { GGML_TYPES, fileTypeName, ggmlTensorBytes, type GgmlTypeName } from "./constants.js";
import { readGgufInfo, type GgufInfo, type GgufTensorInfo } from "./file.js";
import { TokenType } from "./tokenizer.js";

/** One base tensor of a GGUF, under its Hugging Face name and shape. `dtype` is the GGUF type name ("Q4_K", "F32"). */
export interface GgufModelTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** The tensor's bytes, mapped from the file (copy-on-write, not read into memory). */
  data: Uint8Array;
}

export interface GgufModel {
  path: string;
  config: Qwen2Config;
  /** general.file_type as llama.cpp names it ("Q4_K_M", "Q8_0", "BF16", ...), or null when absent. */
  fileType: string | null;
  /** Hugging Face names of the tensors (the Qwen2ForCausalLM set; lm_head.weight only when untied). */
  tensorNames: string[];
  has(name: string): boolean;
  /** The tensor's type, shape and mapped bytes. */
  tensor(name: string): GgufModelTensor;
  /** Tensor types → count, e.g. { Q4_K: 169, Q6_K: 29, F32: 141 }. */
  typeCounts(): Record<string, number>;
  loadTokenizer(): Promise<Tokenizer>;
  info: GgufInfo;
}

/** The HF name of a llama.cpp qwen2 tensor name (the inverse of convert's ggufTensorName), or undefined. */
export function hfTensorName(ggufName: string, numLayers: number): string | undefined {
  const fixed: Record<string, string> = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
  };
  if (fixed[ggufName]) return fixed[ggufName];
  const m =
    /^blk\.(\d+)\.(attn_norm|attn_q|attn_k|attn_v|attn_output|ffn_norm|ffn_gate|ffn_up|ffn_down)\.(weight|bias)$/.exec(
      ggufName,
    );
  if (!m || Number(m[1]) >= numLayers) return undefined;
  const part: Record<string, string> = {
    attn_norm: "input_layernorm",
    attn_q: "self_attn.q_proj",
    attn_k: "self_attn.k_proj",
    attn_v: "self_attn.v_proj",
    attn_output: "self_attn.o_proj",
    ffn_norm: "post_attention_layernorm",
    ffn_gate: "mlp.gate_proj",
    ffn_up: "mlp.up_proj",
    ffn_down: "mlp.down_proj",
  };
  const hf = `model.layers.${m[1]}.${part[m[2]]}.${m[3]}`;
  return ggufTensorName(hf) === ggufName ? hf : undefined;
}

function metaNumber(path: string, info: GgufInfo, key: string, fallback?: number): number {
  const v = info.metadata.get(key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (v === undefined) throw new Error(`${path}: GGUF metadata ${key} is missing (not a complete qwen2 GGUF)`);
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n))
    throw new Error(`${path}: GGUF metadata ${key} must be a number, got ${JSON.stringify(String(v))}`);
  return n;
}

/** The Qwen2 config a qwen2 GGUF describes (what convert wrote from config.json). */
function ggufQwen2Config(path: string, info: GgufInfo): Qwen2Config {
  const arch = info.metadata.get("general.architecture");
  if (arch !== "qwen2") {
    throw new Error(
      `${path}: GGUF general.architecture is ${JSON.stringify(arch)}; fine-tuning takes qwen2 models (Qwen2 / Qwen2.5, e.g. XiYanSQL-QwenCoder)`,
    );
  }
  const tensors = new Map(info.tensors.map((t) => [t.name, t]));
  const embd = tensors.get("token_embd.weight");
  if (!embd || embd.dims.length !== 2) throw new Error(`${path}: tensor token_embd.weight is missing or not 2-D`);
  const raw: Record<string, unknown> = {
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    vocab_size: embd.dims[1],
    hidden_size: metaNumber(path, info, "qwen2.embedding_length"),
    intermediate_size: metaNumber(path, info, "qwen2.feed_forward_length"),
    num_hidden_layers: metaNumber(path, info, "qwen2.block_count"),
    num_attention_heads: metaNumber(path, info, "qwen2.attention.head_count"),
    num_key_value_heads: metaNumber(
      path,
      info,
      "qwen2.attention.head_count_kv",
      metaNumber(path, info, "qwen2.attention.head_count"),
    ),
    rope_theta: metaNumber(path, info, "qwen2.rope.freq_base", 1e6),
    rms_norm_eps: metaNumber(path, info, "qwen2.attention.layer_norm_rms_epsilon", 1e-6),
    max_position_embeddings: metaNumber(path, info, "qwen2.context_length", 32768),
    tie_word_embeddings: !tensors.has("output.weight"),
    hidden_act: "silu",
    torch_dtype: "bfloat16",
  };
  const bos = info.metadata.get("tokenizer.ggml.bos_token_id");
  const eos = info.metadata.get("tokenizer.ggml.eos_token_id");
  if (typeof bos === "number") raw.bos_token_id = bos;
  if (typeof eos === "number") raw.eos_token_id = eos;
  return parseQwen2Config(raw, `${path} (GGUF metadata)`);
}

/** tokenizer.json + tokenizer_config.json objects rebuilt from a qwen2 GGUF's tokenizer.ggml.* metadata. */
export function ggufTokenizerFiles(
  path: string,
  info: GgufInfo,
): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const model = info.metadata.get("tokenizer.ggml.model");
  const pre = info.metadata.get("tokenizer.ggml.pre");
  if (model !== "gpt2")
    throw new Error(
      `${path}: GGUF tokenizer.ggml.model is ${JSON.stringify(model)}; a qwen2 model's tokenizer is byte-level BPE ("gpt2")`,
    );
  if (pre !== undefined && pre !== "qwen2")
    throw new Error(
      `${path}: GGUF tokenizer.ggml.pre is ${JSON.stringify(pre)}; only Qwen2's pre-tokenizer ("qwen2") is supported`,
    );
  const tokens = info.metadata.get("tokenizer.ggml.tokens");
  const types = info.metadata.get("tokenizer.ggml.token_type");
  const merges = info.metadata.get("tokenizer.ggml.merges");
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === "string"))
    throw new Error(`${path}: GGUF tokenizer.ggml.tokens is missing or not a list of strings`);
  if (!Array.isArray(types) || types.length !== tokens.length)
    throw new Error(`${path}: GGUF tokenizer.ggml.token_type is missing or not one entry per token`);
  if (!Array.isArray(merges) || merges.length === 0)
    throw new Error(`${path}: GGUF tokenizer.ggml.merges is missing or empty (a BPE tokenizer needs its merges)`);
  const vocab: Record<string, number> = Object.create(null);
  const added: Record<string, unknown>[] = [];
  const decoder: Record<string, unknown> = {};
  tokens.forEach((text: string, id: number) => {
    const type = Number(types[id]);
    if (type === TokenType.UNUSED) return; // [PAD{id}] rows past the tokenizer
    if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
      const special = type === TokenType.CONTROL;
      added.push({
        id,
        content: text,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: !special,
        special,
      });
      decoder[String(id)] = {
        content: text,
        lstrip: false,
        normalized: !special,
        rstrip: false,
        single_word: false,
        special,
      };
    } else {
      vocab[text] = id;
    }
  });
  const pairs = merges.map((m: unknown, i: number) => {
    const parts = typeof m === "string" ? m.split(" ") : [];
    if (parts.length !== 2)
      throw new Error(
        `${path}: GGUF tokenizer.ggml.merges[${i}] is not two tokens separated by a space: ${JSON.stringify(m)}`,
      );
    return parts;
  });
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: "NFC" },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        {
          type: "Split",
          pattern: {
            Regex:
              "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
          },
          behavior: "Isolated",
          invert: false,
        },
        byteLevel,
      ],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: pairs,
    },
  };
  const tokenAt = (key: string): string | null => {
    const id = info.metadata.get(key);
    return typeof id === "number" && id >= 0 && id < tokens.length ? (tokens[id] as string) : null;
  };
  const addBos = info.metadata.get("tokenizer.ggml.add_bos_token") === true;
  const template = info.metadata.get("tokenizer.chat_template");
  const tokenizerConfig: Record<string, unknown> = {
    add_bos_token: addBos,
    add_prefix_space: false,
    added_tokens_decoder: decoder,
    bos_token: addBos ? tokenAt("tokenizer.ggml.bos_token_id") : null,
    eos_token: tokenAt("tokenizer.ggml.eos_token_id"),
    pad_token: tokenAt("tokenizer.ggml.padding_token_id"),
    unk_token: null,
    clean_up_tokenization_spaces: false,
    errors: "replace",
    split_special_tokens: false,
    tokenizer_class: "Qwen2Tokenizer",
  };
  if (typeof template === "string") tokenizerConfig.chat_template = template;
  return { tokenizerJson, tokenizerConfig };
}

interface MapAddon {
  mapFile(path: string, offset?: number, length?: number): ArrayBuffer;
}

/** Opens a qwen2 GGUF as a training base; errors name the file and the metadata key or tensor. */
export function openGgufModel(file: string): GgufModel {
  const path = resolve(file);
  const info = readGgufInfo(path);
  const config = ggufQwen2Config(path, info);
  const shapes = expectedQwen2Shapes(config);
  const byHf = new Map<string, GgufTensorInfo>();
  for (const t of info.tensors) {
    const hf = hfTensorName(t.name, config.numHiddenLayers);
    if (hf === undefined) continue; // rope_freqs and the like: not Qwen2ForCausalLM tensors
    const shape = [...t.dims].reverse();
    const want = shapes.get(hf);
    if (!want) continue;
    if (want.join(",") !== shape.join(","))
      throw new Error(
        `${path}: tensor ${t.name} has shape [${shape.join(", ")}], the metadata implies [${want.join(", ")}] (${hf})`,
      );
    if (!(t.type in GGML_TYPES))
      throw new Error(`${path}: tensor ${t.name} has type ${t.type}, which this version cannot size`);
    const end = t.fileOffset + ggmlTensorBytes(t.type as GgmlTypeName, t.dims);
    if (end > info.fileSize)
      throw new Error(`${path}: tensor ${t.name} runs past the end of the file (truncated download?)`);
    byHf.set(hf, t);
  }
  for (const name of shapes.keys()) {
    if (!byHf.has(name)) throw new Error(`${path}: tensor ${ggufTensorName(name)} (${name}) is missing`);
  }
  const mapped = new Map<string, Uint8Array>();
  const size = statSync(path).size;
  if (size !== info.fileSize) throw new Error(`${path}: changed while being read`);
  const ft = info.metadata.get("general.file_type");
  return {
    path,
    config,
    fileType: typeof ft === "number" ? fileTypeName(ft) : null,
    tensorNames: [...byHf.keys()],
    has: (name) => byHf.has(name),
    tensor(name) {
      const t = byHf.get(name);
      if (!t) throw new Error(`${path}: no tensor for ${name}`);
      let data = mapped.get(name);
      if (!data) {
        const bytes = ggmlTensorBytes(t.type as GgmlTypeName, t.dims);
        data = new Uint8Array(loadAddon<MapAddon>().mapFile(path, t.fileOffset, bytes));
        mapped.set(name, data);
      }
      return { name, dtype: t.type, shape: [...t.dims].reverse(), data };
    },
    typeCounts() {
      const out: Record<string, number> = {};
      for (const t of byHf.values()) out[t.type] = (out[t.type] ?? 0) + 1;
      return out;
    },
    loadTokenizer() {
      const { tokenizerJson, tokenizerConfig } = ggufTokenizerFiles(path, info);
      return Tokenizer.fromJSON(tokenizerJson, tokenizerConfig, { dir: path });
    },
    info,
  };
}

/** True when `path` names a GGUF file rather than a model folder (by its magic, not its name). */
export function isGgufFile(path: string): boolean {
  try {
    const st = statSync(path);
    if (!st.isFile() || st.size < 4) return false;
    const fd = openSync(path, "r");
    try {
      const b = Buffer.alloc(4);
      readSync(fd, b, 0, 4, 0);
      return b.toString("latin1") === "GGUF";
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}
