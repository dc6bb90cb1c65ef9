import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { readQwen2Config } from "../src/model/config.js";
import { openSafetensors, toFloat32 } from "../src/model/safetensors.js";
import { initTinyModel, TinyRng, type TinyModelInfo } from "../src/model/tiny.js";

const tmp = () => mkdtempSync(join(tmpdir(), "sqlfocus-tiny-"));
const digest = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [
        f,
        createHash("sha256")
          .update(readFileSync(join(dir, f)))
          .digest("hex"),
      ]),
  );

let shared: string; // the default model (seed 0), written once
let sharedInfo: TinyModelInfo;
before(async () => {
  shared = tmp();
  sharedInfo = await initTinyModel(shared);
});

test("same seed → same bytes; another seed → other weights", async () => {
  const b = tmp(),
    c = tmp();
  await initTinyModel(b, { seed: 0 });
  const da = digest(shared);
  assert.deepEqual(Object.keys(da), [
    "config.json",
    "generation_config.json",
    "merges.txt",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
  ]);
  assert.deepEqual(digest(b), da);
  await initTinyModel(c, { seed: 8, tied: true, layers: 1 });
  const dc = digest(c);
  assert.equal(dc["tokenizer.json"], da["tokenizer.json"]);
  const ea = openSafetensors(shared).tensor("model.embed_tokens.weight").data;
  const ec = openSafetensors(c).tensor("model.embed_tokens.weight").data;
  assert.equal(ea.length, ec.length);
  assert.ok(!Buffer.from(ea.buffer, ea.byteOffset, 4096).equals(Buffer.from(ec.buffer, ec.byteOffset, 4096)));
});

test("default model: Qwen2 shapes, bf16, N(0, 0.02) weights, unit norms, untied lm_head", async () => {
  const dir = shared;
  const info = sharedInfo;
  const cfg = readQwen2Config(dir);
  assert.equal(cfg.hiddenSize, 256);
  assert.equal(cfg.numHiddenLayers, 4);
  assert.equal(cfg.numAttentionHeads, 4);
  assert.equal(cfg.numKeyValueHeads, 2);
  assert.equal(cfg.headDim, 64);
  assert.equal(cfg.intermediateSize, 768);
  assert.equal(cfg.vocabSize, 151936);
  assert.equal(cfg.ropeTheta, 1e6);
  assert.equal(cfg.rmsNormEps, 1e-6);
  assert.equal(cfg.tieWordEmbeddings, false);
  assert.equal(cfg.torchDtype, "bfloat16");
  assert.equal(cfg.eosTokenId, 151645);
  assert.deepEqual(cfg.raw.architectures, ["Qwen2ForCausalLM"]);
  const gen = JSON.parse(readFileSync(join(dir, "generation_config.json"), "utf8"));
  assert.deepEqual(gen.eos_token_id, [151645, 151643]);
  const st = openSafetensors(dir);
  assert.deepEqual(st.metadata, { format: "pt" });
  assert.equal(st.names().length, 1 + 4 * 12 + 1 + 1);
  assert.equal(info.tensors, 51);
  assert.equal(
    info.nonEmbeddingParameters,
    4 * (2 * 256 * 256 + 2 * 128 * 256 + 3 * 768 * 256 + 256 + 2 * 128 + 2 * 256) + 256,
  );
  const shape = (n: string) => st.info(n).shape;
  assert.deepEqual(shape("model.embed_tokens.weight"), [151936, 256]);
  assert.deepEqual(shape("lm_head.weight"), [151936, 256]);
  assert.deepEqual(shape("model.layers.0.self_attn.q_proj.weight"), [256, 256]);
  assert.deepEqual(shape("model.layers.0.self_attn.k_proj.weight"), [128, 256]);
  assert.deepEqual(shape("model.layers.0.self_attn.v_proj.bias"), [128]);
  assert.deepEqual(shape("model.layers.3.mlp.down_proj.weight"), [256, 768]);
  assert.deepEqual(shape("model.layers.3.mlp.gate_proj.weight"), [768, 256]);
  for (const n of st.names()) {
    assert.equal(st.info(n).dtype, "BF16", n);
    // every matrix's row width (GGUF ne0) is a multiple of 256, so llama.cpp's k-quants apply to all of them
    if (st.info(n).shape.length === 2) assert.equal(st.info(n).shape[1] % 256, 0, n);
  }
  const norm = toFloat32(st.tensor("model.layers.2.post_attention_layernorm.weight"));
  assert.ok(norm.every((x) => x === 1));
  for (const n of ["model.layers.1.mlp.up_proj.weight", "model.embed_tokens.weight", "lm_head.weight"]) {
    const w = toFloat32(st.tensor(n));
    let s = 0,
      s2 = 0;
    for (const x of w) {
      s += x;
      s2 += x * x;
    }
    const mean = s / w.length,
      sd = Math.sqrt(s2 / w.length - mean * mean);
    assert.ok(Math.abs(mean) < 1e-3, `${n} mean ${mean}`);
    assert.ok(Math.abs(sd - 0.02) < 0.0005, `${n} std ${sd}`);
  }
  // tensors differ from each other (each has its own random stream)
  const q0 = st.tensor("model.layers.0.self_attn.q_proj.weight").data,
    q1 = st.tensor("model.layers.1.self_attn.q_proj.weight").data;
  assert.notDeepEqual(q0.slice(0, 64), q1.slice(0, 64));
});

test("tied f32 variant, sharded; a non-empty folder needs overwrite", async () => {
  const dir = tmp();
  await initTinyModel(dir, { tied: true, dtype: "f32", layers: 1, seed: 3, maxShardSize: 100_000_000 });
  const cfg = readQwen2Config(dir);
  assert.equal(cfg.tieWordEmbeddings, true);
  assert.equal(cfg.torchDtype, "float32");
  assert.ok(readdirSync(dir).includes("model.safetensors.index.json"));
  const st = openSafetensors(dir);
  assert.equal(st.has("lm_head.weight"), false);
  assert.equal(st.info("model.embed_tokens.weight").dtype, "F32");
  assert.equal(st.files.length, 2);
  await assert.rejects(initTinyModel(dir, { layers: 1 }), /is not empty; pass overwrite/);
  await initTinyModel(dir, { layers: 1, tied: true, overwrite: true });
  assert.ok(!readdirSync(dir).includes("model.safetensors.index.json"));
  assert.equal(readQwen2Config(dir).torchDtype, "bfloat16");
  const other = tmp();
  writeFileSync(join(other, "x"), "");
  await assert.rejects(initTinyModel(other, { heads: 3 }), /heads \(3\) must divide hidden \(256\)/);
  await assert.rejects(initTinyModel(tmp(), { dtype: "q4" as never }), /dtype must be bf16, f16 or f32/);
  const file = join(other, "x");
  await assert.rejects(
    initTinyModel(file, { overwrite: true }),
    (err: Error) =>
      err.message === `${file}: exists and is not a folder (refusing to replace it with the output folder)`,
  );
  assert.equal(readFileSync(file, "utf8"), "");
});

test("random stream: deterministic, uniform in (0,1), seeds and names give distinct streams", () => {
  const a = new TinyRng(1, "x"),
    b = new TinyRng(1, "x"),
    c = new TinyRng(1, "y"),
    d = new TinyRng(2, "x");
  const seq = (r: TinyRng) => Array.from({ length: 8 }, () => r.nextU32());
  const sa = seq(a);
  assert.deepEqual(seq(b), sa);
  assert.notDeepEqual(seq(c), sa);
  assert.notDeepEqual(seq(d), sa);
  const r = new TinyRng(5, "u");
  let lo = 1,
    hi = 0,
    sum = 0;
  for (let i = 0; i < 100000; i++) {
    const u = r.uniform();
    lo = Math.min(lo, u);
    hi = Math.max(hi, u);
    sum += u;
  }
  assert.ok(lo > 0 && hi < 1);
  // the inlined normal filler draws the same stream as uniform(): Box-Muller on consecutive pairs
  const n = new Float32Array(1001);
  new TinyRng(9, "n").fillNormal(n, 0.5);
  const ref = new TinyRng(9, "n");
  for (let i = 0; i < n.length; i += 2) {
    const rr = Math.sqrt(-2 * Math.log(ref.uniform())) * 0.5,
      a = 2 * Math.PI * ref.uniform();
    assert.equal(n[i], Math.fround(rr * Math.cos(a)));
    if (i + 1 < n.length) assert.equal(n[i + 1], Math.fround(rr * Math.sin(a)));
  }
  const after = new TinyRng(9, "n");
  after.fillNormal(new Float32Array(4), 1);
  const after2 = new TinyRng(9, "n");
  for (let i = 0; i < 4; i++) after2.uniform();
  assert.equal(after.nextU32(), after2.nextU32()); // state carried over
  assert.ok(Math.abs(sum / 100000 - 0.5) < 0.01);
});
