// GGUF v3 files: a streaming writer (metadata and tensor table planned up front, tensor data written tensor by
// tensor, atomically: temp file + rename) and a reader of the metadata and tensor table.
// Layout: magic, version u32, n_tensors u64, n_kv u64, kv pairs, tensor infos (name, n_dims u32, ne[] u64,
// type u32, offset u64), padding to general.alignment, tensor data (each tensor aligned).
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { AtomicFile, checkOutputFile } from "../files/index.js";
import {
  GGML_TYPES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgufValueType,
  ggmlTensorBytes,
  ggmlTypeName,
  type GgmlTypeName,
} from "./constants.js";

export type GgufScalar = number | bigint | boolean | string;

/** One metadata entry. Arrays carry their item type; 64-bit integers may be given as number or bigint. */
export interface GgufKv {
  key: string;
  type: GgufValueType;
  value: GgufScalar | readonly GgufScalar[];
  itemType?: GgufValueType;
}

export const kv = {
  u32: (key: string, value: number): GgufKv => ({ key, type: GgufValueType.UINT32, value }),
  i32: (key: string, value: number): GgufKv => ({ key, type: GgufValueType.INT32, value }),
  f32: (key: string, value: number): GgufKv => ({ key, type: GgufValueType.FLOAT32, value }),
  bool: (key: string, value: boolean): GgufKv => ({ key, type: GgufValueType.BOOL, value }),
  str: (key: string, value: string): GgufKv => ({ key, type: GgufValueType.STRING, value }),
  strings: (key: string, value: readonly string[]): GgufKv => ({
    key,
    type: GgufValueType.ARRAY,
    itemType: GgufValueType.STRING,
    value,
  }),
  i32s: (key: string, value: readonly number[]): GgufKv => ({
    key,
    type: GgufValueType.ARRAY,
    itemType: GgufValueType.INT32,
    value,
  }),
};

/** A tensor to write: `dims` in ggml order (ne[0] = row length, i.e. the reverse of the PyTorch shape). */
export interface GgufTensorSpec {
  name: string;
  dims: number[];
  type: GgmlTypeName;
  /** Produces the tensor's bytes, in order, in as many chunks as convenient; called once, when its turn comes. */
  data: () => Iterable<Uint8Array>;
}

const SCALAR_BYTES: Partial<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

class ByteWriter {
  private buf: Buffer;
  pos = 0;
  constructor(size = 1 << 20) {
    this.buf = Buffer.alloc(size);
  }
  private need(n: number) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u32(v: number) {
    this.need(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }
  u64(v: number | bigint) {
    this.need(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.pos);
    this.pos += 8;
  }
  str(s: string) {
    const n = Buffer.byteLength(s, "utf8");
    this.u64(n);
    this.need(n);
    this.buf.write(s, this.pos, "utf8");
    this.pos += n;
  }
  scalar(type: GgufValueType, v: GgufScalar, key: string) {
    if (type === GgufValueType.STRING) {
      if (typeof v !== "string") throw new Error(`gguf: ${key}: expected a string, got ${typeof v}`);
      this.str(v);
      return;
    }
    const size = SCALAR_BYTES[type];
    if (size === undefined) throw new Error(`gguf: ${key}: unsupported value type ${type}`);
    this.need(size);
    const b = this.buf;
    const p = this.pos;
    switch (type) {
      case GgufValueType.UINT8:
        b.writeUInt8(Number(v), p);
        break;
      case GgufValueType.INT8:
        b.writeInt8(Number(v), p);
        break;
      case GgufValueType.BOOL:
        b.writeUInt8(v ? 1 : 0, p);
        break;
      case GgufValueType.UINT16:
        b.writeUInt16LE(Number(v), p);
        break;
      case GgufValueType.INT16:
        b.writeInt16LE(Number(v), p);
        break;
      case GgufValueType.UINT32:
        b.writeUInt32LE(Number(v), p);
        break;
      case GgufValueType.INT32:
        b.writeInt32LE(Number(v), p);
        break;
      case GgufValueType.FLOAT32:
        b.writeFloatLE(Number(v), p);
        break;
      case GgufValueType.UINT64:
        b.writeBigUInt64LE(BigInt(v as number | bigint), p);
        break;
      case GgufValueType.INT64:
        b.writeBigInt64LE(BigInt(v as number | bigint), p);
        break;
      case GgufValueType.FLOAT64:
        b.writeDoubleLE(Number(v), p);
        break;
    }
    this.pos += size;
  }
  pad(alignment: number) {
    const n = (alignment - (this.pos % alignment)) % alignment;
    this.need(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export interface WriteGgufOptions {
  /** Called after each tensor's data is written. */
  onTensor?: (done: number, total: number, name: string) => void;
}

/**
 * Writes a GGUF v3 file atomically: the header is planned from the tensor list, then each tensor's data is
 * produced and written in turn (so at most one tensor's chunks are in memory). On any error no file is left.
 */
export function writeGguf(
  path: string,
  meta: readonly GgufKv[],
  tensors: readonly GgufTensorSpec[],
  opts: WriteGgufOptions = {},
): void {
  const { header, sizes, alignment } = ggufHeader(meta, tensors);
  checkOutputFile(path, "output .gguf");
  const out = new AtomicFile(path);
  const zeros = Buffer.alloc(alignment);
  try {
    out.write(header);
    tensors.forEach((t, i) => {
      let n = 0;
      for (const chunk of t.data()) {
        n += chunk.byteLength;
        if (n > sizes[i]) break;
        out.write(chunk);
      }
      if (n !== sizes[i])
        throw new Error(`gguf: tensor ${t.name} produced ${n} bytes, expected ${sizes[i]} (${t.type} [${t.dims}])`);
      const pad = alignUp(n, alignment) - n;
      if (pad) out.write(zeros.subarray(0, pad));
      opts.onTensor?.(i + 1, tensors.length, t.name);
    });
  } catch (err) {
    out.abort();
    throw err;
  }
  out.commit();
}

/** Like GgufTensorSpec, with data that may be produced asynchronously (e.g. by the addon on a worker thread). */
export interface GgufAsyncTensorSpec {
  name: string;
  dims: number[];
  type: GgmlTypeName;
  data: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

/**
 * writeGguf with tensor data from async producers: same layout, same atomic write (temp file + rename; no file on
 * error). `tmpPath` chooses the temporary name (so a caller can remove it on interrupt).
 */
export async function writeGgufAsync(
  path: string,
  meta: readonly GgufKv[],
  tensors: readonly GgufAsyncTensorSpec[],
  opts: WriteGgufOptions & { tmpPath?: string } = {},
): Promise<void> {
  const { header, sizes, alignment } = ggufHeader(meta, tensors);
  checkOutputFile(path, "output .gguf");
  const out = new AtomicFile(path, { tempPath: opts.tmpPath });
  const zeros = Buffer.alloc(alignment);
  try {
    out.write(header);
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      let n = 0;
      for await (const chunk of t.data()) {
        n += chunk.byteLength;
        if (n > sizes[i]) break;
        out.write(chunk);
      }
      if (n !== sizes[i])
        throw new Error(`gguf: tensor ${t.name} produced ${n} bytes, expected ${sizes[i]} (${t.type} [${t.dims}])`);
      const pad = alignUp(n, alignment) - n;
      if (pad) out.write(zeros.subarray(0, pad));
      opts.onTensor?.(i + 1, tensors.length, t.name);
    }
  } catch (err) {
    out.abort();
    throw err;
  }
  out.commit();
}

/** The header (magic … tensor infos, padded to the alignment) and each tensor's data size. */
function ggufHeader(
  meta: readonly GgufKv[],
  tensors: readonly { name: string; dims: number[]; type: GgmlTypeName }[],
): { header: Buffer; sizes: number[]; alignment: number } {
  const alignKv = meta.find((m) => m.key === "general.alignment");
  const alignment = alignKv ? Number(alignKv.value) : GGUF_DEFAULT_ALIGNMENT;
  const seen = new Set<string>();
  for (const m of meta) {
    if (seen.has(m.key)) throw new Error(`gguf: duplicate metadata key ${m.key}`);
    seen.add(m.key);
  }
  const w = new ByteWriter(8 << 20);
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(meta.length);
  for (const m of meta) {
    w.str(m.key);
    w.u32(m.type);
    if (m.type === GgufValueType.ARRAY) {
      if (m.itemType === undefined || !Array.isArray(m.value))
        throw new Error(`gguf: ${m.key}: an array needs itemType and a list value`);
      w.u32(m.itemType);
      w.u64(m.value.length);
      for (const v of m.value as GgufScalar[]) w.scalar(m.itemType, v, m.key);
    } else {
      w.scalar(m.type, m.value as GgufScalar, m.key);
    }
  }
  const sizes: number[] = [];
  let offset = 0;
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`gguf: duplicate tensor ${t.name}`);
    names.add(t.name);
    const nbytes = ggmlTensorBytes(t.type, t.dims);
    sizes.push(nbytes);
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_TYPES[t.type].id);
    w.u64(offset);
    offset = alignUp(offset + nbytes, alignment);
  }
  w.pad(alignment);
  return { header: w.bytes(), sizes, alignment };
}

// ---- reader ------------------------------------------------------------------------------------------------

export interface GgufTensorInfo {
  name: string;
  dims: number[];
  /** ggml_type id and its name ("Q4_K"). */
  typeId: number;
  type: string;
  /** Offset from the start of the data section. */
  offset: number;
  /** Absolute offset in the file. */
  fileOffset: number;
}

export interface GgufInfo {
  version: number;
  metadata: Map<string, unknown>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataOffset: number;
  fileSize: number;
}

class FileCursor {
  private buf = Buffer.alloc(0);
  private start = 0; // file offset of buf[0]
  pos = 0; // file offset
  constructor(
    private fd: number,
    readonly size: number,
    private path: string,
  ) {}
  private ensure(n: number) {
    if (this.pos + n <= this.start + this.buf.length) return;
    if (this.pos + n > this.size)
      throw new Error(`${this.path}: truncated GGUF header (needs byte ${this.pos + n}, file has ${this.size})`);
    const want = Math.min(this.size - this.pos, Math.max(n, 4 << 20));
    const b = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const r = readSync(this.fd, b, got, want - got, this.pos + got);
      if (r <= 0) break;
      got += r;
    }
    this.buf = b.subarray(0, got);
    this.start = this.pos;
    if (got < n) throw new Error(`${this.path}: short read`);
  }
  private at(n: number): number {
    this.ensure(n);
    const p = this.pos - this.start;
    this.pos += n;
    return p;
  }
  u8() {
    const p = this.at(1);
    return this.buf.readUInt8(p);
  }
  i8() {
    const p = this.at(1);
    return this.buf.readInt8(p);
  }
  u16() {
    const p = this.at(2);
    return this.buf.readUInt16LE(p);
  }
  i16() {
    const p = this.at(2);
    return this.buf.readInt16LE(p);
  }
  u32() {
    const p = this.at(4);
    return this.buf.readUInt32LE(p);
  }
  i32() {
    const p = this.at(4);
    return this.buf.readInt32LE(p);
  }
  f32() {
    const p = this.at(4);
    return this.buf.readFloatLE(p);
  }
  f64() {
    const p = this.at(8);
    return this.buf.readDoubleLE(p);
  }
  u64() {
    const p = this.at(8);
    return this.buf.readBigUInt64LE(p);
  }
  i64() {
    const p = this.at(8);
    return this.buf.readBigInt64LE(p);
  }
  str(): string {
    const n = Number(this.u64());
    if (n > this.size) throw new Error(`${this.path}: corrupt GGUF string length ${n} at byte ${this.pos - 8}`);
    const p = this.at(n);
    return this.buf.toString("utf8", p, p + n);
  }
}

function readValue(c: FileCursor, type: number, key: string, path: string): unknown {
  switch (type) {
    case GgufValueType.UINT8:
      return c.u8();
    case GgufValueType.INT8:
      return c.i8();
    case GgufValueType.UINT16:
      return c.u16();
    case GgufValueType.INT16:
      return c.i16();
    case GgufValueType.UINT32:
      return c.u32();
    case GgufValueType.INT32:
      return c.i32();
    case GgufValueType.FLOAT32:
      return c.f32();
    case GgufValueType.BOOL:
      return c.u8() !== 0;
    case GgufValueType.STRING:
      return c.str();
    case GgufValueType.UINT64:
      return c.u64();
    case GgufValueType.INT64:
      return c.i64();
    case GgufValueType.FLOAT64:
      return c.f64();
    case GgufValueType.ARRAY: {
      const itemType = c.u32();
      const n = Number(c.u64());
      if (n > c.size) throw new Error(`${path}: ${key}: corrupt array length ${n}`);
      const out: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, itemType, key, path);
      return out;
    }
    default:
      throw new Error(`${path}: metadata ${key} has unknown value type ${type}`);
  }
}

/** Reads a GGUF file's metadata and tensor table (not the tensor data). Errors name the file. */
export function readGgufInfo(path: string): GgufInfo {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new Error(`cannot open ${path}: ${(err as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    const c = new FileCursor(fd, size, path);
    if (size < 24) throw new Error(`${path}: not a GGUF file (${size} bytes)`);
    const magic = c.u32();
    if (magic !== GGUF_MAGIC)
      throw new Error(`${path}: not a GGUF file (bad magic 0x${magic.toString(16).padStart(8, "0")})`);
    const version = c.u32();
    if (version < 2 || version > 3) throw new Error(`${path}: unsupported GGUF version ${version}`);
    const nTensors = Number(c.u64());
    const nKv = Number(c.u64());
    if (nTensors > size || nKv > size) throw new Error(`${path}: corrupt GGUF header (${nTensors} tensors, ${nKv} kv)`);
    const metadata = new Map<string, unknown>();
    for (let i = 0; i < nKv; i++) {
      const key = c.str();
      const type = c.u32();
      metadata.set(key, readValue(c, type, key, path));
    }
    const alignment = Number(metadata.get("general.alignment") ?? GGUF_DEFAULT_ALIGNMENT);
    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < nTensors; i++) {
      const name = c.str();
      const nd = c.u32();
      if (nd > 8) throw new Error(`${path}: tensor ${name} has ${nd} dimensions`);
      const dims: number[] = [];
      for (let d = 0; d < nd; d++) dims.push(Number(c.u64()));
      const typeId = c.u32();
      const offset = Number(c.u64());
      tensors.push({ name, dims, typeId, type: ggmlTypeName(typeId), offset, fileOffset: 0 });
    }
    const dataOffset = alignUp(c.pos, alignment);
    for (const t of tensors) t.fileOffset = dataOffset + t.offset;
    return { version, metadata, tensors, alignment, dataOffset, fileSize: size };
  } finally {
    closeSync(fd);
  }
}

/** Reads one tensor's raw bytes from a GGUF file. */
export function readGgufTensorBytes(path: string, info: GgufInfo, name: string): Buffer {
  const t = info.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`${path}: no tensor ${name}`);
  const typeName = t.type as GgmlTypeName;
  if (!(typeName in GGML_TYPES))
    throw new Error(`${path}: tensor ${name} has a type this reader does not size (${t.type})`);
  const n = ggmlTensorBytes(typeName, t.dims);
  const b = Buffer.alloc(n);
  const fd = openSync(path, "r");
  try {
    let got = 0;
    while (got < n) {
      const r = readSync(fd, b, got, n - got, t.fileOffset + got);
      if (r <= 0) throw new Error(`${path}: tensor ${name} is truncated`);
      got += r;
    }
  } finally {
    closeSync(fd);
  }
  return b;
}
