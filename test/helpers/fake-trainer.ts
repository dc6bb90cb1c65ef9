// A tiny deterministic stand-in for the native Trainer (same JS face), for testing the training loop's logic
// (accumulation, schedule, checkpoints, resume, NaN stop) in milliseconds. Its "model" is one LoRA pair whose
// entries are pulled toward targets by the label tokens; "dropout" draws from a seeded RNG whose state is saved
// and restored like the engine's. Its gradients are exact, so accumulation can be compared with one big batch.
import { join } from "node:path";
import { resolveFinetuneOptions, type FinetuneOptions, type ResolvedFinetuneOptions } from "../../src/train/index.js";
import type { CollatedBatch, LoopTrainer, TrainExample } from "../../src/train/loop.js";
import type { LoraTensor } from "../../src/model/index.js";
import type { OptimizerState } from "../../src/train/checkpoint.js";

const A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
const B = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";

export class FakeTrainer implements LoopTrainer {
  readonly rank: number;
  readonly width: number;
  a: Float32Array;
  b: Float32Array;
  ga: Float64Array;
  gb: Float64Array;
  m: Float32Array;
  v: Float32Array;
  step = 0;
  rng: number;
  /** Makes every loss NaN from now on (as a poisoned weight would). */
  poisoned = false;

  constructor(opts: {
    rank?: number;
    width?: number;
    seed?: number;
    dropout?: number;
    maxGradNorm?: number;
    beta1?: number;
    beta2?: number;
    eps?: number;
    weightDecay?: number;
  }) {
    this.rank = opts.rank ?? 2;
    this.width = opts.width ?? 8;
    this.opts = {
      dropout: opts.dropout ?? 0.1,
      maxGradNorm: opts.maxGradNorm ?? 1,
      beta1: opts.beta1 ?? 0.9,
      beta2: opts.beta2 ?? 0.999,
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0,
    };
    this.rng = (opts.seed ?? 1) >>> 0;
    this.a = new Float32Array(this.rank * this.width);
    for (let i = 0; i < this.a.length; i++) this.a[i] = ((i * 7919) % 13) / 13 - 0.5;
    this.b = new Float32Array(this.width * this.rank);
    this.ga = new Float64Array(this.a.length);
    this.gb = new Float64Array(this.b.length);
    this.m = new Float32Array(this.a.length + this.b.length);
    this.v = new Float32Array(this.a.length + this.b.length);
  }
  private opts: {
    dropout: number;
    maxGradNorm: number;
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
  };

  private rand(): number {
    this.rng = (this.rng + 0x6d2b79f5) | 0;
    let t = Math.imul(this.rng ^ (this.rng >>> 15), 1 | this.rng);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Per label token y: prediction p = Σ_r a[r, y%W]·b[y%W, r]·keep; loss = (p − target(y))² / 2. */
  private tokenLoss(y: number, keep: number, grad: boolean, scale: number): number {
    const c = y % this.width;
    const target = ((y % 5) - 2) / 2;
    let p = 0;
    for (let r = 0; r < this.rank; r++)
      p += this.a[r * this.width + c] * this.b[c * this.rank + r] * keep + 0.1 * this.a[r * this.width + c];
    if (this.poisoned) p = NaN;
    const diff = p - target;
    if (grad) {
      for (let r = 0; r < this.rank; r++) {
        this.ga[r * this.width + c] += scale * diff * (this.b[c * this.rank + r] * keep + 0.1);
        this.gb[c * this.rank + r] += scale * diff * this.a[r * this.width + c] * keep;
      }
    }
    return 0.5 * diff * diff;
  }

  private run(labels: Int32Array, batch: number, seqLen: number, train: boolean, scale: number) {
    let lossSum = 0;
    let tokens = 0;
    for (let bi = 0; bi < batch; bi++) {
      for (let t = 0; t + 1 < seqLen; t++) {
        const y = labels[bi * seqLen + t + 1];
        if (y === -100) continue;
        const keep =
          train && this.opts.dropout > 0 ? (this.rand() < this.opts.dropout ? 0 : 1 / (1 - this.opts.dropout)) : 1;
        lossSum += this.tokenLoss(y, keep, train, scale);
        tokens++;
      }
    }
    return { lossSum, tokens };
  }

  async forwardBackward(_ids: Int32Array, labels: Int32Array, batch: number, seqLen: number, lossScale: number) {
    return { ...this.run(labels, batch, seqLen, true, lossScale), ms: 0 };
  }

  async evaluate(_ids: Int32Array, labels: Int32Array, batch: number, seqLen: number) {
    return this.run(labels, batch, seqLen, false, 0);
  }

  async optimizerStep(lr: number) {
    const g = [...this.ga, ...this.gb];
    this.ga.fill(0);
    this.gb.fill(0);
    const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
    if (!Number.isFinite(norm))
      throw Object.assign(new Error("optimizerStep: gradients are not finite (NaN/inf); no update applied"), {
        code: "SF_ERR_NONFINITE_GRADIENTS",
      });
    const clip = this.opts.maxGradNorm > 0 && norm > this.opts.maxGradNorm ? this.opts.maxGradNorm / (norm + 1e-6) : 1;
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.opts;
    const params = (i: number) =>
      (i < this.a.length ? [this.a, i] : [this.b, i - this.a.length]) as [Float32Array, number];
    for (let i = 0; i < g.length; i++) {
      const gi = g[i] * clip;
      this.m[i] = beta1 * this.m[i] + (1 - beta1) * gi;
      this.v[i] = beta2 * this.v[i] + (1 - beta2) * gi * gi;
      const mh = this.m[i] / (1 - beta1 ** this.step);
      const vh = this.v[i] / (1 - beta2 ** this.step);
      const [arr, j] = params(i);
      arr[j] -= lr * (mh / (Math.sqrt(vh) + eps) + weightDecay * arr[j]);
    }
    return { gradNorm: norm, ms: 0 };
  }

  loraTensors(): LoraTensor[] {
    return [
      { name: A, shape: [this.rank, this.width], data: this.a.slice() },
      { name: B, shape: [this.width, this.rank], data: this.b.slice() },
    ];
  }
  setLoraTensors(list: LoraTensor[]): void {
    for (const t of list) (t.name === A ? this.a : this.b).set(t.data);
  }
  optimizerState(): OptimizerState {
    const n = this.a.length;
    return {
      step: this.step,
      tensors: [
        { name: A, m: this.m.slice(0, n), v: this.v.slice(0, n) },
        { name: B, m: this.m.slice(n), v: this.v.slice(n) },
      ],
    };
  }
  setOptimizerState(s: OptimizerState): void {
    this.step = s.step;
    const n = this.a.length;
    for (const t of s.tensors) {
      this.m.set(t.m, t.name === A ? 0 : n);
      this.v.set(t.v, t.name === A ? 0 : n);
    }
  }
  rngState(): unknown {
    return { state: this.rng };
  }
  setRngState(s: unknown): void {
    this.rng = (s as { state: number }).state;
  }
  memory() {
    return {
      weightsBytes: 0,
      loraBytes: (this.a.length + this.b.length) * 4,
      optimizerBytes: this.m.length * 8,
      activationsBytes: 0,
    };
  }
}

/** Right-pads examples into one batch (pad id 0, label -100). */
export function simpleCollate(examples: TrainExample[]): CollatedBatch {
  const T = Math.max(...examples.map((e) => e.inputIds.length));
  const inputIds = new Int32Array(examples.length * T);
  const labels = new Int32Array(examples.length * T).fill(-100);
  let inputTokens = 0;
  let labelTokens = 0;
  examples.forEach((e, i) => {
    inputIds.set(e.inputIds, i * T);
    labels.set(e.labels, i * T);
    inputTokens += e.inputIds.length;
    for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== -100) labelTokens++;
  });
  return { inputIds, labels, batch: examples.length, seqLen: T, inputTokens, labelTokens };
}

/** Deterministic synthetic examples of varying length; the first `prompt` tokens of each are masked. */
export function syntheticExamples(count: number, seed = 3): TrainExample[] {
  const out: TrainExample[] = [];
  let s = seed;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < count; i++) {
    const len = 4 + (next() % 9);
    const prompt = 1 + (next() % 3);
    const ids = new Int32Array(len);
    for (let t = 0; t < len; t++) ids[t] = next() % 100;
    const labels = ids.slice();
    labels.fill(-100, 0, prompt);
    out.push({ inputIds: ids, labels });
  }
  return out;
}

/**
 * The options the loop tests run the stand-in engine with (20 synthetic examples → 15 optimizer steps: batch 2 ×
 * accumulation 2, 3 epochs; a logging window of 3, a checkpoint every 4), plus any overrides.
 */
export function fakeLoopOptions(outputDir: string, over: FinetuneOptions = {}): ResolvedFinetuneOptions {
  return resolveFinetuneOptions({
    outputDir,
    saveModelDir: join(outputDir, "save-model"),
    trainFile: "synthetic.jsonl",
    modelName: "fake/model",
    loggingSteps: 3,
    saveSteps: 4,
    perDeviceTrainBatchSize: 2,
    gradientAccumulationSteps: 2,
    numTrainEpochs: 3,
    learningRate: 0.05,
    warmupSteps: 2,
    seed: 5,
    loraRank: 2,
    loraAlpha: 4,
    ...over,
  });
}

/** A stand-in engine configured from resolved options, as finetune() would build the real one. */
export function fakeTrainerFor(o: ResolvedFinetuneOptions): FakeTrainer {
  return new FakeTrainer({
    rank: o.loraRank,
    seed: o.seed,
    dropout: o.loraDropout,
    maxGradNorm: o.maxGradNorm,
    weightDecay: o.weightDecay,
  });
}
