// The quantized frozen base (QLoRA-style) end to end on a tiny Qwen2 (hidden 256: K-quant rows) with the real Qwen2.5
// tokenizer: the engine's dequantizers equal ggml's own bit for bit; a qwen2 GGUF opens as a training base (config,
// Hugging Face names and shapes, tokenizer rebuilt from its metadata = the HF tokenizer); a step on a Q4_K_M (or
// Q3_K_M: ggml's dequantizers) GGUF equals the same step on its dequantized weights; --base_dtype quantizes an HF
// folder's projections as ggml does; finetune on a GGUF writes a PEFT adapter that merges into the HF base (and is
// refused, clearly, against the GGUF), converts to a GGUF LoRA adapter that llama.cpp applies on the GGUF base (its
// distribution = the engine's with that adapter), and that `serve --model the.gguf --lora` serves.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  GGML_TYPES,
  loraToGGUF,
  nativeQuantizer,
  openGgufModel,
  quantize,
  toGGUF,
  type GgmlTypeName,
} from "../src/gguf/index.js";
import { initTinyModel, loadTokenizer, merge, openModel, toFloat32 } from "../src/model/index.js";
import { loadAddon } from "../src/native/index.js";
import { openTrainingBase } from "../src/train/base.js";
import { startServer } from "../src/server/index.js";
import { finetune, readAdapter } from "../src/train/index.js";
import { createNativeTrainer, engineModelConfig, type EngineWeight, type NativeTrainer } from "../src/train/native.js";
import { argmax, llamaLogProbs, loadGguf, logSoftmax } from "./helpers/gguf-llama.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-qbase-"));
after(() => rmSync(root, { recursive: true, force: true }));
const hf = join(root, "tiny");
const SHAPE = { layers: 2, hidden: 256, intermediate: 512, heads: 4, kvHeads: 2 };
const q4km = join(root, "tiny-Q4_K_M.gguf");
const q8 = join(root, "tiny-Q8_0.gguf");
const q3km = join(root, "tiny-Q3_K_M.gguf");
const level = () => loadAddon().buildInfo().simd;

before(async () => {
  await initTinyModel(hf, { ...SHAPE, seed: 5, dtype: "f32", tied: false });
  await quantize({ input: hf, output: q4km, type: "Q4_K_M", modelfile: false, threads: 2 });
  await quantize({ input: hf, output: q8, type: "Q8_0", modelfile: false, threads: 2 });
  await quantize({ input: hf, output: q3km, type: "Q3_K_M", modelfile: false, threads: 2 });
});

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

test("the engine's dequantizers equal ggml's own, bit for bit (Q4_0 … Q6_K)", async () => {
  const q = nativeQuantizer();
  for (const type of ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"] as GgmlTypeName[]) {
    const { id } = GGML_TYPES[type];
    const n = 8 * 512;
    const f32 = values(n, id);
    for (let i = 0; i < n; i += 97) f32[i] *= 40; // outliers: large scales next to small ones
    const bytes = await q.quantizeRows(id, f32, 512, 2);
    const ggml = q.dequantize(id, bytes, n, 2);
    const portable = q.dequantize(id, bytes, n, 1);
    const simd = q.dequantize(id, bytes, n, 0);
    assert.ok(Buffer.from(portable.buffer).equals(Buffer.from(ggml.buffer)), `${type}: portable ≠ ggml`);
    assert.ok(Buffer.from(simd.buffer).equals(Buffer.from(ggml.buffer)), `${type}: ${level()} ≠ ggml`);
    let err = 0;
    for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(ggml[i] - f32[i]));
    assert.ok(err < 4, `${type}: dequantized values far from the input (${err})`);
  }
});

test("a qwen2 GGUF opens as a training base: config, HF names and shapes, bytes, and the tokenizer it carries", async () => {
  const f32 = join(root, "tiny-F32.gguf");
  await toGGUF({ model: hf, out: f32, type: "F32" });
  const g = openGgufModel(f32);
  const m = openModel(hf);
  for (const k of [
    "vocabSize",
    "hiddenSize",
    "intermediateSize",
    "numHiddenLayers",
    "numAttentionHeads",
    "numKeyValueHeads",
    "headDim",
    "ropeTheta",
    "tieWordEmbeddings",
  ] as const) {
    assert.equal(g.config[k], m.config[k], k);
  }
  assert.ok(Math.abs(g.config.rmsNormEps - m.config.rmsNormEps) < 1e-12);
  assert.deepEqual(
    [...g.tensorNames].sort(),
    m.tensorNames.filter((n) => n.startsWith("model.") || n === "lm_head.weight").sort(),
  );
  for (const name of g.tensorNames) {
    const a = g.tensor(name);
    const b = m.tensor(name);
    assert.equal(a.dtype, "F32", name);
    assert.deepEqual(a.shape, b.shape, name);
    assert.ok(
      Buffer.from(a.data).equals(Buffer.from(b.data)),
      `${name}: bytes differ (llama.cpp permutes nothing for qwen2)`,
    );
  }
  const fromGguf = await g.loadTokenizer();
  const fromHf = await loadTokenizer(hf);
  const texts = [
    "SELECT count(*) FROM customers WHERE city = 'Paris';",
    "  indented\n\tcode()  ",
    "naïve café 東京 🙂",
    "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
    "x".repeat(50),
  ];
  for (const t of texts) assert.deepEqual(fromGguf.encode(t), fromHf.encode(t), t);
  const chat = [
    { role: "user", content: "How many customers?" },
    { role: "assistant", content: "SELECT count(*) FROM customers" },
  ];
  assert.equal(
    fromGguf.applyChatTemplate(chat, { tokenize: false }),
    fromHf.applyChatTemplate(chat, { tokenize: false }),
  );
  assert.equal(fromGguf.eosTokenId, fromHf.eosTokenId);
  assert.equal(fromGguf.padTokenId, fromHf.padTokenId);
  assert.equal(fromGguf.decode(fromHf.encode(texts[2])), texts[2]);
});

test("a GGUF that is not qwen2, or is truncated, is a clear error naming the file", () => {
  const bad = join(root, "llama.gguf");
  const bytes = readFileSync(q8);
  const i = bytes.indexOf(Buffer.from("qwen2"));
  const copy = Buffer.from(bytes);
  copy.write("llama", i, "latin1");
  writeFileSync(bad, copy);
  assert.throws(
    () => openGgufModel(bad),
    new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: GGUF general.architecture is "llama"`),
  );
  const cut = join(root, "cut.gguf");
  writeFileSync(cut, bytes.subarray(0, bytes.length - 4096));
  assert.throws(() => openGgufModel(cut), /runs past the end of the file/);
});

/** The base's weights with every ggml tensor dequantized by ggml itself; at the BF16-compute level, matmul weights
 *  rounded to BF16 (what that level computes with), the embedding table F32 (it is looked up, not multiplied). */
function dequantizedReference(weights: Record<string, EngineWeight>): Record<string, EngineWeight> {
  const q = nativeQuantizer();
  const bf16 = level() === "avx512bf16";
  const out: Record<string, EngineWeight> = {};
  for (const [name, w] of Object.entries(weights)) {
    if (w.dtype === "F32" || w.dtype === "F16" || w.dtype === "BF16") {
      out[name] = w;
      continue;
    }
    const n = w.shape.reduce((a, b) => a * b, 1);
    const f = q.dequantize(GGML_TYPES[w.dtype as GgmlTypeName].id, w.data, n, 2);
    if (bf16 && w.shape.length === 2 && name !== "model.embed_tokens.weight") {
      const u = new Uint32Array(f.buffer);
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
      out[name] = { data: new Uint8Array(h.buffer), dtype: "BF16", shape: w.shape };
    } else {
      out[name] = { data: new Uint8Array(f.buffer), dtype: "F32", shape: w.shape };
    }
  }
  return out;
}

async function stepOf(t: NativeTrainer, ids: Int32Array, labels: Int32Array) {
  const logits = await t.logits(ids, 2, 12);
  const fb = await t.forwardBackward(ids, labels, 2, 12, 0.1);
  await t.optimizerStep(1e-2);
  const fb2 = await t.forwardBackward(ids, labels, 2, 12, 0.1);
  return { logits, loss: fb.lossSum, loss2: fb2.lossSum, lora: t.loraTensors() };
}

for (const [label, file, holds] of [
  ["Q4_K_M", q4km, ["Q4_K", "Q6_K"]],
  ["Q3_K_M (ggml's dequantizers)", q3km, ["Q3_K"]],
] as const) {
  test(`a step on a ${label} GGUF equals the step on its dequantized weights (loss, logits, LoRA after AdamW)`, async () => {
    const base = await openTrainingBase(file);
    const types = new Set(Object.values(base.weights).map((w) => w.dtype));
    for (const t of holds) assert.ok(types.has(t), `${file} holds ${t} tensors (${[...types]})`);
    const make = (weights: Record<string, EngineWeight>) =>
      createNativeTrainer({
        config: engineModelConfig(base.config),
        weights,
        lora: { rank: 4, alpha: 8, dropout: 0.1 },
        maxBatch: 2,
        maxSeqLen: 12,
        seed: 3,
        threads: 2,
      });
    const ids = Int32Array.from({ length: 24 }, (_, i) => (i * 7919 + 13) % 151000);
    const labels = ids.map((x, i) => (i % 12 < 4 ? -100 : x));
    const a = make(base.weights);
    const b = make(dequantizedReference(base.weights));
    try {
      const sa = await stepOf(a, ids, labels);
      const sb = await stepOf(b, ids, labels);
      let e = 0;
      for (let i = 0; i < sa.logits.length; i++) e = Math.max(e, Math.abs(sa.logits[i] - sb.logits[i]));
      assert.ok(e <= 1e-6, `logits differ by ${e}`);
      assert.ok(
        Math.abs(sa.loss - sb.loss) <= 1e-6 * Math.abs(sb.loss) &&
          Math.abs(sa.loss2 - sb.loss2) <= 1e-6 * Math.abs(sb.loss2),
        `loss ${sa.loss} vs ${sb.loss}`,
      );
      assert.ok(sa.loss2 !== sa.loss, "the update changed the loss");
      sa.lora.forEach((t, i) => {
        let d = 0;
        for (let j = 0; j < t.data.length; j++) d = Math.max(d, Math.abs(t.data[j] - sb.lora[i].data[j]));
        assert.ok(d <= 1e-7, `${t.name}: LoRA differs by ${d} after one AdamW step`);
      });
    } finally {
      a.dispose();
      b.dispose();
    }
  });
}

test("--base_dtype q4_k / q8_0 quantizes an HF folder's projections on load as ggml does; the rest stays as stored", async () => {
  const m = openModel(hf);
  const q = nativeQuantizer();
  for (const [dtype, type] of [
    ["q4_k", "Q4_K"],
    ["q8_0", "Q8_0"],
  ] as const) {
    const base = await openTrainingBase(hf, { baseDtype: dtype, threads: 2 });
    for (const [name, w] of Object.entries(base.weights)) {
      if (/_proj\.weight$/.test(name)) {
        assert.equal(w.dtype, type, name);
        const want = await q.quantizeRows(GGML_TYPES[type].id, toFloat32(m.tensor(name)), w.shape[1], 2);
        assert.ok(Buffer.from(w.data).equals(want), `${name}: bytes differ from ggml_quantize_chunk's`);
      } else {
        assert.equal(w.dtype, "F32", name);
      }
    }
    assert.match(base.description, new RegExp(`${type} ×14 quantized on load`));
  }
  await assert.rejects(openTrainingBase(q8, { baseDtype: "q4_k" }), /is a GGUF file, already stored as its own types/);
  await assert.rejects(openTrainingBase(join(root, "missing.gguf")), /missing\.gguf: no such file/);
  const notGguf = join(root, "fake.gguf");
  writeFileSync(notGguf, "not a model");
  await assert.rejects(openTrainingBase(notGguf), /fake\.gguf: not a GGUF file/);
});

test("finetune on a GGUF: PEFT adapter; merge needs the HF base (clear error on the GGUF); GGUF LoRA served on the GGUF base", async () => {
  const trainFile = join(root, "train.jsonl");
  const rows = [
    ["How many customers are there?", "SELECT count(*) FROM customers"],
    ["List all customer names.", "SELECT name FROM customers"],
    ["Which cities do customers live in?", "SELECT DISTINCT city FROM customers"],
    ["What is the name of customer 1?", "SELECT name FROM customers WHERE id = 1"],
  ];
  writeFileSync(
    trainFile,
    rows
      .map(([q, s]) =>
        JSON.stringify({ question: q, db_schema: "CREATE TABLE customers(id INT, name TEXT, city TEXT)", query: s }),
      )
      .join("\n") + "\n",
  );
  const out = join(root, "run");
  const messages: string[] = [];
  const r = await finetune({
    modelName: q8,
    trainFile,
    outputDir: join(out, "output"),
    saveModelDir: join(out, "save-model"),
    maxSeqLength: 128,
    perDeviceTrainBatchSize: 2,
    gradientAccumulationSteps: 1,
    maxSteps: 3,
    loggingSteps: 1,
    saveSteps: 10,
    learningRate: 2e-2,
    loraRank: 4,
    loraAlpha: 8,
    threads: 2,
    progress: false,
    onMessage: (t) => messages.push(t),
  });
  assert.equal(r.status, "finished");
  assert.ok(
    messages.some((t) => /base model: .*tiny-Q8_0\.gguf: GGUF Q8_0 \(Q8_0 ×\d+, F32 ×\d+\)/.test(t)),
    messages.join("\n"),
  );
  const adapterDir = join(out, "save-model");
  const cfg = JSON.parse(readFileSync(join(adapterDir, "adapter_config.json"), "utf8"));
  assert.equal(cfg.peft_type, "LORA");
  assert.equal(cfg.base_model_name_or_path, q8);
  const adapter = readAdapter(adapterDir);
  assert.equal(adapter.modules.length, 2 * 7);
  await assert.rejects(
    merge({ base: q8, adapter: adapterDir, out: join(root, "merged-bad") }),
    /is a GGUF file\. Merging adds scale·B·A to the full-precision base weights.*--base <HF folder>/s,
  );
  const merged = await merge({ base: hf, adapter: adapterDir, out: join(root, "merged") });
  assert.equal(merged.merged, 14);

  // llama.cpp: the Q8_0 base + the adapter as a GGUF LoRA = our engine on that base with the trained adapter
  const loraGguf = join(root, "adapter.gguf");
  await loraToGGUF({ adapter: adapterDir, out: loraGguf, base: q8 });
  const base = await openTrainingBase(q8);
  const trainer = createNativeTrainer({
    config: engineModelConfig(base.config),
    weights: base.weights,
    lora: { rank: 4, alpha: 8, dropout: 0 },
    maxBatch: 1,
    maxSeqLen: 16,
    seed: 1,
    threads: 2,
  });
  const prompt = [4858, 829, 4295, 3847, 5288, 3988];
  try {
    trainer.setLoraTensors(adapter.tensors);
    const V = base.config.vocabSize;
    const logits = await trainer.logits(Int32Array.from(prompt), 1, prompt.length);
    const ours = prompt.map((_, t) => logSoftmax(logits.subarray(t * V, (t + 1) * V)));
    const model = await loadGguf(q8);
    try {
      const withLora = await llamaLogProbs(model, prompt, 0, loraGguf);
      const without = await llamaLogProbs(model, prompt, 0);
      let worst = 0;
      let moved = 0;
      ours.forEach((lp, t) => {
        const top = argmax(lp);
        for (const [tok, p] of withLora.logProbs[t]) {
          if (lp[tok] < lp[top] - 5) continue;
          worst = Math.max(worst, Math.abs(p - withLora.logProbs[t].get(top)! - (lp[tok] - lp[top])));
          moved = Math.max(moved, Math.abs(p - (without.logProbs[t].get(tok) ?? p)));
        }
      });
      assert.ok(moved > 0.05, `the GGUF LoRA changes llama.cpp's distribution (by ${moved})`);
      // measured 0.011: llama.cpp multiplies Q8_0 weights with Q8-quantized activations, the engine with BF16 or F32
      assert.ok(worst < 0.03, `llama.cpp (Q8_0 base + GGUF LoRA) vs the engine: ${worst}`);
    } finally {
      await model.dispose();
    }
  } finally {
    trainer.dispose();
  }

  // `serve --model tiny-Q8_0.gguf --lora sql=save-model`: the server converts the PEFT folder and applies it
  const server = await startServer({
    model: q8,
    lora: [`sql=${adapterDir}`],
    port: 0,
    cacheDir: join(root, "serve-cache"),
    sequences: 1,
    contextSize: 256,
    threads: 2,
    log: () => {},
    server: { logger: false },
  });
  try {
    const ask = async (adapter: string) => {
      const r = await fetch(server.url + "/text2sql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          question: rows[0][0],
          db_schema: "CREATE TABLE customers(id INT, name TEXT, city TEXT)",
          max_tokens: 12,
          adapter,
        }),
      });
      assert.equal(r.status, 200);
      return (await r.json()) as { reply: string; adapter: string };
    };
    const tuned = await ask("sql");
    const plain = await ask("base");
    assert.equal(tuned.adapter, "sql");
    assert.notEqual(tuned.reply, plain.reply, "the adapter changes what the served GGUF generates");
  } finally {
    await server.app.close();
  }
});
