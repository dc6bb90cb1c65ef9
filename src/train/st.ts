// The safetensors operations src/train needs (small F32 files: adapters, optimizer moments).
// STOPGAP until src/model's safetensors reader/writer lands: then these delegate to it.
import { readFileSync } from "node:fs";
import { writeFileSynced } from "./atomic-dir.js";

export interface F32Tensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Writes F32 tensors with string metadata, laid out as Python's safetensors does (sorted by name), fsynced. */
export function writeSafetensorsFile(path: string, tensors: readonly F32Tensor[], metadata: Record<string, string>): void {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const t of sorted) {
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.alloc(8 + json.length + off);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let p = 8 + json.length;
  for (const t of sorted) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, p);
    p += t.data.byteLength;
  }
  writeFileSynced(path, out);
}

/** Reads every tensor of a safetensors file as F32 (F16/BF16 converted), in file order. */
export function readSafetensorsF32(path: string): F32Tensor[] {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + n;
  const out: F32Tensor[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [a, b] = info.data_offsets;
    const bytes = buf.subarray(base + a, base + b);
    const count = info.shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(count);
    if (info.dtype === "F32") new Uint8Array(data.buffer).set(bytes);
    else if (info.dtype === "BF16") for (let i = 0; i < count; i++) data[i] = new Float32Array(new Uint32Array([bytes.readUInt16LE(2 * i) << 16]).buffer)[0];
    else throw new Error(`${path}: tensor ${name} has dtype ${info.dtype}; expected F32 or BF16`);
    out.push({ name, shape: info.shape, data });
  }
  return out;
}

/** The __metadata__ of a safetensors file. */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  return (JSON.parse(buf.subarray(8, 8 + n).toString("utf8")).__metadata__ ?? {}) as Record<string, string>;
}
