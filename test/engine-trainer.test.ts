// The native training engine through its JS face (src/train/native.ts) on a tiny in-memory Qwen2: loss and
// logits against the plain TypeScript reference forward, training lowers the loss, accumulation equals one big
// batch, state round-trips (LoRA, AdamW, RNG), evaluate has no side effects, bad inputs name the field.
import assert from "node:assert/strict";
import { bf16LossTolerance } from "./helpers/bf16-compute.js";
import { describe, it } from "node:test";
import { loadAddon } from "../src/native/index.js";
import { createNativeTrainer, peftLoraName, type NativeTrainerOptions } from "../src/train/native.js";
import { LORA_TARGET_MODULES } from "../src/train/options.js";
import { referenceForward } from "./helpers/qwen2-reference.js";
import {
  engineWeights,
  fromBf16,
  randomBatch,
  seededRandom,
  TINY_CONFIG,
  tinyWeightsF32,
  toBf16,
} from "./parity/tiny-model.js";

const cfg = TINY_CONFIG;
const f32 = tinyWeightsF32(cfg);
const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

function options(over: Partial<NativeTrainerOptions> = {}): NativeTrainerOptions {
  return {
    config: cfg,
    weights: engineWeights(cfg, f32),
    lora: { rank: 4, alpha: 8, dropout: 0, targetModules: ALL },
    maxBatch: 3,
    maxSeqLen: 12,
    threads: 2,
    seed: 7,
    ceChunk: 5,
    ...over,
  };
}

/** Gives every LoRA B random values so the adapters change the output. */
function randomizeLora(t: ReturnType<typeof createNativeTrainer>, seed = 3) {
  const rand = seededRandom(seed);
  const list = t.loraTensors().map((x) => ({ ...x, data: x.data.map(() => (rand() * 2 - 1) * 0.2) }));
  t.setLoraTensors(list);
  return list;
}

function reference(
  weights: Map<string, Float32Array>,
  lora: { name: string; data: Float32Array }[],
  scale: number,
  ids: Int32Array,
  labels: Int32Array | null,
  batch: number,
  seqLen: number,
) {
  return referenceForward(
    cfg,
    (n) => weights.get(n)!,
    { tensors: new Map(lora.map((x) => [x.name, x.data])), rank: 4, scale },
    ids,
    labels,
    batch,
    seqLen,
  );
}

describe("engine: native trainer", () => {
  it("loss and logits equal the TypeScript reference forward (F32 weights, LoRA on all seven)", async () => {
    const t = createNativeTrainer(options());
    const lora = randomizeLora(t);
    const { inputIds, labels } = randomBatch(cfg, 3, 12, 11);
    const ref = reference(f32, lora, 8 / 4, inputIds, labels, 3, 12);
    const ev = await t.evaluate(inputIds, labels, 3, 12);
    assert.equal(ev.tokens, ref.tokens);
    assert.ok(
      Math.abs(ev.lossSum / ev.tokens - ref.lossSum / ref.tokens) < 1e-5,
      `mean loss ${ev.lossSum / ev.tokens} vs ${ref.lossSum / ref.tokens}`,
    );
    const fb = await t.forwardBackward(inputIds, labels, 3, 12, 1 / ref.tokens);
    assert.ok(Math.abs(fb.lossSum - ref.lossSum) / ref.lossSum < 1e-5);
    const logits = await t.logits(inputIds, 3, 12);
    assert.equal(logits.length, 3 * 12 * cfg.vocabSize);
    let maxErr = 0;
    for (let i = 0; i < logits.length; i++) maxErr = Math.max(maxErr, Math.abs(logits[i] - ref.logits[i]));
    assert.ok(maxErr < 1e-4, `max logit error ${maxErr}`);
    t.dispose();
  });

  it("BF16 base weights, tied embeddings, rslora: loss equals the reference on the rounded weights", async () => {
    const tcfg = { ...cfg, tieWordEmbeddings: true };
    const w = new Map([...f32].filter(([n]) => n !== "lm_head.weight"));
    const rounded = new Map([...w].map(([n, a]) => [n, fromBf16(toBf16(a))]));
    const t = createNativeTrainer(
      options({
        config: tcfg,
        weights: engineWeights(tcfg, w, "BF16"),
        lora: { rank: 4, alpha: 8, dropout: 0, useRslora: true },
      }),
    );
    const lora = randomizeLora(t, 5);
    const { inputIds, labels } = randomBatch(cfg, 2, 9, 12);
    const ref = referenceForward(
      tcfg,
      (n) => rounded.get(n)!,
      { tensors: new Map(lora.map((x) => [x.name, x.data])), rank: 4, scale: 8 / 2 },
      inputIds,
      labels,
      2,
      9,
    );
    const ev = await t.evaluate(inputIds, labels, 2, 9);
    assert.equal(ev.tokens, ref.tokens);
    // with AVX-512 BF16 the BF16 weights run BF16 compute (activations rounded at the matmuls): BF16 tolerance
    const tol = bf16LossTolerance(ref.lossSum / ref.tokens);
    assert.ok(
      Math.abs(ev.lossSum / ev.tokens - ref.lossSum / ref.tokens) < tol,
      `mean loss ${ev.lossSum / ev.tokens} vs ${ref.lossSum / ref.tokens} (tolerance ${tol})`,
    );
    t.dispose();
  });

  it("a few AdamW steps on one batch lower the loss; LoRA A starts Kaiming-uniform, B zero", async () => {
    const t = createNativeTrainer(options({ lora: { rank: 4, alpha: 8, dropout: 0.05 } }));
    const init = t.loraTensors();
    assert.equal(init.length, 2 * 7 * cfg.numLayers);
    const a = init.find((x) => x.name === "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")!;
    assert.deepEqual(a.shape, [4, cfg.hiddenSize]);
    const bound = 1 / Math.sqrt(cfg.hiddenSize);
    assert.ok(a.data.every((x) => Math.abs(x) <= bound) && a.data.some((x) => Math.abs(x) > bound / 2));
    const b = init.find((x) => x.name === "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight")!;
    assert.deepEqual(b.shape, [cfg.hiddenSize, 4]);
    assert.ok(b.data.every((x) => x === 0));
    const { inputIds, labels } = randomBatch(cfg, 3, 12, 21);
    const first = await t.evaluate(inputIds, labels, 3, 12);
    for (let s = 0; s < 15; s++) {
      await t.forwardBackward(inputIds, labels, 3, 12, 1 / first.tokens);
      const { gradNorm } = await t.optimizerStep(1e-2);
      assert.ok(Number.isFinite(gradNorm) && gradNorm > 0);
    }
    const last = await t.evaluate(inputIds, labels, 3, 12);
    assert.ok(
      last.lossSum < first.lossSum * 0.8,
      `loss ${first.lossSum / first.tokens} → ${last.lossSum / last.tokens}`,
    );
    assert.equal(t.optimizerState().step, 15);
    t.dispose();
  });

  it("gradient accumulation over two micro-batches equals one batch", async () => {
    const { inputIds, labels } = randomBatch(cfg, 2, 10, 31);
    const run = async (split: boolean) => {
      const t = createNativeTrainer(options());
      randomizeLora(t, 9);
      const tokens = (await t.evaluate(inputIds, labels, 2, 10)).tokens;
      if (split) {
        await t.forwardBackward(inputIds.subarray(0, 10), labels.subarray(0, 10), 1, 10, 1 / tokens);
        await t.forwardBackward(inputIds.subarray(10), labels.subarray(10), 1, 10, 1 / tokens);
      } else await t.forwardBackward(inputIds, labels, 2, 10, 1 / tokens);
      const { gradNorm } = await t.optimizerStep(1e-3);
      const out = t.loraTensors();
      t.dispose();
      return { gradNorm, out };
    };
    const one = await run(false);
    const two = await run(true);
    assert.ok(Math.abs(one.gradNorm - two.gradNorm) / one.gradNorm < 1e-5);
    for (let i = 0; i < one.out.length; i++)
      for (let j = 0; j < one.out[i].data.length; j++)
        assert.ok(Math.abs(one.out[i].data[j] - two.out[i].data[j]) < 1e-6);
  });

  it("LoRA, AdamW and RNG state round-trip: a restored trainer continues exactly (with dropout)", async () => {
    const opts = options({ lora: { rank: 4, alpha: 8, dropout: 0.1 } });
    const { inputIds, labels } = randomBatch(cfg, 3, 12, 41);
    const a = createNativeTrainer(opts);
    for (let s = 0; s < 2; s++) {
      await a.forwardBackward(inputIds, labels, 3, 12, 0.01);
      await a.optimizerStep(1e-2);
    }
    const saved = { lora: a.loraTensors(), opt: a.optimizerState(), rng: JSON.parse(JSON.stringify(a.rngState())) };
    assert.equal(saved.rng.counter, "2");
    const b = createNativeTrainer({ ...opts, seed: 999 });
    b.setLoraTensors(saved.lora);
    b.setOptimizerState(saved.opt);
    b.setRngState(saved.rng);
    const ra = await a.forwardBackward(inputIds, labels, 3, 12, 0.01);
    const rb = await b.forwardBackward(inputIds, labels, 3, 12, 0.01);
    assert.equal(ra.lossSum, rb.lossSum);
    assert.equal((await a.optimizerStep(1e-2)).gradNorm, (await b.optimizerStep(1e-2)).gradNorm);
    assert.deepEqual(a.loraTensors(), b.loraTensors());
    assert.deepEqual(a.optimizerState(), b.optimizerState());
    a.dispose();
    b.dispose();
  });

  it("evaluate and logits have no side effects (weights, grads, optimizer, RNG)", async () => {
    const opts = options({ lora: { rank: 4, alpha: 8, dropout: 0.1 } });
    const { inputIds, labels } = randomBatch(cfg, 3, 12, 51);
    const a = createNativeTrainer(opts);
    const b = createNativeTrainer(opts);
    await a.forwardBackward(inputIds, labels, 3, 12, 0.01);
    await b.forwardBackward(inputIds, labels, 3, 12, 0.01);
    const rng = b.rngState();
    const e1 = await b.evaluate(inputIds, labels, 3, 12);
    await b.logits(inputIds, 3, 12);
    const e2 = await b.evaluate(inputIds, labels, 3, 12);
    assert.equal(e1.lossSum, e2.lossSum);
    assert.deepEqual(b.rngState(), rng);
    await a.optimizerStep(1e-2);
    await b.optimizerStep(1e-2);
    assert.deepEqual(a.loraTensors(), b.loraTensors());
    a.dispose();
    b.dispose();
  });

  it("bad inputs are JS errors naming the field or tensor", async () => {
    const t = createNativeTrainer(options());
    const { inputIds, labels } = randomBatch(cfg, 2, 6, 61);
    const bad = inputIds.slice();
    bad[4] = cfg.vocabSize;
    await assert.rejects(t.forwardBackward(bad, labels, 2, 6, 1), /inputIds\[4\] = 64 is outside the vocabulary/);
    const badLabels = labels.slice();
    badLabels[5] = -1;
    await assert.rejects(t.evaluate(inputIds, badLabels, 2, 6), /labels\[5\] = -1/);
    assert.throws(
      () => t.forwardBackward(inputIds, labels, 2, 7, 1),
      /inputIds has 12 elements \(expected batch × seqLen = 14\)/,
    );
    assert.throws(
      () => t.evaluate(inputIds, new Float32Array(12) as unknown as Int32Array, 2, 6),
      /labels must be an Int32Array/,
    );
    await assert.rejects(
      t.forwardBackward(new Int32Array(4 * 6), new Int32Array(4 * 6).fill(-100), 4, 6, 1),
      /batch 4 is outside 1..3 \(maxBatch\)/,
    );
    const lora = t.loraTensors();
    assert.throws(
      () => t.setLoraTensors(lora.slice(1)),
      /missing tensor base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight/,
    );
    assert.throws(
      () => t.setLoraTensors([...lora.slice(1), { ...lora[0], data: new Float32Array(3) }]),
      /lora_A\.weight\.data has 3 values/,
    );
    t.dispose();
    assert.throws(() => t.loraTensors(), /disposed/);

    const missing = engineWeights(cfg, f32);
    delete missing["model.layers.1.mlp.up_proj.weight"];
    assert.throws(
      () => createNativeTrainer(options({ weights: missing })),
      /missing tensor model\.layers\.1\.mlp\.up_proj\.weight/,
    );
    const wrong = engineWeights(cfg, f32);
    wrong["model.layers.0.self_attn.k_proj.weight"] = {
      ...wrong["model.layers.0.self_attn.k_proj.weight"],
      shape: [32, 32],
    };
    assert.throws(
      () => createNativeTrainer(options({ weights: wrong })),
      /k_proj\.weight'\]\.shape is \[32, 32\] \(expected \[16, 32\]\)/,
    );
    assert.throws(
      () => createNativeTrainer(options({ lora: { rank: 4, alpha: 8, dropout: 0, targetModules: ["qkv"] } })),
      /lora\.targetModules\[0\] = 'qkv'/,
    );
    assert.throws(() => createNativeTrainer(options({ maxBatch: 0 })), /maxBatch/);
  });

  it("the module names come from the native shared header and match the options' list; PEFT names are built in TypeScript", () => {
    assert.deepEqual([...loadAddon().Trainer.moduleNames], [...LORA_TARGET_MODULES]);
    assert.equal(peftLoraName(3, "down_proj", true), "base_model.model.model.layers.3.mlp.down_proj.lora_B.weight");
    assert.equal(peftLoraName(0, "k_proj", false), "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight");
    const t = createNativeTrainer(
      options({ lora: { rank: 2, alpha: 4, dropout: 0, targetModules: ["v_proj", "up_proj"] } }),
    );
    assert.deepEqual(
      t.loraTensors().map((x) => `${x.name} ${x.shape.join("x")}`),
      [0, 1].flatMap((l) => [
        `${peftLoraName(l, "v_proj", false)} 2x32`,
        `${peftLoraName(l, "v_proj", true)} 16x2`,
        `${peftLoraName(l, "up_proj", false)} 2x32`,
        `${peftLoraName(l, "up_proj", true)} 48x2`,
      ]),
    );
    t.dispose();
  });

  it("errors carry codes: bad config / batch SF_ERR_INVALID_ARGUMENT, disposed, busy, CUDA-less build SF_ERR_UNSUPPORTED", async () => {
    const code = (code: string, re: RegExp) => (e: Error & { code?: string }) => e.code === code && re.test(e.message);
    assert.throws(
      () => createNativeTrainer(options({ maxBatch: 0 })),
      code("SF_ERR_INVALID_ARGUMENT", /maxBatch and maxSeqLen must be > 0/),
    );
    assert.throws(
      () => createNativeTrainer(options({ lora: { rank: 4, alpha: 8, dropout: 1.5 } })),
      code("SF_ERR_INVALID_ARGUMENT", /lora\.dropout must be in \[0, 1\)/),
    );
    assert.throws(
      () => createNativeTrainer(options({ config: { ...cfg, numKvHeads: 3 } })),
      code("SF_ERR_INVALID_ARGUMENT", /numHeads must be a positive multiple of config\.numKvHeads/),
    );
    const t = createNativeTrainer(options());
    const { inputIds, labels } = randomBatch(cfg, 2, 6, 61);
    const long = randomBatch(cfg, 2, 13, 62);
    await assert.rejects(
      t.evaluate(long.inputIds, long.labels, 2, 13),
      code("SF_ERR_INVALID_ARGUMENT", /seqLen 13 is outside 1\.\.12 \(maxSeqLen\)/),
    );
    const pending = t.evaluate(inputIds, labels, 2, 6);
    assert.throws(() => t.loraTensors(), code("SF_ERR_BUSY", /another call is still running/));
    await pending;
    t.dispose();
    assert.throws(() => t.memory(), code("SF_ERR_DISPOSED", /disposed/));
    const addon = loadAddon();
    if (!addon.buildInfo().cuda) {
      // past the TypeScript guard, straight to the binding: the core refuses the device
      const w = engineWeights(cfg, f32);
      const layers = Array.from({ length: cfg.numLayers }, (_, l) =>
        [
          "self_attn.q_proj.weight",
          "self_attn.k_proj.weight",
          "self_attn.v_proj.weight",
          "self_attn.o_proj.weight",
          "mlp.gate_proj.weight",
          "mlp.up_proj.weight",
          "mlp.down_proj.weight",
          "self_attn.q_proj.bias",
          "self_attn.k_proj.bias",
          "self_attn.v_proj.bias",
          "input_layernorm.weight",
          "post_attention_layernorm.weight",
        ].map((n) => {
          const x = w[`model.layers.${l}.${n}`];
          return { data: x.data, dtype: 0 };
        }),
      );
      const tensor = (n: string) => ({ data: w[n].data, dtype: 0 });
      assert.throws(
        () =>
          new addon.Trainer(
            { ...cfg, headDim: 0 },
            {
              embedTokens: tensor("model.embed_tokens.weight"),
              norm: tensor("model.norm.weight"),
              lmHead: tensor("lm_head.weight"),
              layers,
            },
            { loraRank: 4, loraAlpha: 8, maxBatch: 1, maxSeq: 8, device: 1 },
          ),
        code("SF_ERR_UNSUPPORTED", /this build has no CUDA engine/),
      );
      // and a weight whose bytes do not fit the config is named by the core
      layers[1][4] = { data: w["model.layers.1.mlp.gate_proj.weight"].data.subarray(4), dtype: 0 };
      assert.throws(
        () =>
          new addon.Trainer(
            { ...cfg, headDim: 0 },
            {
              embedTokens: tensor("model.embed_tokens.weight"),
              norm: tensor("model.norm.weight"),
              lmHead: tensor("lm_head.weight"),
              layers,
            },
            { loraRank: 4, loraAlpha: 8, maxBatch: 1, maxSeq: 8 },
          ),
        code("SF_ERR_INVALID_ARGUMENT", /layer 1 gate_proj\.weight has 6140 bytes \(expected 6144 for \[48, 32\]\)/),
      );
    }
  });

  it(
    "device 'cuda' in a build without the CUDA engine is a clear error",
    { skip: loadAddon<{ buildInfo(): { cuda: boolean } }>().buildInfo().cuda ? "this addon has CUDA" : false },
    () => {
      assert.throws(
        () => createNativeTrainer(options({ device: "cuda" })),
        /device 'cuda' is not available in this build .*SQLFOCUS_CUDA=on/,
      );
    },
  );

  it("optimizerStep rejects non-finite gradients without updating", async () => {
    const poisoned = new Map(f32);
    const emb = f32.get("model.embed_tokens.weight")!.slice();
    emb.fill(NaN, 0, cfg.hiddenSize); // token 0's embedding
    poisoned.set("model.embed_tokens.weight", emb);
    const t = createNativeTrainer(options({ weights: engineWeights(cfg, poisoned) }));
    randomizeLora(t);
    const before = t.loraTensors();
    const ids = new Int32Array([0, 1, 2, 3, 4, 5]);
    const r = await t.forwardBackward(ids, ids, 1, 6, 1);
    assert.ok(Number.isNaN(r.lossSum));
    await assert.rejects(
      t.optimizerStep(1e-2),
      (e: Error & { code?: string }) =>
        e.code === "SF_ERR_NONFINITE_GRADIENTS" && /gradients are not finite/.test(e.message),
    );
    assert.deepEqual(t.loraTensors(), before);
    assert.equal(t.optimizerState().step, 0);
    t.dispose();
  });

  it("recompute gives the same loss and gradients; memory() reports the buffers", async () => {
    const { inputIds, labels } = randomBatch(cfg, 3, 12, 71);
    const out = [];
    for (const recompute of [false, true]) {
      const t = createNativeTrainer(options({ recompute, lora: { rank: 4, alpha: 8, dropout: 0.1 } }));
      randomizeLora(t, 4);
      const r = await t.forwardBackward(inputIds, labels, 3, 12, 0.02);
      const s = await t.optimizerStep(1e-2);
      out.push({ r, s, lora: t.loraTensors(), mem: t.memory() });
      t.dispose();
    }
    assert.equal(out[0].r.lossSum, out[1].r.lossSum);
    assert.equal(out[0].s.gradNorm, out[1].s.gradNorm);
    assert.deepEqual(out[0].lora, out[1].lora);
    assert.ok(out[1].mem.activationsBytes < out[0].mem.activationsBytes);
    const nLora = out[0].lora.reduce((s, x) => s + x.data.length, 0);
    assert.equal(out[0].mem.optimizerBytes, nLora * 8);
    assert.ok(out[0].mem.weightsBytes >= cfg.vocabSize * cfg.hiddenSize * 4 * 2);
  });
});
