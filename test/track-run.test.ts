// Run folders (src/track): the files a run writes, resume into the same folder, metrics read back with resumed
// sessions resolved, the system sampler, and the run folder as the training loop's RunSink.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  createRun,
  JsonlTail,
  listRuns,
  parseNvidiaSmi,
  readRun,
  resolveSessions,
  type MetricRow,
} from "../src/track/index.js";
import type { RunSink } from "../src/train/finetune.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-track-run-"));
after(() => rmSync(root, { recursive: true, force: true }));

const lines = (p: string) =>
  readFileSync(p, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
const json = (p: string) => JSON.parse(readFileSync(p, "utf8"));

test("createRun writes config, system snapshot, status, metrics and system samples", async () => {
  const logdir = join(root, "a");
  const run = await createRun({
    logdir,
    name: "tiny lora/1",
    config: { learning_rate: 1e-4, lora_rank: 8 },
    systemIntervalMs: 20,
    now: () => new Date("2026-11-25T10:11:12Z"),
  });
  assert.equal(run.id, "20261125-101112-tiny-lora-1");
  assert.equal(run.dir, join(logdir, run.id));
  assert.equal(run.session, 1);
  const sink: RunSink = run; // the loop's interface
  await sink.log(1, { loss: 2.5, lr: 1e-4, grad_norm: 0.7, tokens_per_s: 1234.5 });
  await sink.log(2, { loss: Number.NaN, eval_loss: 2.1 });
  assert.deepEqual(json(join(run.dir, "config.json")), { learning_rate: 1e-4, lora_rank: 8 });
  const sys = json(join(run.dir, "system.json"));
  assert.equal(sys.pid, process.pid);
  assert.equal(sys.node, process.version);
  assert.ok(sys.cpu.cores >= 1 && sys.ram_total_mb > 0);
  assert.deepEqual(sys.command, process.argv);
  assert.match(sys.git?.commit ?? "", /^[0-9a-f]{40}$/, "git commit of the working copy");
  assert.equal(json(join(run.dir, "status.json")).status, "running");
  await new Promise((r) => setTimeout(r, 120));
  await run.finish({ status: "finished" });
  const m = lines(join(run.dir, "metrics.jsonl"));
  assert.deepEqual(m, [
    {
      step: 1,
      time: "2026-11-25T10:11:12.000Z",
      session: 1,
      loss: 2.5,
      lr: 1e-4,
      grad_norm: 0.7,
      tokens_per_s: 1234.5,
    },
    { step: 2, time: "2026-11-25T10:11:12.000Z", session: 1, loss: null, eval_loss: 2.1 },
  ]);
  const samples = lines(join(run.dir, "system.jsonl"));
  assert.ok(samples.length >= 3, `start, timer and final samples (got ${samples.length})`);
  for (const s of samples) {
    assert.ok(s.process_rss_mb > 0 && s.ram_total_mb > 0 && s.ram_used_mb > 0);
    assert.ok(s.cpu_percent >= 0 && s.cpu_percent <= 100);
  }
  const st = json(join(run.dir, "status.json"));
  assert.equal(st.status, "finished");
  assert.equal(st.last_step, 2);
  assert.equal(st.sessions.length, 1);
  assert.equal(st.sessions[0].status, "finished");
  assert.throws(() => run.log(3, { loss: 1 }), /after finish/);
  // A second run with the same name and time gets its own folder.
  const run2 = await createRun({
    logdir,
    name: "tiny lora/1",
    config: {},
    systemIntervalMs: 0,
    now: () => new Date("2026-11-25T10:11:12Z"),
  });
  assert.equal(run2.id, "20261125-101112-tiny-lora-1-2");
  await run2.finish({ status: "failed", error: "boom" });
  assert.equal(existsSync(join(run2.dir, "system.jsonl")), false, "sampler off");
  const runs = listRuns(logdir);
  assert.deepEqual(runs.map((r) => [r.id, r.status]).sort(), [
    ["20261125-101112-tiny-lora-1", "finished"],
    ["20261125-101112-tiny-lora-1-2", "failed"],
  ]);
});

test("bad metrics are refused with the run, step and field named", async () => {
  const run = await createRun({ logdir: join(root, "b"), config: {}, systemIntervalMs: 0 });
  assert.throws(() => run.log(-1, { loss: 1 }), /step must be a non-negative integer/);
  assert.throws(() => run.log(1, { step: 1 }), /"step" is reserved/);
  assert.throws(() => run.log(4, { loss: "x" as unknown as number }), /metric "loss" at step 4 is not a number/);
  await run.finish({ status: "interrupted" });
  await assert.rejects(
    createRun({ logdir: join(root, "b"), config: {}, resume: "nope" }),
    /cannot resume run nope: .*status.json does not exist/,
  );
});

test("a resumed run continues the same folder; later sessions supersede re-logged steps", async () => {
  const logdir = join(root, "c");
  const first = await createRun({ logdir, name: "r", config: { epochs: 1 }, systemIntervalMs: 0 });
  for (let s = 1; s <= 6; s++) first.log(s, { loss: 10 - s });
  await first.finish({ status: "interrupted" });
  // Checkpoint at step 4: the resumed session logs 5, 6 (same trajectory, new values here to tell them apart) and 7.
  const second = await createRun({ logdir, config: { epochs: 2 }, resume: first.id, systemIntervalMs: 0 });
  assert.equal(second.id, first.id);
  assert.equal(second.dir, first.dir);
  assert.equal(second.session, 2);
  for (let s = 5; s <= 7; s++) second.log(s, { loss: 100 + s });
  await second.finish({ status: "finished" });
  const raw = lines(join(first.dir, "metrics.jsonl"));
  assert.equal(raw.length, 9, "append-only: nothing written before is removed");
  assert.deepEqual(json(join(first.dir, "config.json")), { epochs: 1 }, "config as first written");
  const st = json(join(first.dir, "status.json"));
  assert.equal(st.status, "finished");
  assert.deepEqual(
    st.sessions.map((s: { status: string }) => s.status),
    ["interrupted", "finished"],
  );
  const sys = json(join(first.dir, "system.json"));
  assert.equal(sys.session, 2);
  assert.equal(sys.previous.length, 1);
  const data = readRun(first.dir, first.id);
  assert.deepEqual(
    data.metrics.map((r) => [r.step, r.loss]),
    [
      [1, 9],
      [2, 8],
      [3, 7],
      [4, 6],
      [5, 105],
      [6, 106],
      [7, 107],
    ],
  );
  assert.equal(data.summary.status, "finished");
});

test("resolveSessions keeps rows before the later session's first step", () => {
  const rows = [
    { step: 1, session: 1, loss: 1 },
    { step: 2, session: 1, loss: 2 },
    { step: 3, session: 1, loss: 3 },
    { step: 2, session: 2, loss: 20 },
    { step: 3, session: 2, loss: 30 },
    { step: 3, session: 3, loss: 300 },
  ] as unknown as MetricRow[];
  assert.deepEqual(
    resolveSessions(rows).map((r) => r.loss),
    [1, 20, 300],
  );
});

test("JsonlTail returns only complete new lines and names a bad line", () => {
  const p = join(root, "tail.jsonl");
  const tail = new JsonlTail(p);
  assert.deepEqual(tail.read(), []);
  appendFileSync(p, '{"a":1}\n{"a":2}\n{"a":');
  assert.deepEqual(tail.read(), [{ a: 1 }, { a: 2 }]);
  assert.deepEqual(tail.read(), []);
  appendFileSync(p, '3}\n{"a":"é"}\n');
  assert.deepEqual(tail.read(), [{ a: 3 }, { a: "é" }]);
  appendFileSync(p, "oops\n");
  assert.throws(() => tail.read(), /tail\.jsonl:5: not valid JSON/);
});

test("nvidia-smi CSV is parsed into GPU samples", () => {
  const csv =
    "0, NVIDIA H100 80GB HBM3, 87, 40321, 81559, 61, 512.34\n1, NVIDIA H100 80GB HBM3, [N/A], 3, 81559, 30, [N/A]\n";
  assert.deepEqual(parseNvidiaSmi(csv), [
    {
      index: 0,
      name: "NVIDIA H100 80GB HBM3",
      utilization_percent: 87,
      memory_used_mb: 40321,
      memory_total_mb: 81559,
      temperature_c: 61,
      power_w: 512.34,
    },
    {
      index: 1,
      name: "NVIDIA H100 80GB HBM3",
      utilization_percent: null,
      memory_used_mb: 3,
      memory_total_mb: 81559,
      temperature_c: 30,
      power_w: null,
    },
  ]);
});
