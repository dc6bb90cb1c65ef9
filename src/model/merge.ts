// merge(): a base HF Qwen2 folder + a PEFT LoRA adapter → a complete HF folder (config, safetensors in the base dtype,
// sharded as transformers does, tokenizer and generation files) with W' = W + scale·B·A for every adapted module
// (scale = alpha/r, alpha/√r with rslora, rank/alpha patterns honoured). Streamed tensor by tensor (read with pread,
// not mapped): one tensor's bytes, plus its F32 copy when adapted, are in memory at a time. Every adapted module is checked against the base before anything is written; the output
// folder appears complete or not at all (written beside it, then renamed).
// Tied embeddings: when the adapter adapts lm_head of a model whose lm_head is tied to embed_tokens, the merged
// model gets its own lm_head.weight (= embeddings + ΔW) and tie_word_embeddings false — the input embeddings must
// stay the base ones, as they were during training.
import { closeSync, copyFileSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { readAdapter, type LoraModuleWeights } from "./peft-adapter.js";
import { sortedJson } from "./config.js";
import { openModel } from "./open.js";
import { checkOutputDir, writeDirAtomic, writeFileSynced } from "../files/index.js";
import {
  fromFloat32,
  toFloat32,
  writeSafetensorsModel,
  type SafetensorsDtype,
  type TensorInfo,
  type TensorSource,
} from "./safetensors.js";

export interface MergeOptions {
  /** Base HF Qwen2 folder. */
  base: string;
  /** PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors). */
  adapter: string;
  /** Output folder (default "new-model"). Replaced if it exists. */
  out?: string;
  /** Largest safetensors shard in bytes (default 5 GB, as transformers). */
  maxShardSize?: number;
  onProgress?: (done: number, total: number, tensor: string) => void;
}

export interface MergeResult {
  out: string;
  /** Modules whose weight changed. */
  merged: number;
  tensors: number;
  /** True when lm_head was adapted on a tied model and had to be untied. */
  untied: boolean;
  files: string[];
}

const WEIGHT_FILE_RE =
  /(\.safetensors|\.safetensors\.index\.json|\.bin|\.bin\.index\.json|\.pt|\.pth|\.h5|\.msgpack|\.gguf)$/;

/** True for a file that starts with GGUF's magic (a quantized model file, not an HF folder). */
function isGgufPath(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    const fd = openSync(path, "r");
    try {
      const b = Buffer.alloc(4);
      return readSync(fd, b, 0, 4, 0) === 4 && b.toString("latin1") === "GGUF";
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** W[out, in] += scale · B[out, r] · A[r, in], in place. */
export function addLoraDelta(
  w: Float32Array,
  outDim: number,
  inDim: number,
  a: Float32Array,
  b: Float32Array,
  rank: number,
  scale: number,
): void {
  for (let o = 0; o < outDim; o++) {
    const wo = o * inDim;
    for (let r = 0; r < rank; r++) {
      const coef = scale * b[o * rank + r];
      if (coef === 0) continue;
      const ar = r * inDim;
      for (let i = 0; i < inDim; i++) w[wo + i] += coef * a[ar + i];
    }
  }
}

/**
 * A tensor's bytes read with pread into a fresh buffer. Not through the memory map: mapped pages would stay resident
 * (and count in RSS) until the whole map is collected; read buffers are freed tensor by tensor.
 */
function readTensorBytes(info: TensorInfo): Uint8Array {
  const buf = new Uint8Array(info.byteLength);
  const fd = openSync(info.file, "r");
  try {
    let got = 0;
    while (got < buf.byteLength) {
      const r = readSync(fd, buf, got, buf.byteLength - got, info.offset + got);
      if (r <= 0) throw new Error(`${info.file}: tensor '${info.name}' is truncated`);
      got += r;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** Merges a LoRA adapter into its base model, writing a new HF folder. */
export async function merge(opts: MergeOptions): Promise<MergeResult> {
  const out = resolve(opts.out ?? "new-model");
  const baseDir = resolve(opts.base);
  if (out === baseDir) throw new Error(`merge: the output folder ${out} is the base model's folder`);
  if (isGgufPath(baseDir)) {
    throw new Error(
      `merge: the base ${baseDir} is a GGUF file. Merging adds scale·B·A to the full-precision base weights, as PEFT does, ` +
        `so it needs the Hugging Face folder (safetensors) the GGUF was made from: --base <HF folder>. ` +
        `An adapter trained on a quantized GGUF (QLoRA-style) merges into that full-precision base as usual. ` +
        `To use it with the GGUF instead, convert it to a GGUF LoRA adapter (sqlfocus convert ${opts.adapter} adapter.gguf --base ${opts.base}) ` +
        `and serve both: sqlfocus serve --model ${opts.base} --lora adapter.gguf`,
    );
  }
  checkOutputDir(out);
  // config.json is checked against the weights first: every Qwen2 tensor it implies must be there with that shape
  // (a base whose config does not match its tensors would merge into a folder nothing can load)
  const base = openModel(baseDir);
  const config = base.config;
  const st = base.weights;
  const adapter = readAdapter(opts.adapter);
  const where = `${opts.adapter} (adapter) vs ${baseDir} (base)`;

  // ---- check every adapted module against the base before writing anything ----
  const byWeight = new Map<string, LoraModuleWeights>();
  let untie = false;
  for (const m of adapter.modules) {
    let weight = `${m.module}.weight`;
    if (m.module === "lm_head" && config.tieWordEmbeddings) {
      // HF would re-tie a merged lm_head to the embeddings on load: the merged model must be untied.
      untie = true;
      if (!st.has(weight)) weight = "model.embed_tokens.weight";
    }
    if (!st.has(weight)) {
      throw new Error(
        `${where}: the adapter adapts ${m.module}, but the base model has no ${m.module}.weight (wrong base model?)`,
      );
    }
    const info = st.info(weight);
    if (info.shape.length !== 2) throw new Error(`${where}: ${weight} is not a matrix ([${info.shape}])`);
    const [outDim, inDim] = info.shape;
    if (m.a.shape[1] !== inDim || m.b.shape[0] !== outDim) {
      throw new Error(
        `${where}: ${m.module}: lora_A is [${m.a.shape}] and lora_B [${m.b.shape}], which do not fit the base weight [${info.shape}] (wrong base model?)`,
      );
    }
    if (!["F32", "F16", "BF16"].includes(info.dtype))
      throw new Error(`${where}: ${weight} has dtype ${info.dtype}; only F32/F16/BF16 weights are merged`);
    byWeight.set(m.module === "lm_head" ? "lm_head.weight" : weight, m);
  }
  if (!adapter.modules.length) throw new Error(`${opts.adapter}: the adapter has no LoRA modules`);
  const targets = adapter.targetModules;
  if (targets.length) {
    const suffixes = new Set(adapter.modules.map((m) => m.module.split(".").pop()!));
    const missing = targets.filter(
      (t) => !suffixes.has(t) && !adapter.modules.some((m) => new RegExp(`^(?:.*\\.)?(?:${t})$`).test(m.module)),
    );
    if (missing.length)
      throw new Error(
        `${opts.adapter}: adapter_config.json targets ${missing.join(", ")}, but adapter_model.safetensors has no weights for them`,
      );
  }

  // ---- plan the output tensors (lazy data: produced one at a time by the writer) ----
  const names = st.names();
  const sources: TensorSource[] = [];
  let done = 0;
  const synthLmHead = untie && !st.has("lm_head.weight");
  const total = names.length + (synthLmHead ? 1 : 0);
  const progress = (name: string) => opts.onProgress?.(++done, total, name);
  const mergedTensor =
    (srcName: string, m: LoraModuleWeights, dtype: SafetensorsDtype, shape: number[], label: string) => () => {
      const w = toFloat32({ dtype, data: readTensorBytes(st.info(srcName)), name: srcName });
      addLoraDelta(w, shape[0], shape[1], m.a.data, m.b.data, m.rank, m.scale);
      progress(label);
      return fromFloat32(w, dtype as "F32" | "F16" | "BF16");
    };
  for (const name of names) {
    const info = st.info(name);
    const m = byWeight.get(name);
    if (m) {
      sources.push({
        name,
        dtype: info.dtype,
        shape: info.shape,
        data: mergedTensor(name, m, info.dtype, info.shape, name),
      });
    } else {
      sources.push({
        name,
        dtype: info.dtype,
        shape: info.shape,
        data: () => {
          progress(name);
          return readTensorBytes(info);
        },
      });
    }
  }
  if (synthLmHead) {
    const e = st.info("model.embed_tokens.weight");
    sources.push({
      name: "lm_head.weight",
      dtype: e.dtype,
      shape: e.shape,
      data: mergedTensor(
        "model.embed_tokens.weight",
        byWeight.get("lm_head.weight")!,
        e.dtype,
        e.shape,
        "lm_head.weight",
      ),
    });
  }

  // ---- write beside the target, then swap it in ----
  let files: string[] = [];
  await writeDirAtomic(out, async (tmp) => {
    for (const f of readdirSync(baseDir)) {
      const p = join(baseDir, f);
      if (f === "config.json" || WEIGHT_FILE_RE.test(f) || f.startsWith(".") || !statSync(p).isFile()) continue;
      copyFileSync(p, join(tmp, f));
    }
    const raw = { ...config.raw };
    if (untie) raw.tie_word_embeddings = false;
    writeFileSynced(join(tmp, "config.json"), sortedJson(raw));
    const written = await writeSafetensorsModel(tmp, sources, { maxShardSize: opts.maxShardSize });
    files = written.files.map((f) => join(out, basename(f)));
  });
  return { out, merged: adapter.modules.length, tensors: sources.length, untied: untie, files };
}
