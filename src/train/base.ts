// The frozen base a run trains against. An HF folder: weights as its safetensors hold them (mapped, zero-copy), or
// with --base_dtype q8_0 | q4_k its seven projection matrices quantized on load by ggml's own quantizer (QLoRA-style:
// embeddings, lm_head and norms stay as they are). A qwen2 GGUF file: every tensor as the file holds it (a Q4_K_M
// file's Q4_K / Q6_K blocks, F32 norms), mapped in place; the tokenizer comes from the file's metadata. The engine
// dequantizes ggml blocks tile by tile inside its matmuls; LoRA, activations and optimizer state stay F32.
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { isGgufFile, nativeQuantizer, openGgufModel, GGML_TYPES, type GgmlTypeName } from "../gguf/index.js";
import {
  openModel,
  resolveModel,
  toFloat32,
  type OpenedModel,
  type Qwen2Config,
  type Tokenizer,
} from "../model/index.js";
import type { EngineWeight, WeightDtype } from "./native.js";
import type { BaseDtype } from "./options.js";

export interface TrainingBase {
  /** The model folder or the .gguf file. */
  source: string;
  kind: "hf" | "gguf";
  config: Qwen2Config;
  /** HF tensor name → bytes, dtype and shape, for the engine. */
  weights: Record<string, EngineWeight>;
  /** What the run computes against, for messages and the run's config: "BF16", "GGUF Q4_K_M (Q4_K ×…)", … */
  description: string;
  loadTokenizer(): Promise<Tokenizer>;
  /** Changes when the tokenizer's source changes (for caching a built tokenizer). */
  tokenizerKey: string;
}

export interface OpenTrainingBaseOptions {
  baseDtype?: BaseDtype;
  /** Threads for quantizing on load. */
  threads?: number;
  progress?: boolean;
  onMessage?: (text: string) => void;
}

const PROJECTION = /^model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.weight$/;
/** The ggml types the engine dequantizes itself (native/cpu/quant.cpp); others need libggml-base's. */
const CORE_TYPES = new Set(["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]);

function stamp(path: string): string {
  try {
    const st = statSync(path);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return "-";
  }
}

function countsText(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([t, n]) => `${t} ×${n}`)
    .join(", ");
}

/** Opens the base named by --model_name (an HF folder / hub id, or a .gguf file), quantizing on load if asked. */
export async function openTrainingBase(
  modelName: string,
  options: OpenTrainingBaseOptions = {},
): Promise<TrainingBase> {
  const baseDtype = options.baseDtype ?? "auto";
  if (/\.gguf$/i.test(modelName) && !isGgufFile(modelName)) {
    throw new Error(
      existsSync(modelName)
        ? `--model_name ${modelName}: not a GGUF file (no GGUF magic at its start)`
        : `--model_name ${modelName}: no such file`,
    );
  }
  if (isGgufFile(modelName)) {
    if (baseDtype !== "auto") {
      throw new Error(
        `--base_dtype ${baseDtype}: ${modelName} is a GGUF file, already stored as its own types; --base_dtype quantizes an HF folder on load (drop the option to train on the GGUF as it is)`,
      );
    }
    return ggufBase(modelName);
  }
  const dir = (await resolveModel(modelName, options.progress === false ? { progress: false } : {})).dir;
  const model = openModel(dir);
  const weights: Record<string, EngineWeight> = {};
  const dtypes: Record<string, number> = {};
  for (const name of model.tensorNames) {
    if (!name.startsWith("model.") && name !== "lm_head.weight") continue;
    const t = model.tensor(name);
    weights[name] = { data: t.data, dtype: t.dtype as WeightDtype, shape: t.shape };
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  }
  let description = Object.keys(dtypes).join("/");
  if (baseDtype !== "auto") {
    const counts = await quantizeProjections(model, weights, baseDtype, options);
    description = `${countsText(counts)} quantized on load (projections), the rest ${description}`;
  }
  return {
    source: dir,
    kind: "hf",
    config: model.config,
    weights,
    description,
    loadTokenizer: () => model.loadTokenizer(),
    tokenizerKey: `${dir}|${stamp(`${dir}/tokenizer.json`)}|${stamp(`${dir}/tokenizer_config.json`)}`,
  };
}

function ggufBase(path: string): TrainingBase {
  const g = openGgufModel(path);
  const counts = g.typeCounts();
  const exotic = Object.keys(counts).filter((t) => !CORE_TYPES.has(t));
  if (exotic.length) {
    // ggml's own dequantizers (libggml-base, beside node-llama-cpp's libllama) for the types the core lacks
    try {
      nativeQuantizer();
    } catch (err) {
      throw new Error(
        `${path}: tensors of type ${exotic.join(", ")} need ggml's dequantizers from libggml-base, which could not be loaded: ${(err as Error).message}`,
      );
    }
  }
  const weights: Record<string, EngineWeight> = {};
  for (const name of g.tensorNames) {
    const t = g.tensor(name);
    weights[name] = { data: t.data, dtype: t.dtype as WeightDtype, shape: t.shape };
  }
  return {
    source: g.path,
    kind: "gguf",
    config: g.config,
    weights,
    description: `GGUF${g.fileType ? ` ${g.fileType}` : ""} (${countsText(counts)})`,
    loadTokenizer: () => g.loadTokenizer(),
    tokenizerKey: `${g.path}|${stamp(g.path)}`,
  };
}

/** The ggml type a projection of `cols` inputs gets for --base_dtype (llama.cpp's fallbacks for rows that are not
 *  whole blocks: Q4_K → Q5_0, then the file's own dtype). */
export function onLoadType(baseDtype: Exclude<BaseDtype, "auto">, cols: number): GgmlTypeName | null {
  if (baseDtype === "q4_k") return cols % 256 === 0 ? "Q4_K" : cols % 32 === 0 ? "Q5_0" : null;
  return cols % 32 === 0 ? "Q8_0" : null;
}

/** Quantizes the projection matrices in `weights` (replacing their entries); returns type → count. Rows are read
 *  with pread in bounded chunks (never the whole tensor as F32), so memory grows by the quantized bytes only. */
async function quantizeProjections(
  model: OpenedModel,
  weights: Record<string, EngineWeight>,
  baseDtype: Exclude<BaseDtype, "auto">,
  options: OpenTrainingBaseOptions,
): Promise<Record<string, number>> {
  let quantizer;
  try {
    quantizer = nativeQuantizer();
  } catch (err) {
    throw new Error(
      `--base_dtype ${baseDtype} quantizes with llama.cpp's ggml (libggml-base from node-llama-cpp), which could not be loaded: ${(err as Error).message}`,
    );
  }
  const names = model.tensorNames.filter((n) => PROJECTION.test(n));
  const counts: Record<string, number> = {};
  const threads = Math.max(1, options.threads ?? 1);
  let done = 0;
  let nextReport = 0.25;
  for (const name of names) {
    const info = model.info(name);
    const [rows, cols] = info.shape;
    const type = onLoadType(baseDtype, cols);
    if (!type) {
      counts[info.dtype] = (counts[info.dtype] ?? 0) + 1;
      continue;
    }
    const { id, blockSize, blockBytes } = GGML_TYPES[type];
    const outRow = (cols / blockSize) * blockBytes;
    const out = new Uint8Array(rows * outRow);
    const inSize = info.dtype === "F32" ? 4 : 2;
    const chunkRows = Math.max(1, Math.floor((1 << 22) / cols));
    const buf = Buffer.alloc(Math.min(rows, chunkRows) * cols * inSize);
    const fd = openSync(info.file, "r");
    try {
      for (let r0 = 0; r0 < rows; r0 += chunkRows) {
        const n = Math.min(chunkRows, rows - r0);
        const bytes = n * cols * inSize;
        let got = 0;
        while (got < bytes) {
          const k = readSync(fd, buf, got, bytes - got, info.offset + r0 * cols * inSize + got);
          if (k <= 0) throw new Error(`${info.file}: tensor ${name} is truncated`);
          got += k;
        }
        const f32 = toFloat32({ name, dtype: info.dtype, data: buf.subarray(0, bytes) });
        const q = await quantizer.quantizeRows(id, f32, cols, threads);
        out.set(q, r0 * outRow);
      }
    } finally {
      closeSync(fd);
    }
    weights[name] = { data: out, dtype: type, shape: [rows, cols] };
    counts[type] = (counts[type] ?? 0) + 1;
    done++;
    if (options.onMessage && done / names.length >= nextReport) {
      options.onMessage(`quantizing the base on load (${baseDtype}): ${done}/${names.length} matrices`);
      while (done / names.length >= nextReport) nextReport += 0.25;
    }
  }
  return counts;
}
