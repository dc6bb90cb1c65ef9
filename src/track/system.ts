// Environment snapshot (system.json) and the background system sampler (system.jsonl) of a run folder.
import { execFile, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { appendJsonLine } from "./files.js";

export interface GpuSample {
  index: number;
  name: string;
  utilization_percent: number | null;
  memory_used_mb: number | null;
  memory_total_mb: number | null;
  temperature_c: number | null;
  power_w: number | null;
}

export interface SystemSample {
  time: string;
  /** Whole-machine CPU use since the previous sample, 0-100. */
  cpu_percent: number;
  /** This process's CPU use since the previous sample, in % of one core (can exceed 100). */
  process_cpu_percent: number;
  ram_used_mb: number;
  ram_total_mb: number;
  process_rss_mb: number;
  process_heap_mb: number;
  gpus?: GpuSample[];
}

export interface SystemSnapshot {
  time: string;
  hostname: string;
  platform: string;
  release: string;
  arch: string;
  cpu: { model: string; cores: number };
  ram_total_mb: number;
  node: string;
  versions: Record<string, string>;
  sqlfocus: string | null;
  git: { commit: string; dirty: boolean } | null;
  command: string[];
  cwd: string;
  pid: number;
  gpus: GpuSample[];
}

const MB = 2 ** 20;
function readPackageVersion(dir: string): string | null {
  try {
    return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

/** The sqlfocus package folder: src/track in development, dist/src/track when built. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      if ((JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string }).name === "sqlfocus")
        return dir;
    } catch {
      // keep walking up
    }
    dir = dirname(dir);
  }
  return process.cwd();
}

/** The git commit of `cwd` (null outside a repository or without git). */
export function gitCommit(cwd: string): { commit: string; dirty: boolean } | null {
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd, encoding: "utf8", timeout: 5000 });
  if (head.status !== 0 || !head.stdout) return null;
  const st = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], {
    cwd,
    encoding: "utf8",
    timeout: 5000,
  });
  return { commit: head.stdout.trim(), dirty: st.status === 0 ? st.stdout.trim().length > 0 : false };
}

const GPU_QUERY = "index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw";

/** Parses `nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(csv: string): GpuSample[] {
  const num = (s: string | undefined) => {
    const v = Number((s ?? "").trim());
    return s === undefined || (s ?? "").trim() === "" || !Number.isFinite(v) ? null : v;
  };
  return csv
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => {
      const f = l.split(",").map((x) => x.trim());
      return {
        index: num(f[0]) ?? 0,
        name: f[1] ?? "",
        utilization_percent: num(f[2]),
        memory_used_mb: num(f[3]),
        memory_total_mb: num(f[4]),
        temperature_c: num(f[5]),
        power_w: num(f[6]),
      };
    });
}

/** GPUs through nvidia-smi (NVML's command-line face); [] when there is no NVIDIA driver. */
export function queryGpus(): Promise<GpuSample[]> {
  return new Promise((resolve) => {
    execFile(
      "nvidia-smi",
      [`--query-gpu=${GPU_QUERY}`, "--format=csv,noheader,nounits"],
      { timeout: 5000 },
      (err, stdout) => {
        resolve(err ? [] : parseNvidiaSmi(stdout));
      },
    );
  });
}

let gpuChecked: boolean | null = null;
function hasNvidiaSmi(): boolean {
  if (gpuChecked === null) gpuChecked = spawnSync("nvidia-smi", ["-L"], { timeout: 5000 }).status === 0;
  return gpuChecked;
}

/** The environment snapshot written to system.json. */
export async function systemSnapshot(): Promise<SystemSnapshot> {
  const cpus = os.cpus();
  const root = packageRoot();
  const versions: Record<string, string> = { ...(process.versions as Record<string, string>) };
  // found by module resolution from this package, wherever npm installed them (hoisted or nested)
  const require = createRequire(import.meta.url);
  for (const dep of [
    "node-llama-cpp",
    "fastify",
    "@huggingface/tokenizers",
    "@huggingface/jinja",
    "@huggingface/transformers",
  ]) {
    let dir: string;
    try {
      dir = dirname(require.resolve(dep));
    } catch {
      continue; // not installed (@huggingface/transformers is an optional peer)
    }
    for (;;) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
        if (pkg.name === dep) {
          if (pkg.version) versions[dep] = pkg.version;
          break;
        }
      } catch {
        /* no package.json here: keep going up */
      }
      if (dirname(dir) === dir) break;
      dir = dirname(dir);
    }
  }
  return {
    time: new Date().toISOString(),
    hostname: os.hostname(),
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    cpu: { model: cpus[0]?.model ?? "unknown", cores: cpus.length },
    ram_total_mb: Math.round(os.totalmem() / MB),
    node: process.version,
    versions,
    sqlfocus: readPackageVersion(root),
    git: gitCommit(process.cwd()) ?? (root !== process.cwd() ? gitCommit(root) : null),
    command: process.argv.slice(),
    cwd: process.cwd(),
    pid: process.pid,
    gpus: hasNvidiaSmi() ? await queryGpus() : [],
  };
}

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  return { idle, total };
}

/** Samples CPU, RAM, process memory and GPUs every `intervalMs` into `path` (JSONL), on an unref'd timer. */
export class SystemSampler {
  private timer: NodeJS.Timeout | null = null;
  private lastCpu = cpuTimes();
  private lastProc = process.cpuUsage();
  private lastAt = performance.now();
  private pending: Promise<void> = Promise.resolve();
  private readonly gpu: boolean;

  constructor(
    readonly path: string,
    readonly intervalMs: number,
    options: { gpu?: boolean } = {},
  ) {
    this.gpu = options.gpu ?? hasNvidiaSmi();
  }

  start(): void {
    if (this.timer || this.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Takes one sample now and appends it (samples are written in order). */
  sample(): Promise<void> {
    const next = this.pending.then(async () => {
      const s = await this.measure();
      appendJsonLine(this.path, s);
    });
    this.pending = next.catch(() => {});
    return next;
  }

  async measure(): Promise<SystemSample> {
    const cpu = cpuTimes();
    const proc = process.cpuUsage();
    const now = performance.now();
    const dTotal = cpu.total - this.lastCpu.total;
    const dIdle = cpu.idle - this.lastCpu.idle;
    const dWallUs = (now - this.lastAt) * 1000;
    const dProcUs = proc.user - this.lastProc.user + (proc.system - this.lastProc.system);
    this.lastCpu = cpu;
    this.lastProc = proc;
    this.lastAt = now;
    const mem = process.memoryUsage();
    const s: SystemSample = {
      time: new Date().toISOString(),
      cpu_percent: dTotal > 0 ? round2((100 * (dTotal - dIdle)) / dTotal) : 0,
      process_cpu_percent: dWallUs > 0 ? round2((100 * dProcUs) / dWallUs) : 0,
      ram_used_mb: Math.round((os.totalmem() - os.freemem()) / MB),
      ram_total_mb: Math.round(os.totalmem() / MB),
      process_rss_mb: round2(mem.rss / MB),
      process_heap_mb: round2(mem.heapUsed / MB),
    };
    if (this.gpu) s.gpus = await queryGpus();
    return s;
  }

  /** Stops the timer and waits for a sample in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pending;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
