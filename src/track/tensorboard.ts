// TensorBoard event files: a TrainTracker that writes scalars to `events.out.tfevents.*` so
// `tensorboard --logdir` shows the run. Format: TFRecord framing (u64 length, masked CRC32C of the length,
// payload, masked CRC32C of the payload) around tensorflow.Event protobuf messages; the few protobuf fields
// used are encoded here by hand:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";

// ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) ----
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 and add a constant. */
export function maskedCrc32c(data: Uint8Array): number {
  const c = crc32c(data);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

// ---- protobuf wire encoding (just what Event needs) ----
function varint(n: bigint | number): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const key = (field: number, wire: number) => varint((field << 3) | wire);
function lengthDelimited(field: number, bytes: Uint8Array): number[] {
  return [...key(field, 2), ...varint(bytes.length), ...bytes];
}

/** Encodes a tensorflow.Event: wall time, step, and either a file version or scalar summary values. */
export function encodeEvent(e: {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars?: Record<string, number>;
}): Uint8Array {
  const out: number[] = [];
  const d = Buffer.alloc(8);
  d.writeDoubleLE(e.wallTime);
  out.push(...key(1, 1), ...d);
  if (e.step !== 0) out.push(...key(2, 0), ...varint(e.step));
  if (e.fileVersion !== undefined) out.push(...lengthDelimited(3, Buffer.from(e.fileVersion, "utf8")));
  if (e.scalars) {
    const summary: number[] = [];
    for (const [tag, value] of Object.entries(e.scalars)) {
      const f = Buffer.alloc(4);
      f.writeFloatLE(value);
      const v = [...lengthDelimited(1, Buffer.from(tag, "utf8")), ...key(2, 5), ...f];
      summary.push(...lengthDelimited(1, Uint8Array.from(v)));
    }
    out.push(...lengthDelimited(5, Uint8Array.from(summary)));
  }
  return Uint8Array.from(out);
}

/** Frames one record: length, masked CRC of the length, payload, masked CRC of the payload. */
export function tfRecord(payload: Uint8Array): Buffer {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(payload.length), 0);
  head.writeUInt32LE(maskedCrc32c(head.subarray(0, 8)), 8);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc32c(payload), 0);
  return Buffer.concat([head, payload, tail]);
}

// ---- reading back (tests, tools) ----
export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: Record<string, number>;
}

class Reader {
  pos = 0;
  constructor(readonly b: Buffer) {}
  varint(): bigint {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.b.length) throw new Error("truncated varint");
      const x = this.b[this.pos++]!;
      r |= BigInt(x & 0x7f) << shift;
      if ((x & 0x80) === 0) return r;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const n = Number(this.varint());
    const s = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

export function decodeEvent(payload: Uint8Array): DecodedEvent {
  const r = new Reader(Buffer.from(payload));
  const e: DecodedEvent = { wallTime: 0, step: 0, scalars: {} };
  while (r.pos < r.b.length) {
    const k = Number(r.varint());
    const field = k >> 3;
    const wire = k & 7;
    if (field === 1 && wire === 1) {
      e.wallTime = r.b.readDoubleLE(r.pos);
      r.pos += 8;
    } else if (field === 2 && wire === 0) e.step = Number(BigInt.asIntN(64, r.varint()));
    else if (field === 3 && wire === 2) e.fileVersion = r.bytes().toString("utf8");
    else if (field === 5 && wire === 2) {
      const s = new Reader(r.bytes());
      while (s.pos < s.b.length) {
        const sk = Number(s.varint());
        if (sk >> 3 !== 1 || (sk & 7) !== 2) {
          s.skip(sk & 7);
          continue;
        }
        const v = new Reader(s.bytes());
        let tag = "";
        let value = Number.NaN;
        while (v.pos < v.b.length) {
          const vk = Number(v.varint());
          if (vk >> 3 === 1 && (vk & 7) === 2) tag = v.bytes().toString("utf8");
          else if (vk >> 3 === 2 && (vk & 7) === 5) {
            value = v.b.readFloatLE(v.pos);
            v.pos += 4;
          } else v.skip(vk & 7);
        }
        e.scalars[tag] = value;
      }
    } else r.skip(wire);
  }
  return e;
}

/** Reads an event file, checking both CRCs of every record; errors name the file and byte offset. */
export function readEventFile(path: string): DecodedEvent[] {
  const b = readFileSync(path);
  const out: DecodedEvent[] = [];
  let pos = 0;
  while (pos < b.length) {
    if (pos + 12 > b.length) throw new Error(`${path}: truncated record header at byte ${pos}`);
    const len = Number(b.readBigUInt64LE(pos));
    if (b.readUInt32LE(pos + 8) !== maskedCrc32c(b.subarray(pos, pos + 8)))
      throw new Error(`${path}: bad length CRC at byte ${pos}`);
    const data = b.subarray(pos + 12, pos + 12 + len);
    if (data.length !== len || pos + 16 + len > b.length) throw new Error(`${path}: truncated record at byte ${pos}`);
    if (b.readUInt32LE(pos + 12 + len) !== maskedCrc32c(data)) throw new Error(`${path}: bad data CRC at byte ${pos}`);
    out.push(decodeEvent(data));
    pos += 16 + len;
  }
  return out;
}

export interface TensorBoardTrackerOptions {
  /** Folder for the event file (e.g. the run folder, or output/tensorboard/<run id>). */
  logdir: string;
  /** Prefix added to every tag (e.g. "train/"). Default none: tags are the metric names. */
  tagPrefix?: string;
  now?: () => number;
}

/** A TrainTracker writing one event per log() call; each record is appended and flushed at once. */
export class TensorBoardTracker {
  readonly path: string;
  private readonly now: () => number;
  private readonly prefix: string;

  constructor(options: TensorBoardTrackerOptions) {
    this.now = options.now ?? (() => Date.now() / 1000);
    this.prefix = options.tagPrefix ?? "";
    mkdirSync(options.logdir, { recursive: true });
    const t = this.now();
    this.path = join(options.logdir, `events.out.tfevents.${Math.floor(t)}.${os.hostname()}.${process.pid}.0`);
    writeFileSync(this.path, tfRecord(encodeEvent({ wallTime: t, step: 0, fileVersion: "brain.Event:2" })));
  }

  log(step: number, metrics: Record<string, number>): void {
    const scalars: Record<string, number> = {};
    for (const [k, v] of Object.entries(metrics)) if (typeof v === "number") scalars[this.prefix + k] = v;
    if (Object.keys(scalars).length === 0) return;
    appendFileSync(this.path, tfRecord(encodeEvent({ wallTime: this.now(), step, scalars })));
  }

  finish(): void {}
}
