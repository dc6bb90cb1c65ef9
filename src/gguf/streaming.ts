// Streaming convert-and-quantize: an HF Qwen2 folder straight to a quantized GGUF, tensor by tensor, without the
// intermediate GGUF of the two-step route. Each tensor is read from the safetensors in slabs of whole rows, widened to
// F32 and quantized by ggml_quantize_chunk (node-llama-cpp's libggml-base, through the addon, on worker threads);
// tensor types follow llama.cpp's recipe (recipe.ts), metadata and tensor order are those llama_model_quantize writes
// for the GGUF `toGGUF(--type <source dtype>)` would have produced. test/gguf-streaming.test.ts compares the bytes.
import { closeSync, openSync, readSync } from "node:fs";
import { availableParallelism } from "node:os";
import { openSafetensors, readQwen2Config, toFloat32, type TensorInfo } from "../model/index.js";
import { FILE_TYPES, GGML_TYPES, type FileTypeName, type GgmlTypeName } from "./constants.js";
import { planQwen2Gguf, type GgufFloatType } from "./convert.js";
import { kv, writeGgufAsync, type GgufAsyncTensorSpec, type GgufKv } from "./file.js";
import { nativeQuantizer, type NativeQuantizer } from "./native.js";
import { llamaQuantTensorOrder, llamaQuantTypes } from "./recipe.js";

/** GGML_QNT_VERSION of the llama.cpp that node-llama-cpp 3.21.1 ships. */
const GGML_QNT_VERSION = 2;
/** Values per quantization slab (whole rows; at least one row). */
const SLAB_VALUES = 1 << 22;

export interface StreamingQuantizeOptions {
  /** HF Qwen2 folder. */
  model: string;
  /** Output .gguf path (written to `tmpPath`, then renamed). */
  out: string;
  tmpPath?: string;
  /** A quantized llama.cpp file type (Q4_K_M, Q8_0, …). */
  type: FileTypeName;
  threads?: number;
  onTensor?: (done: number, total: number, name: string) => void;
  /** Defaults to the addon's quantizer over node-llama-cpp's libraries. */
  quantizer?: NativeQuantizer;
}

/** The metadata llama_model_quantize writes: the input's, with quantization_version then file_type moved last. */
export function quantizedMetadata(input: readonly GgufKv[], ftype: number): GgufKv[] {
  const moved = new Set(["general.quantization_version", "general.file_type"]);
  return [
    ...input.filter((m) => !moved.has(m.key)),
    kv.u32("general.quantization_version", GGML_QNT_VERSION),
    kv.u32("general.file_type", ftype),
  ];
}

/** A tensor's rows in slabs, as F32. */
function* f32Slabs(info: TensorInfo, nPerRow: number): Iterable<Float32Array> {
  const inSize = info.dtype === "F32" ? 4 : 2;
  const rowBytes = nPerRow * inSize;
  const rows = info.byteLength / rowBytes;
  const slabRows = Math.max(1, Math.floor(SLAB_VALUES / nPerRow));
  const buf = new Uint8Array(Math.min(rows, slabRows) * rowBytes);
  const fd = openSync(info.file, "r");
  try {
    for (let r = 0; r < rows; r += slabRows) {
      const n = Math.min(slabRows, rows - r) * rowBytes;
      let got = 0;
      while (got < n) {
        const k = readSync(fd, buf, got, n - got, info.offset + r * rowBytes + got);
        if (k <= 0) throw new Error(`${info.file}: tensor '${info.name}' is truncated`);
        got += k;
      }
      yield toFloat32({ dtype: info.dtype, data: buf.subarray(0, n), name: info.name });
    }
  } finally {
    closeSync(fd);
  }
}

/** Converts and quantizes an HF Qwen2 folder to a GGUF in one pass; returns each tensor's output type. */
export async function streamingQuantize(opts: StreamingQuantizeOptions): Promise<Map<string, GgmlTypeName>> {
  const ftype = FILE_TYPES[opts.type];
  const dtype = readQwen2Config(opts.model).torchDtype;
  const srcType: GgufFloatType = dtype === "bfloat16" ? "BF16" : dtype === "float16" ? "F16" : "F32";
  // The plan of the GGUF the two-step route would quantize (source precision): its metadata and tensor types.
  const plan = planQwen2Gguf(opts.model, srcType);
  const st = openSafetensors(opts.model);
  const hfByGguf = new Map([...plan.names].map(([hf, g]) => [g, hf]));
  const cfg = plan.config;
  const types = llamaQuantTypes(
    opts.type,
    { layers: cfg.numHiddenLayers, gqa: cfg.numAttentionHeads / cfg.numKeyValueHeads },
    plan.tensors,
  );
  const quantizer = opts.quantizer ?? nativeQuantizer();
  const threads = opts.threads ?? availableParallelism();
  const tensors: GgufAsyncTensorSpec[] = llamaQuantTensorOrder(plan.tensors).map((t) => {
    const to = types.get(t.name)!;
    if (to === t.type) return t; // llama.cpp copies it as is
    const info = st.info(hfByGguf.get(t.name)!);
    const nPerRow = t.dims[0];
    return {
      name: t.name,
      dims: t.dims,
      type: to,
      data: async function* () {
        for (const slab of f32Slabs(info, nPerRow))
          yield await quantizer.quantizeRows(GGML_TYPES[to].id, slab, nPerRow, threads);
      },
    };
  });
  await writeGgufAsync(opts.out, quantizedMetadata(plan.metadata, ftype), tensors, {
    onTensor: opts.onTensor,
    tmpPath: opts.tmpPath,
  });
  return types;
}
