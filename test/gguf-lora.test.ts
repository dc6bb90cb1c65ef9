// LoRA in llama.cpp: a PEFT adapter exported as a GGUF LoRA adapter and applied by node-llama-cpp to the base GGUF,
// and the merged model (merge() → toGGUF), both give the reference forward pass's distribution with the adapter.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loraToGGUF, readGgufInfo, toGGUF } from "../src/gguf/index.js";
import { merge } from "../src/model/index.js";
import { referenceForward } from "./helpers/qwen2-reference.js";
import { makeTinyQwen2, type TinyModel } from "./helpers/gguf-tiny.js";
import { writeRandomAdapter } from "./helpers/gguf-adapter.js";
import { llamaLogProbs, loadGguf, logSoftmax } from "./helpers/gguf-llama.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-gguf-lora-"));
after(() => rmSync(root, { recursive: true, force: true }));

const SHAPE = { layers: 2, hidden: 256, intermediate: 768, heads: 4, kvHeads: 2 };
const PROMPT = [4858, 829, 4295, 3847, 5288, 3988];
let base: TinyModel;
let lora: { tensors: Map<string, Float32Array>; rank: number; scale: number };
let refWith: Float64Array[];
let refWithout: Float64Array[];

function rows(m: TinyModel, l: typeof lora | null): Float64Array[] {
  const V = m.config.vocabSize;
  const { logits } = referenceForward(m.config, (n) => m.weights.get(n)!, l, PROMPT, null, 1, PROMPT.length);
  return PROMPT.map((_, t) => logSoftmax(logits.subarray(t * V, (t + 1) * V)));
}

/** Max error of log p_i − log p_top over the reference's top-10 tokens (see gguf-convert.test.ts). */
function maxError(ref: Float64Array[], got: Map<number, number>[]): number {
  let worst = 0;
  ref.forEach((lp, t) => {
    const top = [...lp.keys()].sort((a, b) => lp[b] - lp[a]).slice(0, 10);
    const g0 = got[t].get(top[0]);
    if (g0 === undefined) {
      worst = Infinity;
      return;
    }
    for (const tok of top) {
      const g = got[t].get(tok);
      worst = Math.max(worst, g === undefined ? Infinity : Math.abs(g - g0 - (lp[tok] - lp[top[0]])));
    }
  });
  return worst;
}

before(async () => {
  base = makeTinyQwen2(join(root, "base"), { ...SHAPE, seed: 31 });
  const ad = await writeRandomAdapter(join(root, "adapter"), {
    ...SHAPE,
    rank: 8,
    alpha: 16,
    targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
  });
  lora = { tensors: new Map(ad.tensors.map((t) => [t.name, t.data])), rank: ad.rank, scale: ad.scale };
  refWith = rows(base, lora);
  refWithout = rows(base, null);
  await toGGUF({ model: base.dir, out: join(root, "base-f32.gguf"), type: "F32" });
});

test("GGUF LoRA adapter: format, and base + adapter in llama.cpp = reference with LoRA", async () => {
  const out = join(root, "adapter.gguf");
  const r = await loraToGGUF({ adapter: join(root, "adapter"), out, base: base.dir });
  assert.equal(r.modules, SHAPE.layers * 7);
  const info = readGgufInfo(out);
  assert.equal(info.metadata.get("general.type"), "adapter");
  assert.equal(info.metadata.get("adapter.type"), "lora");
  assert.equal(info.metadata.get("adapter.lora.alpha"), 16);
  assert.deepEqual(info.tensors.find((t) => t.name === "blk.0.ffn_down.weight.lora_a")!.dims, [768, 8]);
  assert.deepEqual(info.tensors.find((t) => t.name === "blk.0.ffn_down.weight.lora_b")!.dims, [8, 256]);
  const model = await loadGguf(join(root, "base-f32.gguf"));
  try {
    const withAdapter = await llamaLogProbs(model, PROMPT, 0, out);
    const e = maxError(refWith, withAdapter.logProbs);
    assert.ok(e < 2e-3, `with adapter: ${e}`);
    // and the adapter does change the model
    assert.ok(maxError(refWithout, withAdapter.logProbs) > 0.05);
  } finally {
    await model.dispose();
  }
});

test("merged model → GGUF in llama.cpp = reference with LoRA", async () => {
  await merge({ base: base.dir, adapter: join(root, "adapter"), out: join(root, "merged") });
  await toGGUF({ model: join(root, "merged"), out: join(root, "merged-f32.gguf"), type: "F32" });
  const model = await loadGguf(join(root, "merged-f32.gguf"));
  try {
    const got = await llamaLogProbs(model, PROMPT, 0);
    const e = maxError(refWith, got.logProbs);
    assert.ok(e < 2e-3, `merged: ${e}`);
  } finally {
    await model.dispose();
  }
});

test("an adapter that does not fit the base is refused", async () => {
  await writeRandomAdapter(join(root, "adapter-wide"), {
    ...SHAPE,
    layers: 1,
    intermediate: 512,
    targets: ["up_proj"],
  });
  await assert.rejects(
    loraToGGUF({ adapter: join(root, "adapter-wide"), out: join(root, "x.gguf"), base: base.dir }),
    /up_proj adapts a \[512, 256\] weight, but the base model's is \[768,256\]/,
  );
});
