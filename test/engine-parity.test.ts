// Parity with PyTorch: test/parity/fixtures/tiny-qwen2.json was computed by test/parity/make_reference.py (plain
// torch, float64) from the inputs test/parity/write-inputs.ts regenerates from seeds. Our engine (F32) must give
// the same mean loss, logits and LoRA gradients (read back exactly from AdamW's first moment after an lr-0 step).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { createNativeTrainer } from "../src/train/native.js";
import { parityCase } from "./parity/parity-case.js";
import { engineWeights } from "./parity/tiny-model.js";

const fixture = JSON.parse(readFileSync(new URL("./parity/fixtures/tiny-qwen2.json", import.meta.url), "utf8")) as {
  loss: number;
  tokens: number;
  logits: number[];
  grads: Record<string, number[]>;
};

describe("engine: parity with the PyTorch reference", () => {
  it("loss, logits and LoRA gradients match make_reference.py's fixture", async (ctx) => {
    const c = parityCase();
    const t = createNativeTrainer({
      config: c.config,
      weights: engineWeights(c.config, c.weights),
      lora: { rank: c.rank, alpha: c.alpha, dropout: 0 },
      maxBatch: c.batch,
      maxSeqLen: c.seqLen,
      seed: 1,
      optimizer: { maxGradNorm: 0, weightDecay: 0 },
    });
    t.setLoraTensors(c.lora);
    const ev = await t.evaluate(c.inputIds, c.labels, c.batch, c.seqLen);
    assert.equal(ev.tokens, fixture.tokens);
    const loss = ev.lossSum / ev.tokens;
    assert.ok(Math.abs(loss - fixture.loss) < 1e-5, `loss ${loss} vs torch ${fixture.loss}`);

    const logits = await t.logits(c.inputIds, c.batch, c.seqLen);
    assert.equal(logits.length, fixture.logits.length);
    let maxLogit = 0;
    for (let i = 0; i < logits.length; i++) maxLogit = Math.max(maxLogit, Math.abs(logits[i] - fixture.logits[i]));
    assert.ok(maxLogit < 1e-4, `max logit difference ${maxLogit}`);

    await t.forwardBackward(c.inputIds, c.labels, c.batch, c.seqLen, 1 / ev.tokens);
    await t.optimizerStep(0); // lr 0: weights unchanged; m = (1 − β1)·grad
    const state = t.optimizerState();
    assert.equal(state.tensors.length, Object.keys(fixture.grads).length);
    let maxDiff = 0;
    let maxRef = 0;
    for (const { name, m } of state.tensors) {
      const ref = fixture.grads[name];
      assert.ok(ref, `no reference gradient for ${name}`);
      assert.equal(m.length, ref.length, name);
      for (let i = 0; i < m.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(m[i] / (1 - 0.9) - ref[i]));
        maxRef = Math.max(maxRef, Math.abs(ref[i]));
      }
    }
    assert.ok(maxRef > 1e-3, "reference gradients are not trivially zero");
    assert.ok(maxDiff / maxRef < 1e-4, `LoRA gradients: max relative difference ${maxDiff / maxRef}`);
    ctx.diagnostic(
      `loss diff ${Math.abs(loss - fixture.loss).toExponential(2)}, max logit diff ${maxLogit.toExponential(2)}, grad rel diff ${(maxDiff / maxRef).toExponential(2)}`,
    );
    t.dispose();
  });
});
