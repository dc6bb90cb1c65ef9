// The engine on a model folder from src/model: initTinyModel (BF16, real Qwen2.5 vocabulary size) → openModel →
// engineModelConfig / engineWeightsFromModel (views of the mapped safetensors) → the trainer's loss equals the
// TypeScript reference forward on the same weights, and training steps lower it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { initTinyModel, openModel, toFloat32 } from "../src/model/index.js";
import { createNativeTrainer, engineModelConfig, engineWeightsFromModel } from "../src/train/native.js";
import { referenceForward } from "./helpers/qwen2-reference.js";
import { bf16LossTolerance } from "./helpers/bf16-compute.js";

const dir = mkdtempSync(join(tmpdir(), "sqlfocus-engine-model-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("engine: on a src/model folder", () => {
  it("tiny BF16 model: loss equals the reference, and a few steps lower it", async () => {
    await initTinyModel(join(dir, "m"), {
      layers: 2,
      hidden: 32,
      intermediate: 64,
      heads: 4,
      kvHeads: 2,
      seed: 5,
      dtype: "bf16",
    });
    const model = openModel(join(dir, "m"));
    const config = engineModelConfig(model.config);
    const weights = engineWeightsFromModel(model);
    assert.equal(weights["model.embed_tokens.weight"].dtype, "BF16");
    const t = createNativeTrainer({
      config,
      weights,
      lora: { rank: 8, alpha: 16, dropout: 0 },
      maxBatch: 2,
      maxSeqLen: 16,
      seed: 3,
    });
    const ids = new Int32Array(2 * 16).map((_, i) => (i * 7919 + 13) % 5000);
    const labels = ids.slice();
    labels.fill(-100, 0, 6);
    labels.fill(-100, 16, 24);
    const ev = await t.evaluate(ids, labels, 2, 16);
    const f32 = new Map<string, Float32Array>();
    const w = (name: string) => {
      if (!f32.has(name)) f32.set(name, toFloat32(model.tensor(name)));
      return f32.get(name)!;
    };
    const ref = referenceForward({ ...config, numLayers: config.numLayers }, w, null, ids, labels, 2, 16);
    assert.equal(ev.tokens, ref.tokens);
    // BF16 weights: BF16 compute where the CPU has AVX-512 BF16, so a BF16 tolerance there
    const tol = bf16LossTolerance(ref.lossSum / ref.tokens);
    assert.ok(
      Math.abs(ev.lossSum / ev.tokens - ref.lossSum / ref.tokens) < tol,
      `${ev.lossSum / ev.tokens} vs ${ref.lossSum / ref.tokens} (tolerance ${tol})`,
    );
    for (let s = 0; s < 8; s++) {
      await t.forwardBackward(ids, labels, 2, 16, 1 / ev.tokens);
      await t.optimizerStep(1e-2);
    }
    const after8 = await t.evaluate(ids, labels, 2, 16);
    assert.ok(
      after8.lossSum / after8.tokens < ev.lossSum / ev.tokens - 0.3,
      `loss ${ev.lossSum / ev.tokens} → ${after8.lossSum / after8.tokens}`,
    );
    t.dispose();
  });
});
