// quantize(): llama.cpp's own quantizer (llama_model_quantize, run by the addon on a worker thread) from a GGUF, or
// from an HF folder in one command (converted to a temporary GGUF in the source precision beside the output,
// quantized, and deleted: no F16 file is left behind). Output written atomically (temp + rename), with an Ollama
// Modelfile beside it.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
} from "node:fs";
import { availableParallelism } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { commitFile, removeOnInterrupt, tempPathFor, writeFileAtomic } from "../files/index.js";
import { readQwen2Config } from "../model/index.js";
import { DEFAULT_QUANT_TYPE, FILE_TYPES, parseFileType, type FileTypeName, type QuantType } from "./constants.js";
import { toGGUF, type GgufFloatType } from "./convert.js";
import { readGgufInfo, type GgufInfo } from "./file.js";
import { modelfileText } from "./modelfile.js";
import { nativeQuantizer } from "./native.js";
import { streamingQuantize } from "./streaming.js";

export interface QuantizeOptions {
  /** A GGUF file (F32/F16/BF16, or already quantized with allowRequantize) or an HF Qwen2 folder. */
  input: string;
  /** Output .gguf path. */
  output: string;
  /** llama.cpp's type name (default Q4_K_M): one of QUANT_TYPES. */
  type?: QuantType;
  /** Quantizer threads (default: all cores). */
  threads?: number;
  allowRequantize?: boolean;
  /**
   * Write an Ollama Modelfile beside the output (default true: `Modelfile`, or `<output name>.Modelfile` when a
   * `Modelfile` with other content is already there; never replaced silently). A path chooses its name (an existing
   * file there with other content is an error, checked before any work).
   */
  modelfile?: boolean | string;
  /**
   * From an HF folder: convert and quantize in one pass (ggml_quantize_chunk per tensor, no temporary GGUF, about a
   * quarter of the memory; see streaming.ts). Default true; false converts to a temporary GGUF in the source dtype
   * and runs llama_model_quantize on it (the same bytes, tested).
   */
  streaming?: boolean;
  /** Progress in [0, 1] (tensors converted / quantized so far) and the current stage. */
  onProgress?: (fraction: number, stage: "convert" | "quantize") => void;
}

export interface QuantizeResult {
  output: string;
  type: FileTypeName;
  bytes: number;
  modelfile?: string;
  /** Tensor type counts of the output ({ Q4_K: 98, Q6_K: 13, F32: 121 }). */
  tensorTypes: Record<string, number>;
  seconds: number;
}

function checkWritableDir(output: string): void {
  const dir = dirname(resolve(output));
  try {
    mkdirSync(dir, { recursive: true });
    const probe = tempPathFor(output, "probe");
    closeSync(openSync(probe, "w"));
    rmSync(probe, { force: true });
  } catch (err) {
    throw new Error(`cannot write ${output}: ${(err as Error).message}`);
  }
  if (existsSync(output) && statSync(output).isDirectory()) throw new Error(`cannot write ${output}: it is a folder`);
}

/** From a folder the temporary GGUF needs about the weights' size beside the output, plus the output itself. */
function checkFreeSpace(modelDir: string, output: string): void {
  let weights = 0;
  for (const f of readdirSync(modelDir)) if (f.endsWith(".safetensors")) weights += statSync(join(modelDir, f)).size;
  let free: number;
  try {
    const s = statfsSync(dirname(resolve(output)));
    free = s.bavail * s.bsize;
  } catch {
    return; // unknown: let the write fail with its own error
  }
  const need = weights * 1.5;
  if (free < need) {
    throw new Error(
      `not enough free space beside ${output}: about ${(need / 1e9).toFixed(1)} GB needed (a temporary GGUF of the weights' size, then the output), ${(free / 1e9).toFixed(1)} GB free`,
    );
  }
}

function tensorTypeCounts(info: GgufInfo): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of info.tensors) out[t.type] = (out[t.type] ?? 0) + 1;
  return out;
}

function stopStrings(info: GgufInfo): string[] {
  const tokens = info.metadata.get("tokenizer.ggml.tokens") as string[] | undefined;
  const stops: string[] = [];
  const eos = info.metadata.get("tokenizer.ggml.eos_token_id");
  if (tokens && typeof eos === "number" && tokens[eos]) stops.push(tokens[eos]);
  for (const t of ["<|im_end|>", "<|endoftext|>"]) if (tokens?.includes(t)) stops.push(t);
  return stops;
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/**
 * Writes the Ollama Modelfile for a GGUF (from its own chat template and EOS token). A Modelfile is never silently
 * replaced: with a `path`, an existing file there with other content is an error; without one, it is `Modelfile`
 * beside the GGUF when that name is free (or holds this very text), else one named after the GGUF
 * (`model-q4_k_m.Modelfile` for `model-q4_k_m.gguf`), which belongs to that GGUF and is rewritten with it.
 */
export function writeModelfile(gguf: string, path?: string, info = readGgufInfo(gguf)): string {
  const chatTemplate = (info.metadata.get("tokenizer.chat_template") as string | undefined) ?? null;
  const text = modelfileText({ gguf, chatTemplate, stop: stopStrings(info) });
  if (path === undefined) {
    const dir = dirname(resolve(gguf));
    const shared = join(dir, "Modelfile");
    const existing = readIfExists(shared);
    path =
      existing === null || existing === text
        ? shared
        : join(dir, `${basename(gguf).replace(/\.gguf$/i, "")}.Modelfile`);
  } else {
    const existing = readIfExists(path);
    if (existing !== null && existing !== text)
      throw new Error(
        `${path}: exists with other content; not replacing it (remove it, or name another Modelfile path)`,
      );
  }
  writeFileAtomic(path, text);
  return path;
}

/** Quantizes a GGUF or an HF folder with llama.cpp's quantizer. Bad input fails before any output is created. */
export async function quantize(opts: QuantizeOptions): Promise<QuantizeResult> {
  const t0 = performance.now();
  const type = parseFileType(opts.type ?? DEFAULT_QUANT_TYPE);
  const ftype = FILE_TYPES[type];
  if (!existsSync(opts.input)) throw new Error(`${opts.input}: no such file or folder`);
  const fromFolder = statSync(opts.input).isDirectory();
  let inputInfo: GgufInfo | undefined;
  let srcType: GgufFloatType = "F32";
  if (fromFolder) {
    const cfg = readQwen2Config(opts.input);
    srcType = cfg.torchDtype === "bfloat16" ? "BF16" : cfg.torchDtype === "float16" ? "F16" : "F32";
  } else {
    inputInfo = readGgufInfo(opts.input); // "not a GGUF file" etc.
    if (inputInfo.metadata.get("general.type") === "adapter")
      throw new Error(`${opts.input}: is a LoRA adapter GGUF, not a model`);
  }
  checkWritableDir(opts.output);
  if (typeof opts.modelfile === "string" && existsSync(opts.modelfile)) {
    const existing = readFileSync(opts.modelfile, "utf8");
    if (!existing.startsWith(`FROM ./${basename(opts.output)}\n`))
      throw new Error(
        `${opts.modelfile}: exists and is not the Modelfile of ${basename(opts.output)}; not replacing it (remove it, or name another Modelfile path)`,
      );
  }
  const quantizer = fromFolder && (type === "F32" || type === "F16" || type === "BF16") ? null : nativeQuantizer();
  const streaming = fromFolder && quantizer !== null && opts.streaming !== false;
  if (fromFolder && !streaming) checkFreeSpace(opts.input, opts.output);

  const tmpOut = tempPathFor(opts.output, "tmp");
  const tmpIn = fromFolder && !streaming ? tempPathFor(opts.output, `${srcType.toLowerCase()}.gguf`) : null;
  const stopWatchingSignals = removeOnInterrupt(tmpIn ? [tmpOut, tmpIn] : [tmpOut]);
  try {
    let input = opts.input;
    if (streaming) {
      await streamingQuantize({
        model: opts.input,
        out: opts.output,
        tmpPath: tmpOut,
        type,
        threads: opts.threads,
        quantizer: quantizer!,
        onTensor: opts.onProgress ? (d, n) => opts.onProgress!(d / n, "quantize") : undefined,
      });
    } else if (fromFolder) {
      if (!quantizer) {
        // A float type from a folder is a plain conversion.
        await toGGUF({
          model: opts.input,
          out: tmpOut,
          type: type as GgufFloatType,
          onProgress: (d, n) => opts.onProgress?.(d / n, "convert"),
        });
      } else {
        await toGGUF({
          model: opts.input,
          out: tmpIn!,
          type: srcType,
          onProgress: (d, n) => opts.onProgress?.((0.3 * d) / n, "convert"),
        });
        input = tmpIn!;
      }
    }
    if (quantizer && !streaming) {
      const base = fromFolder ? 0.3 : 0;
      await quantizer.quantize({
        input,
        output: tmpOut,
        ftype,
        threads: opts.threads ?? availableParallelism(),
        allowRequantize: opts.allowRequantize ?? false,
        onTensor: opts.onProgress
          ? (i, n) => opts.onProgress!(base + ((1 - base) * (i - 1)) / n, "quantize")
          : undefined,
      });
    }
    if (!streaming) commitFile(tmpOut, opts.output); // the streaming writer renames its own temp file
  } catch (err) {
    rmSync(tmpOut, { force: true });
    throw err;
  } finally {
    stopWatchingSignals();
    if (tmpIn) rmSync(tmpIn, { force: true });
  }
  opts.onProgress?.(1, "quantize");
  const outInfo = readGgufInfo(opts.output);
  let modelfile: string | undefined;
  if (opts.modelfile !== false) {
    modelfile = writeModelfile(opts.output, typeof opts.modelfile === "string" ? opts.modelfile : undefined, outInfo);
  }
  return {
    output: opts.output,
    type,
    bytes: outInfo.fileSize,
    modelfile,
    tensorTypes: tensorTypeCounts(outInfo),
    seconds: (performance.now() - t0) / 1000,
  };
}
