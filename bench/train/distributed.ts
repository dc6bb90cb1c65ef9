// Data-parallel step time on the CPU: 1 rank × 2 threads against 2 ranks × 1 thread (mpirun) on the same machine,
// same global batch, with the all-reduce's time and bytes per step. Config: bench/train/cpu.ts's baseline (hidden 256,
// 4 layers, 4/2 heads, intermediate 768, vocabulary 151,936, BF16 base), global batch 4 × 256 (loss on the second
// half), LoRA r16 / alpha 32 / dropout 0.05 on all seven projections, AdamW.
// Usage: npx tsx bench/train/distributed.ts [--steps 8] [--rounds 2]      (runs both layouts, alternating, and the ratio)
//        mpirun -np 2 node --import tsx bench/train/distributed.ts --worker --threads 1    (one layout)
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { openDataParallel, detectLaunch } from "../../src/distributed/index.js";
import { createNativeTrainer, type EngineModelConfig } from "../../src/train/native.js";
import { engineWeights, seededRandom } from "../../test/parity/tiny-model.js";
import { randomWeights } from "./random-weights.js";

const argv = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const num = (name: string, def: number) => Number(arg(name, String(def)));
const H = 256,
  L = 4,
  NH = 4,
  KV = 2,
  I = 768,
  V = 151936,
  GLOBAL_B = 4,
  T = 256;
const steps = num("steps", 8),
  threads = num("threads", 2),
  rounds = num("rounds", 2);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function worker() {
  const launch = detectLaunch();
  const dist = openDataParallel({ device: "cpu", launch });
  const W = dist.size;
  if (GLOBAL_B % W !== 0) throw new Error(`world size ${W} does not divide the global batch ${GLOBAL_B}`);
  const B = GLOBAL_B / W;
  const cfg: EngineModelConfig = {
    vocabSize: V,
    hiddenSize: H,
    intermediateSize: I,
    numLayers: L,
    numHeads: NH,
    numKvHeads: KV,
    ropeTheta: 1e6,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: false,
  };
  const t = createNativeTrainer({
    config: cfg,
    weights: engineWeights(cfg, randomWeights(cfg), "BF16"),
    lora: { rank: 16, alpha: 32, dropout: 0.05 },
    maxBatch: B,
    maxSeqLen: T,
    threads,
    seed: 0,
  });
  // the same global batch in every layout; this rank's rows
  const rand = seededRandom(2);
  const all = new Int32Array(GLOBAL_B * T).map(() => Math.floor(rand() * V));
  const ids = all.slice(dist.rank * B * T, (dist.rank + 1) * B * T);
  const labels = ids.slice();
  for (let b = 0; b < B; b++) labels.fill(-100, b * T, b * T + T / 2);
  const scale = 1 / (GLOBAL_B * (T / 2));
  const rows: { step: number; fb: number; wait: number; ar: number; opt: number; bytes: number }[] = [];
  let loss = 0;
  const one = new Float64Array(1);
  for (let s = 0; s <= steps; s++) {
    const t0 = performance.now();
    const fb = await t.forwardBackward(ids, labels, B, T, scale);
    const t1 = performance.now();
    // an 8-byte all-reduce first: the time waiting for the slowest rank, apart from the gradients' own transfer
    await dist.allreduce(one);
    const tw = performance.now();
    const g = await dist.allreduceGradients(t);
    const t2 = performance.now();
    await t.optimizerStep(2e-4);
    const t3 = performance.now();
    rows.push({ step: t3 - t0, fb: t1 - t0, wait: tw - t1, ar: t2 - tw, opt: t3 - t2, bytes: g.bytes });
    loss = fb.lossSum;
  }
  const sums = new Float64Array([loss]);
  await dist.allreduce(sums);
  const timed = rows.slice(1);
  const out = {
    ranks: W,
    threads_per_rank: threads,
    step_s: +(median(timed.map((r) => r.step)) / 1000).toFixed(3),
    tokens_per_s: Math.round((GLOBAL_B * T) / (median(timed.map((r) => r.step)) / 1000)),
    forward_backward_s: +(median(timed.map((r) => r.fb)) / 1000).toFixed(3),
    wait_for_slowest_ms: +median(timed.map((r) => r.wait)).toFixed(2),
    allreduce_ms: +median(timed.map((r) => r.ar)).toFixed(2),
    allreduce_mb: +(rows[0].bytes / 2 ** 20).toFixed(2),
    optimizer_ms: +median(timed.map((r) => r.opt)).toFixed(2),
    loss: +(sums[0] / (GLOBAL_B * (T / 2))).toFixed(4),
  };
  t.dispose();
  if (dist.rank === 0) console.log(JSON.stringify(out));
}

function layout(ranks: number, th: number): Record<string, unknown> {
  const self = [
    "--import",
    "tsx",
    "bench/train/distributed.ts",
    "--worker",
    "--threads",
    String(th),
    "--steps",
    String(steps),
  ];
  const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1" };
  const r =
    ranks === 1
      ? spawnSync(process.execPath, self, { encoding: "utf8", env })
      : spawnSync("mpirun", ["--oversubscribe", "-np", String(ranks), process.execPath, ...self], {
          encoding: "utf8",
          env,
        });
  if (r.status !== 0) throw new Error(`${ranks} ranks failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

if (argv.includes("--worker")) {
  await worker();
} else {
  const results: Record<string, unknown>[] = [];
  for (let k = 0; k < rounds; k++) {
    for (const [ranks, th] of [
      [1, 2],
      [2, 1],
    ]) {
      const r = { ...layout(ranks, th), load_average: loadavg().map((x) => +x.toFixed(2)) };
      console.log(JSON.stringify(r));
      results.push(r);
    }
  }
  const best = (ranks: number) => Math.min(...results.filter((r) => r.ranks === ranks).map((r) => r.step_s as number));
  console.log(
    `step time, best of ${rounds}: 1 rank × 2 threads ${best(1)} s, 2 ranks × 1 thread ${best(2)} s: ratio ${(best(1) / best(2)).toFixed(2)}x`,
  );
}
