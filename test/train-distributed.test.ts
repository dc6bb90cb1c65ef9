// Data-parallel training for real: `mpirun --oversubscribe -np 2 sqlfocus finetune` (1 thread per rank) against one
// process with the same global batch, a rank killed with SIGKILL mid-run, and resuming under the same and under a
// different world size. Needs Open MPI's mpirun (.ci/run installs it); skipped where it is missing.
// Tolerance: losses, eval losses and grad norms within 1e-5 absolute, adapter values within 1e-5 absolute (the ranks
// sum their gradients in another order than one process does; measured differences are ~1e-8 and ~1e-7).
import assert from "node:assert/strict";
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { initTinyModel } from "../src/model/index.js";
import { loadAddon } from "../src/native/index.js";
import { readAdapter } from "../src/train/index.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "sqlfocus-ddp-"));
after(() => rmSync(root, { recursive: true, force: true }));
const model = join(root, "tiny");
const trainFile = join(root, "train.jsonl");
const evalFile = join(root, "eval.jsonl");
const TOL = 1e-5;

// Open MPI refuses to run as root unless told; harmless otherwise.
const mpiEnv = {
  ...process.env,
  OMPI_ALLOW_RUN_AS_ROOT: "1",
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1",
  OMPI_MCA_rmaps_base_oversubscribe: "1",
};

function mpiMissing(): string | false {
  const r = spawnSync("mpirun", ["--version"], { encoding: "utf8" });
  if (r.status !== 0) return "mpirun (Open MPI) is not installed";
  try {
    const addon = loadAddon() as { mpiProbe?: () => { available: boolean; error: string }; Trainer?: unknown };
    if (typeof addon.Trainer !== "function") return "the addon has no Trainer";
    if (typeof addon.mpiProbe !== "function") return "the addon predates data-parallel training";
    const p = addon.mpiProbe();
    return p.available ? false : p.error;
  } catch (err) {
    return `the addon does not load: ${(err as Error).message}`;
  }
}
const skip = mpiMissing();
function addonMissing(): string | false {
  try {
    return typeof (loadAddon() as { mpiProbe?: unknown }).mpiProbe === "function"
      ? false
      : "the addon predates data-parallel training";
  } catch (err) {
    return `the addon does not load: ${(err as Error).message}`;
  }
}

before(async () => {
  // F32 weights: F32 compute everywhere. (BF16 weights run BF16 compute on AVX-512 BF16 CPUs, where rounding the
  // activations turns the ranks' different order of summing gradients into differences above TOL.)
  await initTinyModel(model, { seed: 3, hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, dtype: "f32" });
  // 13 examples of different lengths: the last global window of each epoch is partial, micro-batches are padded
  const rows = [];
  for (let i = 0; i < 13; i++)
    rows.push({
      instruction: `Write SQL that counts the rows of table t${i}${" where x > 1".repeat(i % 4)}.`,
      output: `SELECT count(*) FROM t${i}`,
    });
  writeFileSync(trainFile, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  writeFileSync(
    evalFile,
    rows
      .slice(0, 5)
      .map((r) => JSON.stringify(r))
      .join("\n") + "\n",
  );
});

interface RunSpec {
  out: string;
  bs: number;
  ga: number;
  steps: number;
  resume?: string;
}
function finetuneArgs(s: RunSpec): string[] {
  return [
    "--import",
    "tsx",
    "src/cli/main.ts",
    "finetune",
    "--model_name",
    model,
    "--train_file",
    trainFile,
    "--eval_file",
    evalFile,
    "--output_dir",
    join(s.out, "output"),
    "--save_model_dir",
    join(s.out, "save-model"),
    "--per_device_train_batch_size",
    String(s.bs),
    "--gradient_accumulation_steps",
    String(s.ga),
    "--max_steps",
    String(s.steps),
    "--logging_steps",
    "1",
    "--save_steps",
    "4",
    "--eval_steps",
    "4",
    "--learning_rate",
    "3e-3",
    "--seed",
    "11",
    "--lora_rank",
    "4",
    "--lora_alpha",
    "8",
    "--lora_dropout",
    "0.1",
    "--threads",
    "1",
    "--no-progress",
    ...(s.resume ? ["--resume_from_checkpoint", s.resume] : []),
  ];
}
function runOne(s: RunSpec): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, finetuneArgs(s), { cwd: repo, encoding: "utf8", timeout: 240_000 });
}
function runRanks(np: number, s: RunSpec): SpawnSyncReturns<string> {
  return spawnSync("mpirun", ["--oversubscribe", "-np", String(np), process.execPath, ...finetuneArgs(s)], {
    cwd: repo,
    encoding: "utf8",
    env: mpiEnv,
    timeout: 240_000,
  });
}

type Entry = Record<string, number | null>;
function history(out: string, step: number): Entry[] {
  return JSON.parse(
    readFileSync(join(out, "output", `checkpoint-${step}`, "trainer_state.json"), "utf8"),
  ).log_history.filter((e: Entry) => e.loss !== undefined || e.eval_loss !== undefined);
}
/** Max abs differences between two runs' log histories (loss, eval_loss, grad_norm, learning_rate) and adapters. */
function compare(a: string, b: string, step: number): { loss: number; adapter: number; entries: number } {
  const ha = history(a, step);
  const hb = history(b, step);
  assert.equal(ha.length, hb.length, "same number of log entries");
  let loss = 0;
  for (let i = 0; i < ha.length; i++) {
    assert.equal(ha[i].step, hb[i].step, `entry ${i}: same step`);
    for (const k of ["loss", "eval_loss", "grad_norm", "learning_rate"]) {
      assert.equal(typeof ha[i][k], typeof hb[i][k], `entry ${i}: ${k} in both`);
      if (typeof ha[i][k] === "number") loss = Math.max(loss, Math.abs((ha[i][k] as number) - (hb[i][k] as number)));
    }
  }
  const A = readAdapter(join(a, "save-model"));
  const B = readAdapter(join(b, "save-model"));
  const byName = new Map(B.tensors.map((t) => [t.name, t]));
  let adapter = 0;
  for (const t of A.tensors) {
    const u = byName.get(t.name);
    assert.ok(u, `${t.name} in both adapters`);
    for (let i = 0; i < t.data.length; i++) adapter = Math.max(adapter, Math.abs(t.data[i] - u.data[i]));
  }
  return { loss, adapter, entries: ha.length };
}

test(
  "2 ranks × (batch 2, accumulation 2) = 1 process × (batch 2, accumulation 4): same losses and adapter",
  { skip, timeout: 600_000 },
  () => {
    const one = join(root, "one");
    const r1 = runOne({ out: one, bs: 2, ga: 4, steps: 8 });
    assert.equal(r1.status, 0, r1.stderr);
    const two = join(root, "two");
    const r2 = runRanks(2, { out: two, bs: 2, ga: 2, steps: 8 });
    assert.equal(r2.status, 0, r2.stderr + r2.stdout);
    const d = compare(one, two, 8);
    assert.ok(d.entries >= 10, `${d.entries} log entries`);
    assert.ok(d.loss <= TOL, `losses differ by ${d.loss}`);
    assert.ok(d.adapter <= TOL, `adapters differ by ${d.adapter}`);
    // rank 0 alone speaks and writes: one summary, one run folder
    assert.equal(r2.stdout.match(/^finished at step 8\/8/gm)?.length, 1, r2.stdout);
    assert.equal(readdirSync(join(two, "output", "runs")).length, 1);
    const steps = readFileSync(
      join(two, "output", "runs", readdirSync(join(two, "output", "runs"))[0], "metrics.jsonl"),
      "utf8",
    );
    assert.match(steps, /"allreduce_ms"/);
  },
);

test(
  "a rank killed with SIGKILL stops the job promptly; the job resumes and ends as if never stopped",
  { skip, timeout: 600_000 },
  async () => {
    const straight = join(root, "straight");
    const rs = runRanks(2, { out: straight, bs: 2, ga: 2, steps: 24 });
    assert.equal(rs.status, 0, rs.stderr);

    const killed = join(root, "killed");
    const child = spawn(
      "mpirun",
      ["--oversubscribe", "-np", "2", process.execPath, ...finetuneArgs({ out: killed, bs: 2, ga: 2, steps: 24 })],
      {
        cwd: repo,
        env: mpiEnv,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const exited = new Promise<{ code: number | null; signal: string | null }>((res) =>
      child.on("exit", (code, signal) => res({ code, signal })),
    );
    const deadline = Date.now() + 180_000;
    while (!existsSync(join(killed, "output", "checkpoint-4", "sqlfocus_state.json")) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(join(killed, "output", "checkpoint-4")), "the run reached checkpoint-4");
    // the two ranks: mpirun's children, told apart by OMPI_COMM_WORLD_RANK in their environment
    const kids = spawnSync("pgrep", ["-P", String(child.pid)], { encoding: "utf8" })
      .stdout.trim()
      .split(/\s+/)
      .map(Number)
      .filter(Boolean);
    const rankOf = (pid: number) =>
      /(?:^|\0)OMPI_COMM_WORLD_RANK=(\d+)\0/.exec(readFileSync(`/proc/${pid}/environ`, "latin1"))?.[1];
    const rank1 = kids.find((p) => rankOf(p) === "1");
    const rank0 = kids.find((p) => rankOf(p) === "0");
    assert.ok(rank1 && rank0, `ranks among mpirun's children ${kids}`);
    const t0 = Date.now();
    process.kill(rank1, "SIGKILL");
    const { code, signal } = await exited;
    const seconds = (Date.now() - t0) / 1000;
    assert.ok(code !== 0 || signal !== null, "the job fails");
    assert.ok(seconds < 20, `mpirun ended ${seconds} s after the kill`);
    const gone = Date.now() + 10_000;
    while (
      existsSync(`/proc/${rank0}`) &&
      !/\) [ZX] /.test(readFileSync(`/proc/${rank0}/stat`, "latin1")) &&
      Date.now() < gone
    )
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      !existsSync(`/proc/${rank0}`) || /\) [ZX] /.test(readFileSync(`/proc/${rank0}/stat`, "latin1")),
      "rank 0 ended too",
    );
    assert.match(output, /rank 1 \(pid \d+ on .*\) died|exited on signal 9/, output);
    assert.ok(!existsSync(join(killed, "output", "checkpoint-24")), "the killed job did not finish");

    const rr = runRanks(2, { out: killed, bs: 2, ga: 2, steps: 24, resume: "true" });
    assert.equal(rr.status, 0, rr.stderr);
    const d = compare(straight, killed, 24);
    assert.ok(d.loss <= TOL && d.adapter <= TOL, `resumed run differs: losses ${d.loss}, adapter ${d.adapter}`);
  },
);

test(
  "a 2-rank checkpoint resumes in 1 process with the same global batch; another global batch is refused",
  { skip, timeout: 600_000 },
  () => {
    const straight = join(root, "straight");
    assert.ok(existsSync(join(straight, "output", "checkpoint-12")), "the previous test's straight run");
    const moved = join(root, "moved");
    const r = runOne({ out: moved, bs: 2, ga: 4, steps: 24, resume: join(straight, "output", "checkpoint-12") });
    assert.equal(r.status, 0, r.stderr);
    const d = compare(straight, moved, 24);
    assert.ok(
      d.loss <= TOL && d.adapter <= TOL,
      `1-process continuation differs: losses ${d.loss}, adapter ${d.adapter}`,
    );

    // same global batch with another per-device batch: continues from the same example (dropout masks differ)
    const wider = join(root, "wider");
    cpSync(join(straight, "output", "checkpoint-12"), join(wider, "output", "checkpoint-12"), { recursive: true });
    const rw = runOne({ out: wider, bs: 4, ga: 2, steps: 24, resume: "true" });
    assert.equal(rw.status, 0, rw.stderr);
    assert.equal(history(wider, 24).filter((e) => e.loss !== undefined).length, 24);

    const bad = runOne({
      out: join(root, "bad"),
      bs: 2,
      ga: 2,
      steps: 24,
      resume: join(straight, "output", "checkpoint-12"),
    });
    assert.notEqual(bad.status, 0);
    assert.match(
      bad.stderr,
      /global batch \(per_device_train_batch_size × gradient_accumulation_steps × world size\) 2 × 2 × 2 = 8 → 2 × 2 × 1 = 4/,
    );
  },
);

test(
  "a multi-rank launch without a usable libmpi says so before any work",
  { skip: addonMissing(), timeout: 120_000 },
  () => {
    const out = join(root, "nompi");
    const r = spawnSync(process.execPath, finetuneArgs({ out, bs: 2, ga: 2, steps: 2 }), {
      cwd: repo,
      encoding: "utf8",
      env: {
        ...process.env,
        OMPI_COMM_WORLD_SIZE: "2",
        OMPI_COMM_WORLD_RANK: "0",
        OMPI_COMM_WORLD_LOCAL_RANK: "0",
        SQLFOCUS_MPI_LIBRARY: join(root, "no-such", "libmpi.so.40"),
      },
      timeout: 120_000,
    });
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /launched as rank 0 of 2 by mpirun \(OMPI_COMM_WORLD_SIZE=2, OMPI_COMM_WORLD_RANK=0\), but Open MPI's libmpi could not be loaded/,
    );
    assert.match(r.stderr, /SQLFOCUS_MPI_LIBRARY/);
    assert.ok(!existsSync(join(out, "output", "checkpoint-2")));
  },
);

test(
  "SIGUSR2 to mpirun: every rank stops after the same step and rank 0 saves a checkpoint",
  { skip, timeout: 600_000 },
  async () => {
    const out = join(root, "usr2");
    const child = spawn(
      "mpirun",
      ["--oversubscribe", "-np", "2", process.execPath, ...finetuneArgs({ out, bs: 2, ga: 2, steps: 400 })],
      {
        cwd: repo,
        env: mpiEnv,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
    const deadline = Date.now() + 180_000;
    while (!existsSync(join(out, "output", "checkpoint-4", "sqlfocus_state.json")) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGUSR2");
    const code = await exited;
    assert.equal(code, 130, output);
    const saved = readdirSync(join(out, "output"))
      .filter((n) => /^checkpoint-\d+$/.test(n))
      .map((n) => Number(n.slice(11)))
      .sort((a, b) => a - b);
    const last = saved[saved.length - 1];
    assert.ok(last > 4 && last < 400, `checkpoints ${saved}`);
    const state = JSON.parse(readFileSync(join(out, "output", `checkpoint-${last}`, "sqlfocus_state.json"), "utf8"));
    assert.equal(state.globalStep, last);
    assert.equal(state.data.worldSize, 2);
    assert.match(output, new RegExp(`stopped at step ${last}/400`));
    assert.ok(!existsSync(join(out, "save-model")), "no final adapter after a stop");
  },
);
