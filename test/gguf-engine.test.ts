// GGUF vs our own engine: the native trainer's logits (src/train/native.ts) on the HF weights, with and without a
// LoRA adapter, against llama.cpp running our GGUF (base, base + GGUF LoRA adapter): same next-token distribution
// (within tolerance) and identical greedy tokens.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loraToGGUF, toGGUF } from "../src/gguf/index.js";
import { openSafetensors } from "../src/model/index.js";
import { createNativeTrainer, type EngineWeight, type NativeTrainer } from "../src/train/native.js";
import { makeTinyQwen2, type TinyModel } from "./helpers/gguf-tiny.js";
import { writeRandomAdapter } from "./helpers/gguf-adapter.js";
import { argmax, llamaLogProbs, loadGguf, logSoftmax } from "./helpers/gguf-llama.js";
import type { LoraTensor } from "../src/train/index.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-gguf-engine-"));
const SHAPE = { layers: 2, hidden: 256, intermediate: 768, heads: 4, kvHeads: 2 };
const PROMPT = [4858, 829, 4295, 3847, 5288, 3988];
const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
let m: TinyModel;
let trainer: NativeTrainer;
let adapter: LoraTensor[];
after(() => {
  trainer?.dispose();
  rmSync(root, { recursive: true, force: true });
});

before(async () => {
  m = makeTinyQwen2(join(root, "model"), { ...SHAPE, seed: 41 });
  const st = openSafetensors(m.dir);
  const weights: Record<string, EngineWeight> = {};
  for (const name of st.names()) {
    const t = st.tensor(name);
    weights[name] = { data: t.data, dtype: t.dtype as EngineWeight["dtype"], shape: t.shape };
  }
  trainer = createNativeTrainer({
    config: { ...m.config, numLayers: SHAPE.layers },
    weights,
    lora: { rank: 8, alpha: 16, dropout: 0, targetModules: TARGETS },
    maxBatch: 1,
    maxSeqLen: 16,
    seed: 1,
    threads: 2,
  });
  adapter = (await writeRandomAdapter(join(root, "adapter"), { ...SHAPE, rank: 8, alpha: 16, targets: TARGETS }))
    .tensors;
  await toGGUF({ model: m.dir, out: join(root, "base.gguf"), type: "F32" });
  await loraToGGUF({ adapter: join(root, "adapter"), out: join(root, "adapter.gguf"), base: m.dir });
});

async function engineRows(ids: number[]): Promise<Float64Array[]> {
  const V = m.config.vocabSize;
  const logits = await trainer.logits(Int32Array.from(ids), 1, ids.length);
  return ids.map((_, t) => logSoftmax(logits.subarray(t * V, (t + 1) * V)));
}

async function engineGreedy(ids: number[], n: number): Promise<number[]> {
  const seq = [...ids];
  for (let i = 0; i < n; i++) {
    const rows = await engineRows(seq);
    seq.push(argmax(rows[rows.length - 1]));
  }
  return seq.slice(ids.length);
}

function maxError(ref: Float64Array[], got: Map<number, number>[]): number {
  let worst = 0;
  ref.forEach((lp, t) => {
    const top = [...lp.keys()].sort((a, b) => lp[b] - lp[a]).slice(0, 10);
    const g0 = got[t].get(top[0]);
    assert.ok(g0 !== undefined, `position ${t}: top token ${top[0]} missing from llama.cpp's candidates`);
    for (const tok of top) {
      const g = got[t].get(tok);
      assert.ok(g !== undefined, `position ${t}: token ${tok} missing from llama.cpp's candidates`);
      worst = Math.max(worst, Math.abs(g - g0 - (lp[tok] - lp[top[0]])));
    }
  });
  return worst;
}

test("base model: engine logits = llama.cpp on the F32 GGUF; same greedy tokens", async () => {
  const model = await loadGguf(join(root, "base.gguf"));
  try {
    const got = await llamaLogProbs(model, PROMPT, 4);
    const e = maxError(await engineRows(PROMPT), got.logProbs);
    assert.ok(e < 2e-3, `max error ${e}`);
    assert.deepEqual(got.greedy, await engineGreedy(PROMPT, 4));
  } finally {
    await model.dispose();
  }
});

test("with the LoRA adapter: engine = llama.cpp base GGUF + GGUF LoRA adapter", async () => {
  trainer.setLoraTensors(adapter);
  const model = await loadGguf(join(root, "base.gguf"));
  try {
    const got = await llamaLogProbs(model, PROMPT, 4, join(root, "adapter.gguf"));
    const e = maxError(await engineRows(PROMPT), got.logProbs);
    // two F32 implementations with a large random adapter (logits spread over ±10): measured 3.3e-3
    assert.ok(e < 6e-3, `max error ${e}`);
    assert.deepEqual(got.greedy, await engineGreedy(PROMPT, 4));
  } finally {
    await model.dispose();
  }
});
