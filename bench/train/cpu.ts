// Training throughput of the native engine on the CPU, side by side with the PyTorch baseline
// (../shared/bench/torch_cpu_lora.py) on the same config: hidden 256, 4 layers, 4 heads / 2 KV heads,
// intermediate 768, vocabulary 151,936, batch 4 × 256, loss on the second half of each sequence,
// LoRA r16 / alpha 32 / dropout 0.05 on all seven projections, AdamW + clipping, 2 threads.
// Usage: npx tsx bench/train/cpu.ts [--dtype bf16|f32|both] [--steps 6] [--no-torch] [--torch <path>]
//        [--torch-dtype f32|bf16] (PyTorch's base dtype; default bf16 with --dtype bf16, else f32)
//        [--hidden 256 --layers 4 --heads 4 --kv 2 --inter 768 --vocab 151936 --batch 4 --seq 256 --threads 2]
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createNativeTrainer } from "../../src/train/native.js";
import { engineWeights, seededRandom } from "../../test/parity/tiny-model.js";
import { randomWeights } from "./random-weights.js";
import type { EngineModelConfig } from "../../src/train/native.js";

const argv = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const num = (name: string, def: number) => Number(arg(name, String(def)));
const H = num("hidden", 256),
  L = num("layers", 4),
  NH = num("heads", 4),
  KV = num("kv", 2),
  I = num("inter", 768);
const V = num("vocab", 151936),
  B = num("batch", 4),
  T = num("seq", 256),
  steps = num("steps", 6),
  threads = num("threads", 2);
const dtypes = arg("dtype", "both") === "both" ? ["bf16", "f32"] : [arg("dtype", "bf16")];
const torchPath = arg("torch", join("..", "shared", "bench", "torch_cpu_lora.py"));
const torchDtype = arg("torch-dtype", dtypes.length === 1 && dtypes[0] === "bf16" ? "bf16" : "f32");

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

async function ours(dtype: string) {
  const f32 = randomWeights(cfg);
  const t = createNativeTrainer({
    config: cfg,
    weights: engineWeights(cfg, f32, dtype === "bf16" ? "BF16" : "F32"),
    lora: { rank: 16, alpha: 32, dropout: 0.05 },
    maxBatch: B,
    maxSeqLen: T,
    threads,
    seed: 0,
    recompute: argv.includes("--recompute"),
  });
  const rand = seededRandom(2);
  const ids = new Int32Array(B * T).map(() => Math.floor(rand() * V));
  const labels = ids.slice();
  for (let b = 0; b < B; b++) labels.fill(-100, b * T, b * T + T / 2);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  const parts: { fb: number; opt: number }[] = [];
  let loss = 0;
  for (let s = 0; s <= steps; s++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const fb = await t.forwardBackward(ids, labels, B, T, 1 / (B * (T / 2)));
    const opt = await t.optimizerStep(2e-4);
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1000);
    parts.push({ fb: fb.ms, opt: opt.ms });
    loss = fb.lossSum / fb.tokens;
  }
  const sorted = times.slice(1).sort((a, b) => a - b);
  const med = sorted[Math.floor(sorted.length / 2)] / 1000;
  const cpuSorted = cpuTimes.slice(1).sort((a, b) => a - b);
  const cpuMed = cpuSorted[Math.floor(cpuSorted.length / 2)] / 1000;
  const mem = t.memory();
  t.dispose();
  return {
    engine: "sqlfocus",
    dtype,
    threads,
    step_s: +med.toFixed(3),
    tokens_per_s: Math.round((B * T) / med),
    cpu_step_s: +cpuMed.toFixed(3),
    tokens_per_cpu_s: Math.round((B * T) / cpuMed),
    loss: +loss.toFixed(3),
    activations_mb: Math.round(mem.activationsBytes / 2 ** 20),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

function torch() {
  if (!existsSync(torchPath)) return { engine: "torch", skipped: `${torchPath} not found` };
  // The script times each step with two time.perf_counter() calls; the wrapper also records process CPU time at
  // each call to report CPU seconds per step (less sensitive than wall time to other load on a shared machine).
  const wrapper = [
    "import json, resource, runpy, statistics, sys, time",
    "sys.argv = sys.argv[1:]; marks = []; wall = time.perf_counter",
    "def pc():\n    marks.append(time.process_time()); return wall()",
    "time.perf_counter = pc",
    "runpy.run_path(sys.argv[0], run_name='__main__')",
    "cpu = statistics.median([marks[i + 1] - marks[i] for i in range(2, len(marks) - 1, 2)])",
    "print(json.dumps({'cpu_step_s': round(cpu, 3), 'tokens_per_cpu_s': round(int(sys.argv[sys.argv.index('--batch') + 1]) * int(sys.argv[sys.argv.index('--seq') + 1]) / cpu), 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))",
  ].join("\n");
  const args = [
    "-c",
    wrapper,
    torchPath,
    "--hidden",
    String(H),
    "--layers",
    String(L),
    "--heads",
    String(NH),
    "--kv",
    String(KV),
    "--inter",
    String(I),
    "--vocab",
    String(V),
    "--batch",
    String(B),
    "--seq",
    String(T),
    "--threads",
    String(threads),
    "--steps",
    String(steps),
    "--dtype",
    torchDtype,
  ];
  const r = spawnSync("/usr/bin/python3", args, { encoding: "utf8" });
  if (r.status !== 0) return { engine: "torch", failed: (r.stderr || "").trim().split("\n").slice(-3).join(" | ") };
  const lines = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  return { engine: "torch", ...lines[0], ...lines[1] };
}

const rows: Record<string, unknown>[] = [];
for (const d of dtypes) {
  const r = await ours(d);
  console.log(JSON.stringify(r));
  rows.push(r);
}
console.log(JSON.stringify({ load_average: (await import("node:os")).loadavg().map((x) => +x.toFixed(2)) }));
if (!argv.includes("--no-torch")) {
  const r = torch();
  console.log(JSON.stringify(r));
  if ("tokens_per_s" in r)
    for (const o of rows)
      console.log(
        `ratio sqlfocus(${o.dtype}) / torch(${torchDtype}): ${((o.tokens_per_s as number) / (r.tokens_per_s as number)).toFixed(2)}x by wall time, ` +
          `${((o.tokens_per_cpu_s as number) / (r.tokens_per_cpu_s as number)).toFixed(2)}x by CPU time`,
      );
}
