// quantize(): llama.cpp's quantizer through the addon. Tiny model → Q4_K_M in one command (no F16/temporary file
// left), tensor types as llama.cpp's Q4_K_M rules prescribe, file size = sum of the tensors' block sizes,
// node-llama-cpp loads it and generates; the one-command route equals convert-then-quantize byte for byte;
// other types; bad inputs fail clearly and leave no output.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  GGML_TYPES,
  quantize,
  readGgufInfo,
  toGGUF,
  type GgmlTypeName,
  type GgufInfo,
  type QuantType,
} from "../src/gguf/index.js";
import { makeTinyQwen2, type TinyModel } from "./helpers/gguf-tiny.js";
import { llamaLogProbs, loadGguf } from "./helpers/gguf-llama.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-gguf-quantize-"));
after(() => rmSync(root, { recursive: true, force: true }));

const LAYERS = 4;
let m: TinyModel;
before(() => {
  m = makeTinyQwen2(join(root, "model"), { layers: LAYERS, seed: 21 });
});

/** llama.cpp's use_more_bits(i, n) (integer division, as in C++). */
function useMoreBits(i: number, n: number): boolean {
  const n8 = Math.floor(n / 8);
  return i < n8 || i >= Math.floor((7 * n) / 8) || (i - n8) % 3 === 2;
}

/** The type llama.cpp's Q4_K_M recipe gives each qwen2 tensor (no imatrix, tied embeddings = the output). */
function q4kmType(name: string, dims: number[]): string {
  if (dims.length === 1) return "F32";
  if (name === "token_embd.weight" || name === "output.weight") return "Q6_K";
  const m = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(name);
  if (m && useMoreBits(Number(m[1]), LAYERS)) return "Q6_K";
  return "Q4_K";
}

function dataBytes(info: GgufInfo): number {
  let end = 0;
  for (const t of info.tensors) {
    const ty = GGML_TYPES[t.type as GgmlTypeName];
    const n = t.dims.reduce((a, b) => a * b, 1);
    end = Math.max(end, t.offset + (n / ty.blockSize) * ty.blockBytes);
  }
  return end;
}

describe("Q4_K_M from an HF folder", () => {
  const outDir = join(root, "q4");
  const out = join(outDir, "model-q4_k_m.gguf");

  test("one command: tensor types, size, Modelfile, nothing else left behind", async () => {
    const calls: [number, string][] = [];
    const r = await quantize({
      input: m.dir,
      output: out,
      type: "Q4_K_M",
      threads: 2,
      streaming: false,
      onProgress: (f, s) => calls.push([f, s]),
    });
    assert.equal(r.type, "Q4_K_M");
    // progress (temporary-GGUF route): every tensor converted, then every tensor started by llama.cpp (from its
    // log), monotonic, ends at 1
    const nTensors = 1 + LAYERS * 12 + 1;
    assert.equal(calls.filter(([, s]) => s === "convert").length, nTensors);
    assert.equal(calls.filter(([, s]) => s === "quantize").length, nTensors + 1);
    for (let i = 1; i < calls.length; i++) assert.ok(calls[i][0] >= calls[i - 1][0], `progress went back at ${i}`);
    assert.equal(calls[calls.length - 1][0], 1);
    assert.deepEqual(readdirSync(outDir).sort(), ["Modelfile", "model-q4_k_m.gguf"]);
    const info = readGgufInfo(out);
    assert.equal(info.metadata.get("general.file_type"), 15);
    for (const t of info.tensors) assert.equal(t.type, q4kmType(t.name, t.dims), t.name);
    // quantized: the file is its header plus the block sizes of its tensors (aligned)
    const expectedSize = info.dataOffset + dataBytes(info);
    assert.ok(Math.abs(info.fileSize - expectedSize) < 32, `size ${info.fileSize} vs ${expectedSize}`);
    const f32Size = readGgufInfo(
      (await toGGUF({ model: m.dir, out: join(root, "ref-f32.gguf"), type: "F32" })).path,
    ).fileSize;
    assert.ok(info.fileSize < f32Size / 4, `Q4_K_M ${info.fileSize} B vs F32 ${f32Size} B`);
    // tokenizer and chat template carried over
    assert.equal(info.metadata.get("tokenizer.ggml.eos_token_id"), 151645);
    assert.equal(typeof info.metadata.get("tokenizer.chat_template"), "string");
    const modelfile = readFileSync(join(outDir, "Modelfile"), "utf8");
    assert.match(modelfile, /^FROM \.\/model-q4_k_m\.gguf$/m);
    assert.match(modelfile, /^PARAMETER stop "<\|im_end\|>"$/m);
    assert.match(modelfile, /^PARAMETER stop "<\|endoftext\|>"$/m);
    assert.match(modelfile, /TEMPLATE """[\s\S]*<\|im_start\|>assistant[\s\S]*"""/);
  });

  test("node-llama-cpp loads the Q4_K_M file and generates", async () => {
    const model = await loadGguf(out);
    try {
      const prompt = [...model.tokenize("SELECT name FROM users WHERE")];
      const got = await llamaLogProbs(model, prompt, 5);
      assert.equal(got.greedy.length, 5);
      for (const t of got.greedy) assert.ok(t >= 0 && t < 151936);
      const top = (p: Map<number, number>) => [...p.entries()].sort((a, b) => b[1] - a[1])[0][0];
      assert.equal(top(got.logProbs[got.logProbs.length - 1]), got.greedy[0]);
    } finally {
      await model.dispose();
    }
  });

  test("the one-command route equals convert (F32) then quantize, byte for byte", async () => {
    const twoStep = join(root, "two-step.gguf");
    await quantize({ input: join(root, "ref-f32.gguf"), output: twoStep, type: "Q4_K_M", modelfile: false });
    assert.ok(readFileSync(twoStep).equals(readFileSync(out)));
    // the default (streaming) route gives the same bytes
    const streamed = join(root, "streamed.gguf");
    await quantize({ input: m.dir, output: streamed, type: "Q4_K_M", modelfile: false });
    assert.ok(readFileSync(streamed).equals(readFileSync(out)));
  });
});

describe("other types", () => {
  test("Q8_0, Q2_K and F16 from a GGUF", async () => {
    const src = join(root, "src-f32.gguf");
    await toGGUF({ model: m.dir, out: src, type: "F32" });
    const q8 = await quantize({
      input: src,
      output: join(root, "t", "q8.gguf"),
      type: "q8_0" as QuantType,
      modelfile: false,
    }); // JS callers: llama-quantize spellings still accepted
    assert.deepEqual(q8.tensorTypes, { Q8_0: 1 + LAYERS * 7, F32: 1 + LAYERS * 5 });
    const q2 = await quantize({ input: src, output: join(root, "t", "q2.gguf"), type: "Q2_K", modelfile: false });
    assert.ok((q2.tensorTypes.Q2_K ?? 0) > 0 && (q2.tensorTypes.Q3_K ?? 0) > 0, JSON.stringify(q2.tensorTypes));
    assert.ok(q2.bytes < q8.bytes, `Q2_K ${q2.bytes} B vs Q8_0 ${q8.bytes} B`);
    // Q8_0 is close to lossless: llama.cpp picks the same next token as with the F32 file at every position
    const [a, b] = [await loadGguf(src), await loadGguf(q8.output)];
    try {
      const prompt = [4858, 829, 4295, 3847, 5288, 3988];
      const [pa, pb] = [await llamaLogProbs(a, prompt, 0), await llamaLogProbs(b, prompt, 0)];
      const top = (p: Map<number, number>) => [...p.entries()].sort((x, y) => y[1] - x[1])[0][0];
      assert.deepEqual(pb.logProbs.map(top), pa.logProbs.map(top));
    } finally {
      await a.dispose();
      await b.dispose();
    }
    const f16 = await quantize({ input: src, output: join(root, "t", "f16.gguf"), type: "F16", modelfile: false });
    assert.deepEqual(f16.tensorTypes, { F16: 1 + LAYERS * 7, F32: 1 + LAYERS * 5 });
  });
});

describe("bad input", () => {
  const bad = join(root, "bad");
  before(() => mkdirSync(bad, { recursive: true }));

  test("not a GGUF", async () => {
    const notGguf = join(bad, "notes.gguf");
    writeFileSync(notGguf, "this is not a model\n".repeat(10));
    const out = join(bad, "o1.gguf");
    await assert.rejects(quantize({ input: notGguf, output: out }), /notes\.gguf: not a GGUF file \(bad magic/);
    assert.deepEqual(readdirSync(bad), ["notes.gguf"]);
  });

  test("unknown type", async () => {
    await assert.rejects(
      quantize({ input: m.dir, output: join(bad, "o2.gguf"), type: "Q4_K_X" as QuantType }),
      /unknown quantization type "Q4_K_X"; known: .*Q4_K_M/,
    );
    assert.ok(!existsSync(join(bad, "o2.gguf")));
  });

  test("unwritable output", async () => {
    const file = join(bad, "a-file");
    writeFileSync(file, "x");
    await assert.rejects(
      quantize({ input: join(root, "src-f32.gguf"), output: join(file, "o3.gguf") }),
      /cannot write .*a-file\/o3\.gguf/,
    );
  });

  test("a truncated GGUF fails in llama.cpp and leaves no partial output", async () => {
    const full = readFileSync(join(root, "src-f32.gguf"));
    const cut = join(bad, "cut.gguf");
    writeFileSync(cut, full.subarray(0, Math.floor(full.length / 2)));
    const out = join(bad, "o4.gguf");
    await assert.rejects(
      quantize({ input: cut, output: out, modelfile: false }),
      /llama_model_quantize failed .*cut\.gguf/,
    );
    assert.deepEqual(
      readdirSync(bad).filter((f) => f.includes("o4")),
      [],
    );
  });
});
