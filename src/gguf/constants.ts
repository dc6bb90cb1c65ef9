// GGUF v3 constants: metadata value types, ggml tensor types (block geometry), llama.cpp file types (llama_ftype).
// Numbers are those of ggml.h / llama.h at node-llama-cpp 3.21.1's llama.cpp commit (the format, not code).

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf_type). */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Tensor types (ggml_type) with their block size (values per block) and block bytes. */
export const GGML_TYPES = {
  F32: { id: 0, blockSize: 1, blockBytes: 4 },
  F16: { id: 1, blockSize: 1, blockBytes: 2 },
  Q4_0: { id: 2, blockSize: 32, blockBytes: 18 },
  Q4_1: { id: 3, blockSize: 32, blockBytes: 20 },
  Q5_0: { id: 6, blockSize: 32, blockBytes: 22 },
  Q5_1: { id: 7, blockSize: 32, blockBytes: 24 },
  Q8_0: { id: 8, blockSize: 32, blockBytes: 34 },
  Q8_1: { id: 9, blockSize: 32, blockBytes: 36 },
  Q2_K: { id: 10, blockSize: 256, blockBytes: 84 },
  Q3_K: { id: 11, blockSize: 256, blockBytes: 110 },
  Q4_K: { id: 12, blockSize: 256, blockBytes: 144 },
  Q5_K: { id: 13, blockSize: 256, blockBytes: 176 },
  Q6_K: { id: 14, blockSize: 256, blockBytes: 210 },
  Q8_K: { id: 15, blockSize: 256, blockBytes: 292 },
  IQ4_NL: { id: 20, blockSize: 32, blockBytes: 18 },
  IQ4_XS: { id: 23, blockSize: 256, blockBytes: 136 },
  I8: { id: 24, blockSize: 1, blockBytes: 1 },
  I16: { id: 25, blockSize: 1, blockBytes: 2 },
  I32: { id: 26, blockSize: 1, blockBytes: 4 },
  I64: { id: 27, blockSize: 1, blockBytes: 8 },
  F64: { id: 28, blockSize: 1, blockBytes: 8 },
  BF16: { id: 30, blockSize: 1, blockBytes: 2 },
} as const;

export type GgmlTypeName = keyof typeof GGML_TYPES;

const GGML_TYPE_BY_ID = new Map<number, GgmlTypeName>(
  (Object.keys(GGML_TYPES) as GgmlTypeName[]).map((name) => [GGML_TYPES[name].id, name]),
);

/** The name of a ggml_type id ("Q4_K"), or `type<id>` for ids this table does not know. */
export function ggmlTypeName(id: number): string {
  return GGML_TYPE_BY_ID.get(id) ?? `type${id}`;
}

/** Bytes of a tensor of `elements` values (its row length must be a multiple of the block size). */
export function ggmlTensorBytes(type: GgmlTypeName, dims: readonly number[]): number {
  const t = GGML_TYPES[type];
  const rowLen = dims[0] ?? 1;
  if (rowLen % t.blockSize !== 0) {
    throw new Error(`a ${type} tensor needs rows of a multiple of ${t.blockSize} values, got ${rowLen}`);
  }
  let n = 1;
  for (const d of dims) n *= d;
  return (n / t.blockSize) * t.blockBytes;
}

/**
 * The output types `quantize` and `convert` offer, by llama.cpp's names (as llama-quantize spells them), with
 * their llama_ftype. F32/F16/BF16 are also what `convert` writes directly.
 */
export const FILE_TYPES = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q8_0: 7,
  Q5_0: 8,
  Q5_1: 9,
  Q2_K: 10,
  Q3_K_S: 11,
  Q3_K_M: 12,
  Q3_K_L: 13,
  Q4_K_S: 14,
  Q4_K_M: 15,
  Q5_K_S: 16,
  Q5_K_M: 17,
  Q6_K: 18,
  Q2_K_S: 21,
  IQ4_NL: 25,
  IQ4_XS: 30,
  BF16: 32,
} as const;

export type FileTypeName = keyof typeof FILE_TYPES;

/** A type `quantize` writes, by llama.cpp's name (what `--type` takes). */
export type QuantType = FileTypeName;
/** Every QuantType, in llama_ftype order. */
export const QUANT_TYPES = Object.keys(FILE_TYPES) as readonly QuantType[];

/** llama-quantize's aliases. */
const FILE_TYPE_ALIASES: Record<string, FileTypeName> = { Q3_K: "Q3_K_M", Q4_K: "Q4_K_M", Q5_K: "Q5_K_M" };

export const DEFAULT_QUANT_TYPE: FileTypeName = "Q4_K_M";

/** Parses a type name (case-insensitive, llama-quantize's aliases accepted); unknown names are a clear error. */
export function parseFileType(name: string): FileTypeName {
  const up = name.trim().toUpperCase();
  if (up in FILE_TYPES) return up as FileTypeName;
  if (up in FILE_TYPE_ALIASES) return FILE_TYPE_ALIASES[up];
  throw new Error(`unknown quantization type ${JSON.stringify(name)}; known: ${Object.keys(FILE_TYPES).join(", ")}`);
}

export function fileTypeName(ftype: number): string {
  for (const [k, v] of Object.entries(FILE_TYPES)) if (v === ftype) return k;
  return `ftype${ftype}`;
}
