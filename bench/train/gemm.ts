// The engine's frozen-base matmuls next to PyTorch's GEMMs on the same shapes, in one run: bench/train/gemm.cpp
// (build-tests/sqlfocus_gemm_bench: every SIMD level this CPU has, BF16 weights) and bench/train/gemm_torch.py (F32
// and BF16 GEMMs, oneDNN). Prints one markdown row per shape and kernel: GFLOP/s by wall time and per CPU second.
// Usage: npx tsx bench/train/gemm.ts [--threads 2] [--reps 3] [--bench build-tests/sqlfocus_gemm_bench]
//        [--m 512 --hidden 3584 --inter 18944 --kv-dim 512 --vocab 152064] [--no-torch]
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";

const argv = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const threads = arg("threads", "2"),
  reps = arg("reps", "3"),
  m = arg("m", "512"),
  hidden = arg("hidden", "3584"),
  inter = arg("inter", "18944");
const kvDim = arg("kv-dim", "512"),
  vocab = arg("vocab", "152064");
const bench = arg("bench", join("build-tests", "sqlfocus_gemm_bench"));
if (!existsSync(bench)) {
  console.error(
    `${bench} is missing: cmake -S . -B build-tests -DSQLFOCUS_TESTS=ON && cmake --build build-tests --target sqlfocus_gemm_bench`,
  );
  process.exit(1);
}

interface Row {
  engine?: string;
  level?: string;
  dtype?: string;
  kernel: string;
  shape: string;
  M: number;
  N: number;
  K: number;
  gflops_wall: number;
  gflops_per_cpu_s: number;
}
const parse = (out: string): Row[] =>
  out
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
const load0 = loadavg().map((x) => x.toFixed(2));
const ours = spawnSync(bench, [threads, m, hidden, inter, kvDim, vocab, reps], { encoding: "utf8" });
if (ours.status !== 0) throw new Error(`${bench} failed: ${ours.stderr}`);
const rows = parse(ours.stdout);
let torch: Row[] = [];
if (!argv.includes("--no-torch")) {
  const script = join("bench", "train", "gemm_torch.py");
  const r = spawnSync(
    "/usr/bin/python3",
    [
      script,
      "--threads",
      threads,
      "--reps",
      reps,
      "--m",
      m,
      "--hidden",
      hidden,
      "--inter",
      inter,
      "--kv-dim",
      kvDim,
      "--vocab",
      vocab,
    ],
    { encoding: "utf8" },
  );
  if (r.status === 0) torch = parse(r.stdout);
  else console.error(`PyTorch skipped: ${(r.stderr || "").trim().split("\n").slice(-2).join(" | ")}`);
}
const load1 = loadavg().map((x) => x.toFixed(2));
const levels = [...new Set(rows.map((r) => r.level!))];
const key = (r: Row) => `${r.shape}|${r.kernel}`;
const cell = (r: Row | undefined) => (r ? `${r.gflops_wall.toFixed(0)} / ${r.gflops_per_cpu_s.toFixed(0)}` : "-");
console.log(
  `GFLOP/s (wall / per CPU second), ${threads} threads, load average ${load0.join(" ")} → ${load1.join(" ")}\n`,
);
console.log(
  `| shape (M×N×K) | kernel | ${levels.map((l) => `sqlfocus ${l}`).join(" | ")} | PyTorch F32 | PyTorch BF16 |`,
);
console.log(`|---|---|${levels.map(() => "---|").join("")}---|---|`);
for (const k of [...new Set(rows.map(key))]) {
  const any = rows.find((r) => key(r) === k)!;
  const ourCells = levels.map((l) => cell(rows.find((r) => key(r) === k && r.level === l)));
  const t32 = torch.find((r) => key(r) === k && r.dtype === "f32");
  const t16 = torch.find((r) => key(r) === k && r.dtype === "bf16");
  console.log(
    `| ${any.shape} (${any.M}×${any.N}×${any.K}) | ${any.kernel} | ${ourCells.join(" | ")} | ${cell(t32)} | ${cell(t16)} |`,
  );
}
