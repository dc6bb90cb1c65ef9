import assert from "node:assert/strict";
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadAddon } from "../src/native/index.js";
import {
  SafetensorsFile,
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  fromFloat32,
  openSafetensors,
  planSafetensors,
  serializeSafetensors,
  setSafetensorsMappingDisabled,
  toFloat32,
  writeSafetensorsFile,
  writeSafetensorsModel,
  type Tensor,
} from "../src/model/safetensors.js";

const tmp = () => mkdtempSync(join(tmpdir(), "sqlfocus-st-"));
const f32bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

test("byte-identical to the Rust/Python safetensors serializer (its own test vectors)", () => {
  // safetensors/src/tensor.rs test_serialization: {"attn.0": F32 [1,2,3] = 0..5}
  const out = serializeSafetensors([
    { name: "attn.0", dtype: "F32", shape: [1, 2, 3], data: f32bytes([0, 1, 2, 3, 4, 5]) },
  ]);
  assert.deepEqual(
    [...out],
    [
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
      70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95,
      111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0,
      64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ],
  );
  // test_serialization_forced_alignement: "attn0" [1,1,2,3] → 7 spaces of padding
  const out2 = serializeSafetensors([
    { name: "attn0", dtype: "F32", shape: [1, 1, 2, 3], data: f32bytes([0, 1, 2, 3, 4, 5]) },
  ]);
  assert.equal(out2.readBigUInt64LE(0), 72n);
  assert.equal(
    out2.subarray(8, 80).toString(),
    '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ',
  );
  // test_empty: with and without metadata
  assert.deepEqual([...serializeSafetensors([])], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  assert.equal(
    serializeSafetensors([], { framework: "pt" }).subarray(8).toString(),
    '{"__metadata__":{"framework":"pt"}}     ',
  );
});

test("tensors ordered by dtype alignment (largest first), then by name; integer-like names keep their place", () => {
  const plan = planSafetensors(
    [
      { name: "b", dtype: "F16", shape: [2] },
      { name: "a", dtype: "F32", shape: [1] },
      { name: "0", dtype: "U8", shape: [1] },
      { name: "c", dtype: "BF16", shape: [1] },
      { name: "aa", dtype: "F32", shape: [] },
    ],
    { format: "pt" },
  );
  assert.deepEqual(
    plan.order.map((o) => o.name),
    ["a", "aa", "c", "b", "0"],
  );
  const json = plan.header.subarray(8).toString().trimEnd();
  assert.equal(
    json,
    '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"aa":{"dtype":"F32","shape":[],"data_offsets":[4,8]},' +
      '"c":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]},"b":{"dtype":"F16","shape":[2],"data_offsets":[10,14]},"0":{"dtype":"U8","shape":[1],"data_offsets":[14,15]}}',
  );
  assert.equal(plan.header.length % 8, 0);
  assert.equal(plan.dataSize, 15);
});

test("F16/BF16 conversions round to nearest even", () => {
  assert.equal(f32ToF16Bits(1), 0x3c00);
  assert.equal(f32ToF16Bits(-2), 0xc000);
  assert.equal(f32ToF16Bits(65504), 0x7bff);
  assert.equal(f32ToF16Bits(65519), 0x7bff); // below the halfway point
  assert.equal(f32ToF16Bits(65520), 0x7c00); // halfway → even → overflow to Inf
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie → even (down)
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
  assert.equal(f32ToF16Bits(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // tie → even (zero)
  assert.equal(f32ToF16Bits(3 * 2 ** -26), 0x0001);
  assert.equal(f32ToF16Bits(2 ** -14 - 2 ** -25), 0x0400); // rounds up into the normals
  assert.equal(f32ToF16Bits(-0), 0x8000);
  assert.equal(f32ToF16Bits(Infinity), 0x7c00);
  assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
  assert.equal(f16BitsToF32(0x3555), 0.333251953125);
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  assert.equal(f16BitsToF32(0xfc00), -Infinity);

  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie → even (down)
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie → even (up)
  assert.equal(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20), 0x3f81);
  assert.equal(f32ToBf16Bits(-Infinity), 0xff80);
  assert.equal(f32ToBf16Bits(3.4028234663852886e38), 0x7f80); // rounds to Inf
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
  assert.equal(bf16BitsToF32(0x4049), 3.140625);

  // bulk paths agree with the scalar ones
  const xs = new Float32Array(2000);
  for (let i = 0; i < xs.length; i++) xs[i] = Math.sin(i * 12.9898) * 10 ** ((i % 14) - 7);
  const f16 = new Uint16Array(fromFloat32(xs, "F16").buffer);
  const bf16 = new Uint16Array(fromFloat32(xs, "BF16").buffer);
  for (let i = 0; i < xs.length; i++) {
    assert.equal(f16[i], f32ToF16Bits(xs[i]));
    assert.equal(bf16[i], f32ToBf16Bits(xs[i]));
  }
  const back16 = toFloat32({ dtype: "F16", data: new Uint8Array(f16.buffer) });
  const backbf = toFloat32({ dtype: "BF16", data: new Uint8Array(bf16.buffer) });
  for (let i = 0; i < xs.length; i++) {
    assert.equal(back16[i], f16BitsToF32(f16[i]));
    assert.equal(backbf[i], bf16BitsToF32(bf16[i]));
    if (Math.abs(xs[i]) > 1e-4 && Math.abs(xs[i]) < 6e4)
      assert.ok(Math.abs(back16[i] - xs[i]) <= Math.abs(xs[i]) * 2 ** -11);
    if (xs[i] !== 0) assert.ok(Math.abs(backbf[i] - xs[i]) <= Math.abs(xs[i]) * 2 ** -8);
  }
  assert.deepEqual(toFloat32({ dtype: "F32", data: fromFloat32(xs, "F32") }), xs);
  // an odd byte offset (unaligned view) still converts
  const odd = new Uint8Array(5);
  odd.set([0x80, 0x3f], 1);
  assert.equal(toFloat32({ dtype: "BF16", data: odd.subarray(1, 3) })[0], 1);
  assert.throws(() => toFloat32({ name: "ids", dtype: "I64", data: new Uint8Array(8) }), /ids.*I64/);
});

function allDtypeTensors(): Tensor[] {
  const vals = [0.5, -1.25, 3, 1e-3, 65000, -0];
  const mk = (name: string, dtype: Tensor["dtype"], shape: number[], data: Uint8Array): Tensor => ({
    name,
    dtype,
    shape,
    data,
  });
  return [
    mk("w.f32", "F32", [2, 3], fromFloat32(new Float32Array(vals), "F32")),
    mk("w.f16", "F16", [3, 2], fromFloat32(new Float32Array(vals), "F16")),
    mk("w.bf16", "BF16", [6], fromFloat32(new Float32Array(vals), "BF16")),
    mk("ids.i64", "I64", [2], new Uint8Array(new BigInt64Array([-5n, 1n << 40n]).buffer)),
    mk("ids.i32", "I32", [3], new Uint8Array(new Int32Array([1, -2, 3]).buffer)),
    mk("mask", "BOOL", [4], new Uint8Array([1, 0, 0, 1])),
    mk("bytes", "U8", [3], new Uint8Array([7, 8, 9])),
    mk("f64", "F64", [1], new Uint8Array(new Float64Array([Math.PI]).buffer)),
    mk("empty", "F32", [0, 4], new Uint8Array(0)),
  ];
}

for (const mapped of [true, false]) {
  test(`round trip of every dtype through a file (${mapped ? "memory-mapped" : "read without the addon"})`, async () => {
    setSafetensorsMappingDisabled(!mapped);
    try {
      const dir = tmp();
      const tensors = allDtypeTensors();
      const path = join(dir, "x.safetensors");
      // streaming writer with lazily produced data gives the same bytes as the in-memory serializer
      await writeSafetensorsFile(
        path,
        tensors.map((t) => ({ ...t, data: async () => t.data })),
        { metadata: { format: "pt" } },
      );
      assert.deepEqual(readFileSync(path), serializeSafetensors(tensors, { format: "pt" }));
      assert.deepEqual(readdirSync(dir), ["x.safetensors"]); // no temp file left
      const f = SafetensorsFile.open(path);
      assert.deepEqual(f.metadata, { format: "pt" });
      assert.deepEqual(new Set(f.names()), new Set(tensors.map((t) => t.name)));
      for (const t of tensors) {
        const got = f.tensor(t.name);
        assert.equal(got.dtype, t.dtype);
        assert.deepEqual(got.shape, t.shape);
        assert.deepEqual([...got.data], [...t.data], t.name);
      }
      assert.deepEqual([...toFloat32(f.tensor("w.f32"))], [0.5, -1.25, 3, Math.fround(1e-3), 65000, -0]);
      assert.deepEqual([...toFloat32(f.tensor("w.f16"))], [0.5, -1.25, 3, f16BitsToF32(f32ToF16Bits(1e-3)), 64992, -0]);
      assert.equal(f.tensor("w.f32").data.buffer.byteLength, mapped && addonBuilt() ? readFileSync(path).length : 24);
      assert.throws(() => f.tensor("nope"), /x\.safetensors: no tensor named 'nope'/);
    } finally {
      setSafetensorsMappingDisabled(false);
    }
  });
}

test("sharded model: shards by size, index with total_size and sorted weight_map, read back as one", async () => {
  const dir = tmp();
  const tensors: Tensor[] = [];
  for (let i = 0; i < 5; i++)
    tensors.push({
      name: `layers.${i}.w`,
      dtype: "F32",
      shape: [10],
      data: f32bytes(Array.from({ length: 10 }, (_, k) => i * 100 + k)),
    });
  tensors.push({ name: "big", dtype: "F32", shape: [50], data: f32bytes(Array.from({ length: 50 }, (_, k) => k)) });
  tensors.push({ name: "tail", dtype: "BF16", shape: [4], data: fromFloat32(new Float32Array([1, 2, 3, 4]), "BF16") });
  // 40-byte tensors, limit 100 → 2 per shard; "big" (200 B) gets a shard of its own at once while the open shard
  // keeps filling (huggingface_hub's split_torch_state_dict_into_shards does the same)
  const res = await writeSafetensorsModel(dir, tensors, { maxShardSize: 100 });
  const names = readdirSync(dir).sort();
  assert.deepEqual(names, [
    "model-00001-of-00004.safetensors",
    "model-00002-of-00004.safetensors",
    "model-00003-of-00004.safetensors",
    "model-00004-of-00004.safetensors",
    "model.safetensors.index.json",
  ]);
  assert.equal(res.totalSize, 5 * 40 + 200 + 8);
  const indexText = readFileSync(join(dir, "model.safetensors.index.json"), "utf8");
  const index = JSON.parse(indexText);
  assert.deepEqual(index.metadata, { total_size: 408 });
  assert.deepEqual(Object.keys(index.weight_map), [...Object.keys(index.weight_map)].sort());
  assert.equal(index.weight_map["layers.0.w"], "model-00001-of-00004.safetensors");
  assert.equal(index.weight_map["layers.1.w"], "model-00001-of-00004.safetensors");
  assert.equal(index.weight_map["layers.2.w"], "model-00002-of-00004.safetensors");
  assert.equal(index.weight_map["big"], "model-00003-of-00004.safetensors");
  assert.equal(index.weight_map["layers.4.w"], "model-00004-of-00004.safetensors");
  assert.equal(index.weight_map["tail"], "model-00004-of-00004.safetensors");
  assert.ok(indexText.startsWith('{\n  "metadata": {\n    "total_size": 408\n  },\n  "weight_map": {\n'));
  const r = openSafetensors(dir);
  assert.equal(r.files.length, 4);
  assert.deepEqual(r.metadata, { format: "pt" });
  for (const t of tensors) assert.deepEqual([...r.tensor(t.name).data], [...t.data]);
  // re-saving unsharded replaces the shards
  await writeSafetensorsModel(dir, tensors);
  assert.deepEqual(readdirSync(dir), ["model.safetensors"]);
  assert.equal(openSafetensors(dir).names().length, 7);
});

test("bad headers and truncated files fail with the file and tensor named", () => {
  const dir = tmp();
  const good = serializeSafetensors([
    { name: "a", dtype: "F32", shape: [2], data: f32bytes([1, 2]) },
    { name: "b", dtype: "F32", shape: [1], data: f32bytes([3]) },
  ]);
  const write = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const withHeader = (json: string, dataBytes: number) => {
    const h = Buffer.from(json);
    const b = Buffer.alloc(8 + h.length + dataBytes);
    b.writeBigUInt64LE(BigInt(h.length));
    h.copy(b, 8);
    return b;
  };
  assert.throws(
    () => SafetensorsFile.open(write("short.safetensors", good.subarray(0, 5))),
    /short\.safetensors: truncated file: 5 bytes/,
  );
  assert.throws(
    () => SafetensorsFile.open(write("hdr.safetensors", good.subarray(0, 30))),
    /hdr\.safetensors: truncated file: header says \d+ header bytes/,
  );
  assert.throws(
    () => SafetensorsFile.open(write("data.safetensors", good.subarray(0, good.length - 2))),
    /data\.safetensors: truncated file: tensor 'b' needs bytes 8\.\.12/,
  );
  assert.throws(
    () => SafetensorsFile.open(write("json.safetensors", withHeader('{"a":{"dtype":"F32",', 0))),
    /json\.safetensors: header is not valid JSON/,
  );
  assert.throws(
    () =>
      SafetensorsFile.open(
        write("dtype.safetensors", withHeader('{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}', 1)),
      ),
    /dtype\.safetensors: tensor 'a': unknown dtype "Q4"/,
  );
  assert.throws(
    () =>
      SafetensorsFile.open(
        write("range.safetensors", withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4)),
      ),
    /range\.safetensors: tensor 'a': data_offsets \[0,4\] span 4 bytes, but F32 \[2\] needs 8/,
  );
  assert.throws(
    () =>
      SafetensorsFile.open(
        write("gap.safetensors", withHeader('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8)),
      ),
    /gap\.safetensors: tensor 'a': data_offsets begin at 4, expected 0/,
  );
  assert.throws(
    () =>
      SafetensorsFile.open(
        write("oob.safetensors", withHeader('{"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}}', 8)),
      ),
    /oob\.safetensors: truncated file: tensor 'a' needs bytes 0\.\.16 of the data buffer, which has only 8 bytes/,
  );
  assert.throws(
    () => SafetensorsFile.open(write("huge.safetensors", Buffer.from([255, 255, 255, 255, 0, 0, 0, 0, 1]))),
    /huge\.safetensors: header length \d+ is larger/,
  );
  assert.throws(
    () => SafetensorsFile.open(write("trail.safetensors", Buffer.concat([good, Buffer.alloc(3)]))),
    /trail\.safetensors: 3 unexpected trailing bytes/,
  );
  assert.throws(() => SafetensorsFile.open(join(dir, "missing.safetensors")), /missing\.safetensors: cannot open/);
  // index problems
  const sub = join(dir, "sharded");
  write("x", new Uint8Array(0));
  mkdirSync(sub);
  writeFileSync(join(sub, "model-00001-of-00001.safetensors"), good);
  writeFileSync(
    join(sub, "model.safetensors.index.json"),
    JSON.stringify({
      metadata: {},
      weight_map: { a: "model-00001-of-00001.safetensors", c: "model-00001-of-00001.safetensors" },
    }),
  );
  assert.throws(
    () => openSafetensors(sub),
    /index\.json: weight_map lists 'c' in model-00001-of-00001\.safetensors, but that file has no such tensor/,
  );
  writeFileSync(
    join(sub, "model.safetensors.index.json"),
    JSON.stringify({ metadata: {}, weight_map: { a: "model-00002-of-00002.safetensors" } }),
  );
  assert.throws(() => openSafetensors(sub), /shard model-00002-of-00002\.safetensors listed in weight_map is missing/);
  assert.throws(() => openSafetensors(join(dir, "nothing-here")), /no such file or folder/);
  assert.ok(existsSync(join(dir, "x")));
});

function addonBuilt(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

test("a file over the mappable size (> 4 GiB) is read tensor by tensor", () => {
  const dir = tmp();
  const path = join(dir, "big.safetensors");
  const bigLen = 4_500_000_000;
  const plan = planSafetensors([
    { name: "a", dtype: "U8", shape: [bigLen] },
    { name: "b", dtype: "F32", shape: [2] },
  ]);
  // F32 sorts first: b at [0, 8), a after it
  assert.deepEqual(
    plan.order.map((o) => o.name),
    ["b", "a"],
  );
  const fd = openSync(path, "w");
  try {
    writeSync(fd, plan.header, 0, plan.header.length, 0);
    writeSync(fd, f32bytes([1.5, -2]), 0, 8, plan.header.length);
    ftruncateSync(fd, plan.header.length + plan.dataSize); // sparse: no disk used for "a"
  } finally {
    closeSync(fd);
  }
  const f = SafetensorsFile.open(path);
  assert.equal(f.info("a").byteLength, bigLen);
  const b = f.tensor("b");
  assert.deepEqual([...toFloat32(b)], [1.5, -2]);
  assert.equal(b.data.buffer.byteLength, 8); // a copy of this tensor only, not a map of the file
});
