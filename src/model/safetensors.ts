// Safetensors: a reader over single or sharded files (tensors are zero-copy views of memory-mapped files) and a
// streaming writer whose output is byte-identical to Python's `safetensors` for the same tensors.
//
// Format (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes of JSON
// {"__metadata__":{str:str}?, name:{"dtype","shape","data_offsets":[begin,end]}…} padded with spaces to a multiple
// of 8, then the data buffer; offsets are relative to the buffer, tensors are contiguous and cover it exactly.
// The writer orders tensors as safetensors' `prepare` does: by dtype, largest alignment first (the Rust `Dtype` enum
// order, reversed), then by name; the header lists `__metadata__` first, then the tensors in data order.
import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  statSync,
} from "node:fs";
import { mkdir } from "node:fs/promises";
import { constants as bufferConstants } from "node:buffer";
import { basename, dirname, join } from "node:path";
import { loadAddon } from "../native/index.js";
import { streamFileAtomic, writeFileAtomic } from "../files/index.js";

/** Element sizes in bytes, in the order of safetensors' Rust `Dtype` enum (increasing alignment). */
const DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_SIZES;
const DTYPE_RANK: Record<string, number> = Object.fromEntries(Object.keys(DTYPE_SIZES).map((k, i) => [k, i]));

/** Largest file mapped whole (the largest ArrayBuffer this Node.js allows); larger files are read per tensor. */
export const MAX_MAPPABLE_BYTES = bufferConstants.MAX_LENGTH;

/** Largest header the reader accepts (as the Rust library: 100 MB). */
export const MAX_HEADER_SIZE = 100_000_000;

export function isSafetensorsDtype(x: unknown): x is SafetensorsDtype {
  return typeof x === "string" && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, x);
}

export function dtypeSize(dtype: SafetensorsDtype): number {
  return DTYPE_SIZES[dtype];
}

export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Where a tensor lives: its file and the absolute byte offset of its data in that file. */
export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  file: string;
  /** Absolute offset of the tensor's first byte in `file`. */
  offset: number;
  byteLength: number;
}

/** A tensor's bytes (little-endian, C order) with its dtype and shape. From the reader: a view, not a copy. */
export interface Tensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

function fail(file: string, what: string): never {
  throw new Error(`${file}: ${what}`);
}

let mapFileImpl: ((path: string) => ArrayBuffer) | null | undefined;
/** The addon's mapFile, or null when the addon is not built (then tensors are read from the file on demand). */
function mapper(): ((path: string) => ArrayBuffer) | null {
  if (mapFileImpl === undefined) {
    try {
      const addon = loadAddon();
      mapFileImpl = (p) => addon.mapFile(p);
    } catch {
      mapFileImpl = null;
    }
  }
  return mapFileImpl;
}

/** Test hook: force the no-addon fallback (true) or restore automatic choice (false). */
export function setSafetensorsMappingDisabled(disabled: boolean): void {
  mapFileImpl = disabled ? null : undefined;
}

/** One .safetensors file: header parsed and validated on open, tensors mapped lazily. */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string> | undefined;
  /** Bytes of the JSON header (without the 8-byte length). */
  readonly headerLength: number;
  readonly fileSize: number;
  private readonly infos = new Map<string, TensorInfo>();
  private mapped: ArrayBuffer | undefined;

  private constructor(
    path: string,
    headerLength: number,
    fileSize: number,
    metadata: Record<string, string> | undefined,
    infos: TensorInfo[],
  ) {
    this.path = path;
    this.headerLength = headerLength;
    this.fileSize = fileSize;
    this.metadata = metadata;
    for (const t of infos) this.infos.set(t.name, t);
  }

  /** Opens and validates a file (reads only its header). */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw new Error(`${path}: cannot open safetensors file (${(e as Error).message})`);
    }
    try {
      const size = fstatSync(fd).size;
      if (size < 8)
        fail(path, `truncated file: ${size} bytes, but a safetensors file starts with an 8-byte header length`);
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const n64 = lenBuf.readBigUInt64LE(0);
      if (n64 > BigInt(MAX_HEADER_SIZE))
        fail(path, `header length ${n64} is larger than ${MAX_HEADER_SIZE} bytes (not a safetensors file?)`);
      const n = Number(n64);
      if (8 + n > size)
        fail(path, `truncated file: header says ${n} header bytes but the file has ${size} bytes in all`);
      const hbuf = Buffer.alloc(n);
      let got = 0;
      while (got < n) {
        const r = readSync(fd, hbuf, got, n - got, 8 + got);
        if (r === 0) break;
        got += r;
      }
      const { metadata, tensors } = parseHeader(path, hbuf, 8 + n, size);
      return new SafetensorsFile(path, n, size, metadata, tensors);
    } finally {
      closeSync(fd);
    }
  }

  /** Tensor names in file (data) order. */
  names(): string[] {
    return [...this.infos.keys()];
  }

  has(name: string): boolean {
    return this.infos.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.infos.get(name);
    if (!t) fail(this.path, `no tensor named '${name}'`);
    return t;
  }

  infoList(): TensorInfo[] {
    return [...this.infos.values()];
  }

  /**
   * The tensor's bytes: a view over the mapped file (no copy); read from the file (a copy of this tensor only) when
   * the addon is missing or the file is larger than MAX_MAPPABLE_BYTES.
   */
  tensor(name: string): Tensor {
    const t = this.info(name);
    return { name, dtype: t.dtype, shape: [...t.shape], data: this.bytes(t.offset, t.byteLength) };
  }

  private bytes(offset: number, length: number): Uint8Array {
    if (length === 0) return new Uint8Array(0);
    const map = mapper();
    // An ArrayBuffer cannot exceed MAX_MAPPABLE_BYTES (Node 20: 4 GiB); larger files are read tensor by tensor.
    if (map && this.fileSize <= MAX_MAPPABLE_BYTES) {
      if (!this.mapped) {
        this.mapped = map(this.path);
        if (this.mapped.byteLength !== this.fileSize)
          fail(this.path, `file changed size while open (${this.fileSize} → ${this.mapped.byteLength} bytes)`);
      }
      return new Uint8Array(this.mapped, offset, length);
    }
    const out = new Uint8Array(length);
    const fd = openSync(this.path, "r");
    try {
      let got = 0;
      while (got < length) {
        const r = readSync(fd, out, got, length - got, offset + got);
        if (r === 0) fail(this.path, `truncated while reading ${length} bytes at ${offset}`);
        got += r;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

interface RawInfo {
  dtype?: unknown;
  shape?: unknown;
  data_offsets?: unknown;
}

function parseHeader(
  path: string,
  hbuf: Buffer,
  dataStart: number,
  fileSize: number,
): { metadata: Record<string, string> | undefined; tensors: TensorInfo[] } {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(hbuf);
  } catch {
    fail(path, "header is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) fail(path, "header is not a JSON object");
  let metadata: Record<string, string> | undefined;
  const tensors: TensorInfo[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (!raw || typeof raw !== "object" || Array.isArray(raw))
        fail(path, "__metadata__ must be an object of strings");
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(path, `__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    if (!raw || typeof raw !== "object") fail(path, `tensor '${name}': entry is not an object`);
    const r = raw as RawInfo;
    if (!isSafetensorsDtype(r.dtype))
      fail(
        path,
        `tensor '${name}': unknown dtype ${JSON.stringify(r.dtype)} (known: ${Object.keys(DTYPE_SIZES).join(", ")})`,
      );
    if (!Array.isArray(r.shape) || !r.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(path, `tensor '${name}': shape must be an array of non-negative integers, got ${JSON.stringify(r.shape)}`);
    }
    const off = r.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((d) => Number.isSafeInteger(d) && d >= 0) ||
      off[1] < off[0]
    ) {
      fail(
        path,
        `tensor '${name}': data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(off)}`,
      );
    }
    const shape = r.shape as number[];
    const byteLength = numElements(shape) * DTYPE_SIZES[r.dtype];
    if (off[1] - off[0] !== byteLength) {
      fail(
        path,
        `tensor '${name}': data_offsets ${JSON.stringify(off)} span ${off[1] - off[0]} bytes, but ${r.dtype} ${JSON.stringify(shape)} needs ${byteLength}`,
      );
    }
    tensors.push({ name, dtype: r.dtype, shape, file: path, offset: dataStart + off[0], byteLength });
  }
  tensors.sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  const dataSize = fileSize - dataStart;
  let expected = dataStart;
  for (const t of tensors) {
    const rel = t.offset - dataStart;
    if (t.offset !== expected) {
      fail(
        path,
        `tensor '${t.name}': data_offsets begin at ${rel}, expected ${expected - dataStart} (tensors must be contiguous, without gaps or overlaps)`,
      );
    }
    if (t.offset + t.byteLength > fileSize) {
      fail(
        path,
        `truncated file: tensor '${t.name}' needs bytes ${rel}..${rel + t.byteLength} of the data buffer, which has only ${dataSize} bytes`,
      );
    }
    expected = t.offset + t.byteLength;
  }
  if (expected !== fileSize) fail(path, `${fileSize - expected} unexpected trailing bytes after the last tensor`);
  return { metadata, tensors };
}

/** The index of a sharded checkpoint (`model.safetensors.index.json`). */
export interface SafetensorsIndex {
  metadata: { total_size?: number; [k: string]: unknown };
  weight_map: Record<string, string>;
}

/** Reads and validates a `*.safetensors.index.json`. */
export function readSafetensorsIndex(path: string): SafetensorsIndex {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    fail(path, `cannot read the shard index (${(e as Error).message})`);
  }
  const j = json as Partial<SafetensorsIndex>;
  if (!j || typeof j !== "object" || !j.weight_map || typeof j.weight_map !== "object" || Array.isArray(j.weight_map))
    fail(path, "weight_map is missing or not an object");
  for (const [name, file] of Object.entries(j.weight_map)) {
    if (typeof file !== "string" || file.includes("/") || file.includes("\\") || file === "..")
      fail(path, `weight_map['${name}'] must be a file name beside the index, got ${JSON.stringify(file)}`);
  }
  return { metadata: (j.metadata ?? {}) as SafetensorsIndex["metadata"], weight_map: j.weight_map };
}

/** A model's tensors over one file or several shards; the same view either way. */
export class SafetensorsReader {
  readonly files: SafetensorsFile[];
  /** The shard index, when the tensors come from a sharded checkpoint. */
  readonly index: SafetensorsIndex | undefined;
  private readonly where = new Map<string, SafetensorsFile>();

  private constructor(files: SafetensorsFile[], index: SafetensorsIndex | undefined, indexPath?: string) {
    this.files = files;
    this.index = index;
    for (const f of files) {
      for (const name of f.names()) {
        const prev = this.where.get(name);
        if (prev) throw new Error(`tensor '${name}' is in both ${prev.path} and ${f.path}`);
        this.where.set(name, f);
      }
    }
    if (index && indexPath) {
      for (const [name, file] of Object.entries(index.weight_map)) {
        const f = this.where.get(name);
        if (!f) fail(indexPath, `weight_map lists '${name}' in ${file}, but that file has no such tensor`);
        if (basename(f.path) !== file)
          fail(indexPath, `weight_map puts '${name}' in ${file}, but it is in ${basename(f.path)}`);
      }
      for (const name of this.where.keys()) {
        if (!(name in index.weight_map))
          fail(indexPath, `tensor '${name}' of ${basename(this.where.get(name)!.path)} is missing from weight_map`);
      }
    }
  }

  /**
   * Opens a `.safetensors` file, a `.safetensors.index.json`, or a model folder (its `model.safetensors.index.json`,
   * else `model.safetensors`, else its only `*.safetensors` file).
   */
  static open(path: string): SafetensorsReader {
    if (!existsSync(path)) throw new Error(`${path}: no such file or folder`);
    if (statSync(path).isDirectory()) {
      const idx = join(path, "model.safetensors.index.json");
      if (existsSync(idx)) return SafetensorsReader.open(idx);
      const single = join(path, "model.safetensors");
      if (existsSync(single)) return new SafetensorsReader([SafetensorsFile.open(single)], undefined);
      const found = readdirSync(path).filter((f) => f.endsWith(".safetensors"));
      if (found.length === 1) return new SafetensorsReader([SafetensorsFile.open(join(path, found[0]))], undefined);
      throw new Error(
        `${path}: no model weights found (expected model.safetensors or model.safetensors.index.json` +
          (found.length ? `; found several .safetensors files without an index: ${found.join(", ")})` : ")"),
      );
    }
    if (path.endsWith(".json")) {
      const index = readSafetensorsIndex(path);
      const dir = dirname(path);
      const shardNames = [...new Set(Object.values(index.weight_map))].sort();
      const files = shardNames.map((f) => {
        const p = join(dir, f);
        if (!existsSync(p)) fail(path, `shard ${f} listed in weight_map is missing`);
        return SafetensorsFile.open(p);
      });
      return new SafetensorsReader(files, index, path);
    }
    return new SafetensorsReader([SafetensorsFile.open(path)], undefined);
  }

  /** Tensor names: shard by shard, in data order within each. */
  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  info(name: string): TensorInfo {
    const f = this.where.get(name);
    if (!f) throw new Error(`no tensor named '${name}' in ${this.files.map((x) => x.path).join(", ")}`);
    return f.info(name);
  }

  /** A zero-copy view of the tensor's bytes (see SafetensorsFile.tensor). */
  tensor(name: string): Tensor {
    const f = this.where.get(name);
    if (!f) throw new Error(`no tensor named '${name}' in ${this.files.map((x) => x.path).join(", ")}`);
    return f.tensor(name);
  }

  /** The first file's __metadata__ (e.g. {"format":"pt"}). */
  get metadata(): Record<string, string> | undefined {
    return this.files[0]?.metadata;
  }
}

/** Opens a model's weights: see SafetensorsReader.open. */
export function openSafetensors(path: string): SafetensorsReader {
  return SafetensorsReader.open(path);
}

// ---------------------------------------------------------------------------------------------------------------
// Float conversions (little-endian hosts).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** F32 → F16 bits, round to nearest even; overflow → ±Inf, NaN stays NaN (quiet). */
export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // re-biased exponent (127 → 15)
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is the right result (up to Inf)
  return sign | h;
}

/** F32 → BF16 bits, round to nearest even (as torch); NaN stays NaN (quiet). */
export function f32ToBf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function u16View(data: Uint8Array): Uint16Array {
  if (data.byteOffset % 2 === 0) return new Uint16Array(data.buffer, data.byteOffset, data.byteLength >>> 1);
  return new Uint16Array(data.slice().buffer, 0, data.byteLength >>> 1);
}

let f16Table: Float32Array | undefined;
function f16ToF32Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToF32(i);
  }
  return f16Table;
}

/** A tensor's values as F32 (F32 copied, F16/BF16 widened). */
export function toFloat32(t: Pick<Tensor, "dtype" | "data"> & { name?: string }): Float32Array {
  const { dtype, data } = t;
  if (dtype === "F32") {
    const out = new Float32Array(data.byteLength >>> 2);
    new Uint8Array(out.buffer).set(data);
    return out;
  }
  if (dtype === "BF16") {
    const src = u16View(data);
    const out = new Float32Array(src.length);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
    return out;
  }
  if (dtype === "F16") {
    const src = u16View(data);
    const table = f16ToF32Table();
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
    return out;
  }
  throw new Error(`tensor${t.name ? ` '${t.name}'` : ""}: cannot convert dtype ${dtype} to F32 (only F32, F16, BF16)`);
}

/** F32 values as bytes of `dtype` (F32 copied, F16/BF16 rounded to nearest even). */
export function fromFloat32(values: Float32Array, dtype: "F32" | "F16" | "BF16"): Uint8Array {
  if (dtype === "F32") return new Uint8Array(values.slice().buffer);
  const out = new Uint16Array(values.length);
  if (dtype === "BF16") {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) {
      const x = bits[i];
      out[i] =
        (x & 0x7f800000) === 0x7f800000 && x & 0x7fffff
          ? ((x >>> 16) | 0x40) & 0xffff
          : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
    }
  } else {
    for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
  }
  return new Uint8Array(out.buffer);
}

// ---------------------------------------------------------------------------------------------------------------
// Writer.

/** A tensor to write: its bytes now, or a function producing them when the writer reaches it (streaming). */
export interface TensorSource {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

export interface SafetensorsPlan {
  /** The 8-byte length plus the padded JSON header. */
  header: Buffer;
  /** Tensors in data order, with their offsets in the data buffer. */
  order: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[];
  dataSize: number;
}

function compareNames(a: string, b: string): number {
  // Rust compares strings bytewise (UTF-8); JS compares UTF-16 code units: equal for the BMP below surrogates.
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Plans a file: the tensor order, offsets and header bytes, exactly as Python's safetensors would write them. */
export function planSafetensors(
  tensors: readonly Pick<TensorSource, "name" | "dtype" | "shape">[],
  metadata?: Record<string, string>,
): SafetensorsPlan {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === "__metadata__") throw new Error("a tensor cannot be named __metadata__");
    if (seen.has(t.name)) throw new Error(`tensor '${t.name}' is listed twice`);
    seen.add(t.name);
    if (!isSafetensorsDtype(t.dtype)) throw new Error(`tensor '${t.name}': unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Error(`tensor '${t.name}': bad shape ${JSON.stringify(t.shape)}`);
  }
  const sorted = [...tensors].sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareNames(a.name, b.name));
  const order: SafetensorsPlan["order"] = [];
  // Built by hand: a JS object would move integer-like keys ("0", "1") to the front.
  const entries: string[] = [];
  if (metadata)
    entries.push(
      `"__metadata__":{${Object.entries(metadata)
        .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
        .join(",")}}`,
    );
  let off = 0;
  for (const t of sorted) {
    const n = numElements(t.shape) * DTYPE_SIZES[t.dtype];
    order.push({ name: t.name, dtype: t.dtype, shape: [...t.shape], begin: off, end: off + n });
    entries.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${off},${off + n}]}`,
    );
    off += n;
  }
  let json = Buffer.from(`{${entries.join(",")}}`, "utf8");
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const header = Buffer.alloc(8 + json.length);
  header.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(header, 8);
  return { header, order, dataSize: off };
}

/** Serialises tensors into one buffer (small files: adapters, tests). */
export function serializeSafetensors(tensors: readonly Tensor[], metadata?: Record<string, string>): Buffer {
  const plan = planSafetensors(tensors, metadata);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out = Buffer.alloc(plan.header.length + plan.dataSize);
  plan.header.copy(out, 0);
  for (const o of plan.order) {
    const t = byName.get(o.name)!;
    if (t.data.byteLength !== o.end - o.begin)
      throw new Error(
        `tensor '${o.name}': ${t.data.byteLength} bytes given, ${o.dtype} ${JSON.stringify(o.shape)} needs ${o.end - o.begin}`,
      );
    out.set(t.data, plan.header.length + o.begin);
  }
  return out;
}

/** Writes one .safetensors file, tensor by tensor (data produced on demand), atomically. */
export async function writeSafetensorsFile(
  path: string,
  tensors: readonly TensorSource[],
  options: { metadata?: Record<string, string> } = {},
): Promise<void> {
  const plan = planSafetensors(tensors, options.metadata);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  await mkdir(dirname(path), { recursive: true });
  await streamFileAtomic(path, async (write) => {
    await write(plan.header);
    for (const o of plan.order) {
      const src = byName.get(o.name)!;
      const data = typeof src.data === "function" ? await src.data() : src.data;
      if (!(data instanceof Uint8Array)) throw new Error(`${path}: tensor '${o.name}': data must be a Uint8Array`);
      if (data.byteLength !== o.end - o.begin)
        throw new Error(
          `${path}: tensor '${o.name}': ${data.byteLength} bytes given, ${o.dtype} ${JSON.stringify(o.shape)} needs ${o.end - o.begin}`,
        );
      await write(data);
    }
  });
}

/** A named F32 tensor as small-file callers hold it (LoRA matrices, optimizer moments): row-major values. */
export interface F32Tensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** An F32 tensor as the writer's `Tensor` (a little-endian byte view of the same memory, no copy). */
export function f32Tensor(t: F32Tensor): Tensor {
  return {
    name: t.name,
    dtype: "F32",
    shape: t.shape,
    data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  };
}

/** Serialises F32 tensors into one buffer (bytes as Python's safetensors writes the same float32 tensors). */
export function serializeSafetensorsF32(tensors: readonly F32Tensor[], metadata?: Record<string, string>): Buffer {
  return serializeSafetensors(tensors.map(f32Tensor), metadata);
}

/** Reads every tensor of a (small) file as F32 copies (F16/BF16 widened), in data order. Errors name the file. */
export function readSafetensorsF32(path: string): F32Tensor[] {
  const file = SafetensorsFile.open(path);
  return file.names().map((name) => {
    const t = file.tensor(name);
    let data: Float32Array;
    try {
      data = toFloat32(t);
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
    return { name, shape: t.shape, data };
  });
}

/** Synchronous single-file write for small tensor sets (adapters, optimizer moments). */
export function writeSafetensorsFileSync(
  path: string,
  tensors: readonly Tensor[],
  options: { metadata?: Record<string, string> } = {},
): void {
  writeFileAtomic(path, serializeSafetensors(tensors, options.metadata));
}

export interface WriteModelOptions {
  /** Largest shard in bytes of tensor data (transformers' default: 5 GB). A larger tensor gets a shard of its own. */
  maxShardSize?: number;
  /** __metadata__ of every file (default {"format":"pt"}, as transformers' save_pretrained). */
  metadata?: Record<string, string>;
  /** File prefix: `model` → model.safetensors or model-00001-of-0000N.safetensors + model.safetensors.index.json. */
  prefix?: string;
}

export interface WriteModelResult {
  files: string[];
  indexPath?: string;
  totalSize: number;
}

export const DEFAULT_MAX_SHARD_SIZE = 5_000_000_000;

/**
 * Writes a model's tensors into `dir` as transformers' save_pretrained does: `model.safetensors` when everything
 * fits in one shard, else `model-0000i-of-0000N.safetensors` plus `model.safetensors.index.json` (metadata.total_size,
 * weight_map sorted by name). Shards are filled in the given tensor order. Every file is written atomically; weight
 * files of an earlier save with other names are removed afterwards.
 */
export async function writeSafetensorsModel(
  dir: string,
  tensors: readonly TensorSource[],
  options: WriteModelOptions = {},
): Promise<WriteModelResult> {
  const maxShard = options.maxShardSize ?? DEFAULT_MAX_SHARD_SIZE;
  if (!(maxShard > 0)) throw new Error(`maxShardSize must be > 0, got ${maxShard}`);
  const metadata = options.metadata ?? { format: "pt" };
  const prefix = options.prefix ?? "model";
  planSafetensors(tensors); // validates names, dtypes and shapes up front
  const shards: TensorSource[][] = [];
  let current: TensorSource[] = [];
  let currentSize = 0;
  let totalSize = 0;
  for (const t of tensors) {
    const n = numElements(t.shape) * DTYPE_SIZES[t.dtype];
    totalSize += n;
    if (n > maxShard) {
      shards.push([t]);
      continue;
    }
    if (current.length && currentSize + n > maxShard) {
      shards.push(current);
      current = [];
      currentSize = 0;
    }
    current.push(t);
    currentSize += n;
  }
  if (current.length || shards.length === 0) shards.push(current);
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  let indexPath: string | undefined;
  if (shards.length === 1) {
    const p = join(dir, `${prefix}.safetensors`);
    await writeSafetensorsFile(p, shards[0], { metadata });
    files.push(p);
  } else {
    const N = shards.length;
    const width = 5;
    const weightMap: Record<string, string> = {};
    for (let i = 0; i < N; i++) {
      const name = `${prefix}-${String(i + 1).padStart(width, "0")}-of-${String(N).padStart(width, "0")}.safetensors`;
      const p = join(dir, name);
      await writeSafetensorsFile(p, shards[i], { metadata });
      files.push(p);
      for (const t of shards[i]) weightMap[t.name] = name;
    }
    const sortedMap: Record<string, string> = {};
    for (const k of Object.keys(weightMap).sort()) sortedMap[k] = weightMap[k];
    indexPath = join(dir, `${prefix}.safetensors.index.json`);
    writeFileAtomic(
      indexPath,
      JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sortedMap }, null, 2) + "\n",
    );
  }
  // Leftovers of an earlier save in the other layout would confuse readers.
  const keep = new Set([...files.map((f) => basename(f)), ...(indexPath ? [basename(indexPath)] : [])]);
  const shardRe = new RegExp(
    `^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(-\\d{5}-of-\\d{5})?\\.safetensors(\\.index\\.json)?$`,
  );
  for (const f of readdirSync(dir)) if (shardRe.test(f) && !keep.has(f)) rmSync(join(dir, f), { force: true });
  return { files, indexPath, totalSize };
}
