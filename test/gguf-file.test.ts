// GGUF writer/reader round trip (every value type, alignment, atomic failure), type parsing, Modelfile text.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { modelfileText, parseFileType, readGgufInfo, readGgufTensorBytes, writeGguf } from "../src/gguf/index.js";
import { GgufValueType } from "../src/gguf/constants.js";
import { kv } from "../src/gguf/file.js";
import { QWEN25_CHAT_TEMPLATE } from "../src/model/index.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-gguf-file-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("metadata of every type and tensors round-trip; data aligned to 32", () => {
  const path = join(root, "a.gguf");
  const f32 = new Float32Array([1, 2, 3, 4, 5, 6]);
  writeGguf(
    path,
    [
      kv.str("general.architecture", "qwen2"),
      { key: "u8", type: GgufValueType.UINT8, value: 200 },
      { key: "i8", type: GgufValueType.INT8, value: -5 },
      { key: "u16", type: GgufValueType.UINT16, value: 60000 },
      { key: "i16", type: GgufValueType.INT16, value: -3000 },
      kv.u32("u32", 4000000000),
      kv.i32("i32", -7),
      kv.f32("f32", 0.5),
      kv.bool("b", true),
      { key: "u64", type: GgufValueType.UINT64, value: 2n ** 40n },
      { key: "i64", type: GgufValueType.INT64, value: -(2n ** 40n) },
      { key: "f64", type: GgufValueType.FLOAT64, value: Math.PI },
      kv.strings("strs", ["a", "é", ""]),
      kv.i32s("ints", [1, -2, 3]),
    ],
    [
      {
        name: "x",
        dims: [3, 2],
        type: "F32",
        data: () => [new Uint8Array(f32.buffer, 0, 12), new Uint8Array(f32.buffer, 12, 12)],
      },
      { name: "y", dims: [5], type: "F16", data: () => [new Uint8Array(10).fill(1)] },
      { name: "z", dims: [2], type: "F32", data: () => [new Uint8Array(f32.buffer, 0, 8)] },
    ],
  );
  const info = readGgufInfo(path);
  const md = Object.fromEntries(info.metadata);
  assert.deepEqual(md, {
    "general.architecture": "qwen2",
    u8: 200,
    i8: -5,
    u16: 60000,
    i16: -3000,
    u32: 4000000000,
    i32: -7,
    f32: 0.5,
    b: true,
    u64: 2n ** 40n,
    i64: -(2n ** 40n),
    f64: Math.PI,
    strs: ["a", "é", ""],
    ints: [1, -2, 3],
  });
  assert.deepEqual(
    info.tensors.map((t) => [t.name, t.dims, t.type, t.offset]),
    [
      ["x", [3, 2], "F32", 0],
      ["y", [5], "F16", 32],
      ["z", [2], "F32", 64],
    ],
  );
  assert.equal(info.dataOffset % 32, 0);
  assert.deepEqual([...new Float32Array(readGgufTensorBytes(path, info, "x").buffer.slice(0))], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...readGgufTensorBytes(path, info, "y")], new Array(10).fill(1));
});

test("a tensor producing the wrong byte count fails and leaves no file", () => {
  const path = join(root, "b.gguf");
  assert.throws(
    () =>
      writeGguf(
        path,
        [kv.str("general.architecture", "qwen2")],
        [{ name: "x", dims: [4], type: "F32", data: () => [new Uint8Array(12)] }],
      ),
    /tensor x produced 12 bytes, expected 16/,
  );
  assert.ok(!existsSync(path));
  assert.deepEqual(
    readdirSync(root).filter((f) => f.includes("b.gguf")),
    [],
  );
});

test("reader rejects files that are not GGUF", () => {
  const p = join(root, "c.gguf");
  writeGguf(p, [], []);
  const head = readFileSync(p);
  assert.equal(head.readUInt32LE(0), 0x46554747);
  assert.throws(() => readGgufInfo(join(root, "missing.gguf")), /cannot open .*missing\.gguf/);
});

test("quantization type names", () => {
  assert.equal(parseFileType("q4_k_m"), "Q4_K_M");
  assert.equal(parseFileType("Q4_K"), "Q4_K_M");
  assert.equal(parseFileType("bf16"), "BF16");
  assert.throws(() => parseFileType("Q7"), /unknown quantization type "Q7"; known: F32, F16, .*Q8_0/);
});

test("Modelfile: ChatML as a Go template, Qwen2.5's default system prompt, stop tokens", () => {
  const text = modelfileText({
    gguf: "/x/y/model-q4_k_m.gguf",
    chatTemplate: QWEN25_CHAT_TEMPLATE,
    stop: ["<|im_end|>", "<|im_end|>", "<|endoftext|>"],
  });
  assert.match(text, /^FROM \.\/model-q4_k_m\.gguf\n/);
  assert.match(text, /\nSYSTEM """You are Qwen, created by Alibaba Cloud\. You are a helpful assistant\."""\n/);
  assert.match(text, /\{\{ \.Content \}\}<\|im_end\|>/);
  assert.equal(text.match(/PARAMETER stop/g)!.length, 2);
  const plain = modelfileText({ gguf: "m.gguf", chatTemplate: "{{ messages }}", stop: ["</s>"] });
  assert.ok(!plain.includes("TEMPLATE") && plain.includes('PARAMETER stop "</s>"'));
});

test("addon Quantizer: built with llama.cpp's headers; a bad library path is a clear error", async () => {
  const { loadAddon } = await import("../src/native/index.js");
  const { findLibllama } = await import("../src/gguf/index.js");
  const addon = loadAddon<{ quantizerBuilt: boolean; Quantizer: new (p: string) => unknown }>();
  assert.equal(addon.quantizerBuilt, true);
  assert.match(findLibllama(), /libllama[^/]*\.so$/);
  assert.throws(
    () => new addon.Quantizer(join(root, "no-such-libllama.so")),
    /cannot load llama\.cpp's library .*no-such-libllama\.so/,
  );
});
