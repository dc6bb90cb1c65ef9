// The training loop's logic with a deterministic stand-in engine (test/helpers/fake-trainer.ts): exact resume
// after a stop or from a periodic checkpoint, accumulation = one big batch, the logged loss, checkpoint files in
// PEFT/HF format, atomic saves and stale temp folders, save_total_limit, NaN stop. The real engine's versions of
// these checks are in train-engine.test.ts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  readAdapter,
  resolveFinetuneOptions,
  TrainingDivergedError,
  type FinetuneOptions,
  type StepEvent,
} from "../src/train/index.js";
import { resolveResumeCheckpoint, trainWithSetup, type FinetuneRunOptions } from "../src/train/finetune.js";
import { latestCheckpoint, listCheckpoints, loadCheckpoint } from "../src/train/checkpoint.js";
import { writeDirAtomic } from "../src/files/index.js";
import { fakeLoopOptions, fakeTrainerFor, simpleCollate, syntheticExamples } from "./helpers/fake-trainer.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-train-loop-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `out-${n++}`);

interface FakeRunOpts {
  abortAt?: number;
  poisonAfter?: number;
  examples?: number;
  evalExamples?: number;
  hooks?: FinetuneRunOptions;
}

async function fakeRun(outputDir: string, over: FinetuneOptions = {}, f: FakeRunOpts = {}) {
  const o = fakeLoopOptions(outputDir, over);
  const trainer = fakeTrainerFor(o);
  const resumeDir = resolveResumeCheckpoint(o);
  const resume = resumeDir ? loadCheckpoint(resumeDir) : null;
  const metrics: Record<string, number>[] = [];
  let finished: { status: string; error?: string } | null = null;
  const steps: StepEvent[] = [];
  const ac = new AbortController();
  const result = trainWithSetup(
    o,
    {
      progress: false,
      signal: ac.signal,
      onStep: (e) => {
        steps.push(e);
        if (e.step === f.abortAt) ac.abort();
        if (e.step === f.poisonAfter) trainer.poisoned = true;
      },
      ...f.hooks,
    },
    {
      trainer,
      train: syntheticExamples(f.examples ?? 20),
      eval: f.evalExamples ? syntheticExamples(f.evalExamples, 99) : null,
      collate: simpleCollate,
      run: {
        id: "run-1",
        dir: join(outputDir, "runs", "run-1"),
        log: (step, m) => void metrics.push({ step, ...m }),
        finish: (r) => void (finished = r),
      },
      resume,
    },
  );
  return {
    result: await result,
    steps,
    metrics,
    trainer,
    finished: finished as { status: string; error?: string } | null,
  };
}

test("stop at step 7 + resume = uninterrupted run: same per-step losses, logs, adapter bytes", async () => {
  const straightDir = freshDir();
  const straight = await fakeRun(straightDir);
  assert.equal(straight.result.status, "finished");
  assert.equal(straight.result.maxSteps, 15); // 20 examples / bs 2 = 10 micro-batches, / ga 2 = 5 steps × 3 epochs
  assert.equal(straight.steps.length, 15);

  const stopDir = freshDir();
  const first = await fakeRun(stopDir, {}, { abortAt: 7 });
  assert.equal(first.result.status, "interrupted");
  assert.equal(first.result.globalStep, 7);
  assert.equal(first.finished?.status, "interrupted");
  assert.equal(first.result.adapterDir, null);
  assert.deepEqual(
    listCheckpoints(stopDir).map((c) => c.step),
    [4, 7],
  );
  const resumed = await fakeRun(stopDir, { resumeFromCheckpoint: true });
  assert.equal(resumed.result.status, "finished");
  assert.deepEqual(
    resumed.steps.map((s) => s.step),
    [8, 9, 10, 11, 12, 13, 14, 15],
  );
  assert.deepEqual([...first.steps, ...resumed.steps], straight.steps);
  // The logging window open at the stop (steps 7..9) is carried over: the same logged losses.
  const trainLogs = (h: typeof straight.result.logHistory) =>
    h.filter((e) => "loss" in e).map((e) => [e.step, e.loss, e.learning_rate, e.grad_norm]);
  assert.deepEqual(trainLogs(resumed.result.logHistory), trainLogs(straight.result.logHistory));
  for (const f of ["adapter_model.safetensors", "adapter_config.json"]) {
    assert.deepEqual(readFileSync(join(stopDir, "save-model", f)), readFileSync(join(straightDir, "save-model", f)), f);
  }
  // Resuming a periodic checkpoint of the straight run (as after a kill) also reproduces it.
  const fromFour = await fakeRun(freshDir(), { resumeFromCheckpoint: join(straightDir, "checkpoint-4") });
  assert.deepEqual(fromFour.steps, straight.steps.slice(4));
});

test("accumulation over 4 micro-batches gives the same update as one batch of 4", async () => {
  const base = { loraDropout: 0, maxSteps: 3, loggingSteps: 1, saveSteps: 100 };
  const big = await fakeRun(freshDir(), { ...base, perDeviceTrainBatchSize: 4, gradientAccumulationSteps: 1 });
  const acc = await fakeRun(freshDir(), { ...base, perDeviceTrainBatchSize: 1, gradientAccumulationSteps: 4 });
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(big.steps[i].loss! - acc.steps[i].loss!) < 1e-12, `step ${i + 1} loss`);
    assert.ok(Math.abs(big.steps[i].gradNorm - acc.steps[i].gradNorm) < 1e-12, `step ${i + 1} grad norm`);
  }
  const [a1, b1] = big.trainer.loraTensors();
  const [a2, b2] = acc.trainer.loraTensors();
  for (const [x, y] of [
    [a1, a2],
    [b1, b2],
  ])
    for (let i = 0; i < x.data.length; i++) assert.ok(Math.abs(x.data[i] - y.data[i]) < 1e-6);
});

test("logged loss is the mean token loss over the logging window; eval before, during and after", async () => {
  const r = await fakeRun(freshDir(), { maxSteps: 7, loggingSteps: 3, evalSteps: 5 }, { evalExamples: 6 });
  const logs = r.result.logHistory.filter((e) => "loss" in e);
  assert.deepEqual(
    logs.map((e) => e.step),
    [3, 6, 7],
  );
  const windows = [[1, 2, 3], [4, 5, 6], [7]];
  windows.forEach((w, i) => {
    const sel = r.steps.filter((s) => w.includes(s.step));
    const mean = sel.reduce((a, s) => a + s.lossSum, 0) / sel.reduce((a, s) => a + s.tokens, 0);
    assert.ok(Math.abs((logs[i].loss as number) - mean) < 1e-12);
  });
  const evals = r.result.logHistory.filter((e) => "eval_loss" in e);
  assert.deepEqual(
    evals.map((e) => e.step),
    [0, 5, 7],
  );
  assert.equal(r.result.initialEvalLoss, evals[0].eval_loss);
  assert.equal(r.result.evalLoss, evals[2].eval_loss);
  const final = r.result.logHistory[r.result.logHistory.length - 1];
  assert.ok("train_loss" in final && "train_runtime" in final);
  assert.ok(
    r.metrics.some((m) => "loss" in m && "lr" in m && "grad_norm" in m && "tokens_per_s" in m && "mem_rss_mb" in m),
  );
  assert.ok(r.metrics.some((m) => "eval_loss" in m));
});

test("checkpoint files: PEFT adapter, optimizer, trainer_state.json; save_total_limit; no temp folders", async () => {
  const dir = freshDir();
  await fakeRun(dir, { saveSteps: 3, saveTotalLimit: 2 });
  assert.deepEqual(readdirSync(dir).sort(), ["checkpoint-15", "checkpoint-12", "save-model"].sort());
  const ck = join(dir, "checkpoint-15");
  assert.deepEqual(readdirSync(ck).sort(), [
    "README.md",
    "adapter_config.json",
    "adapter_model.safetensors",
    "optimizer.safetensors",
    "sqlfocus_state.json",
    "trainer_state.json",
  ]);
  const cfg = JSON.parse(readFileSync(join(ck, "adapter_config.json"), "utf8"));
  assert.equal(cfg.peft_type, "LORA");
  assert.equal(cfg.task_type, "CAUSAL_LM");
  assert.equal(cfg.base_model_name_or_path, "fake/model");
  assert.deepEqual([cfg.r, cfg.lora_alpha, cfg.lora_dropout, cfg.bias, cfg.inference_mode], [2, 4, 0.05, "none", true]);
  const ts = JSON.parse(readFileSync(join(ck, "trainer_state.json"), "utf8"));
  assert.equal(ts.global_step, 15);
  assert.equal(ts.max_steps, 15);
  assert.equal(ts.epoch, 3);
  assert.equal(ts.logging_steps, 3);
  assert.equal(ts.best_metric, null);
  assert.ok(ts.log_history.length >= 5 && ts.log_history.every((e: { step: number }) => typeof e.step === "number"));
  const adapter = readAdapter(join(dir, "save-model"));
  assert.deepEqual(
    adapter.tensors.map((t) => t.name),
    [
      "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
      "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
    ],
  );
  assert.equal(adapter.scaleFor("model.layers.0.self_attn.q_proj"), 2);
});

test("atomic saves: a failed save leaves the old folder; stale temp folders and incomplete checkpoints are ignored", async () => {
  const dir = freshDir();
  await fakeRun(dir, { maxSteps: 8 });
  const target = join(dir, "checkpoint-8");
  const before = readFileSync(join(target, "adapter_model.safetensors"));
  await assert.rejects(
    writeDirAtomic(target, () => {
      throw new Error("disk full");
    }),
    /disk full/,
  );
  assert.deepEqual(readFileSync(join(target, "adapter_model.safetensors")), before);
  assert.ok(!readdirSync(dir).some((x) => x.includes(".tmp-")));

  // A dead process's half-written save (complete-looking files, temp name) and a checkpoint missing its state.
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
  cpSync(target, join(dir, `checkpoint-99.tmp-${dead}`), { recursive: true });
  cpSync(target, join(dir, "checkpoint-50"), { recursive: true });
  rmSync(join(dir, "checkpoint-50", "sqlfocus_state.json"));
  assert.equal(latestCheckpoint(dir), target);
  const resumed = await fakeRun(dir, { maxSteps: 10, resumeFromCheckpoint: "latest" });
  assert.equal(resumed.steps[0].step, 9);
  assert.ok(!existsSync(join(dir, `checkpoint-99.tmp-${dead}`)), "stale temp folder removed");
  assert.throws(
    () =>
      resolveResumeCheckpoint(
        resolveFinetuneOptions({ outputDir: dir, resumeFromCheckpoint: join(dir, "checkpoint-50") }),
      ),
    /checkpoint-50 cannot be resumed \(.*sqlfocus_state\.json is missing/,
  );
  const empty = freshDir();
  mkdirSync(empty);
  assert.throws(
    () => resolveResumeCheckpoint(resolveFinetuneOptions({ outputDir: empty, resumeFromCheckpoint: true })),
    /no complete checkpoint/,
  );
});

test("resume refuses changed data or batch options", async () => {
  const dir = freshDir();
  await fakeRun(dir, { maxSteps: 4 });
  await assert.rejects(
    fakeRun(dir, { resumeFromCheckpoint: true }, { examples: 21 }),
    /cannot resume: the run changed.*training data/,
  );
  await assert.rejects(
    fakeRun(dir, { resumeFromCheckpoint: true, perDeviceTrainBatchSize: 4 }),
    /global batch \(per_device_train_batch_size × gradient_accumulation_steps × world size\) 2 × 2 × 1 = 4 → 4 × 2 × 1 = 8/,
  );
});

test("resume with the same global batch split otherwise (batch 2 × accumulation 2 → batch 4 × 1) continues at the same example", async () => {
  const straight = await fakeRun(freshDir(), { maxSteps: 8, saveSteps: 4, loggingSteps: 1 }, { examples: 21 });
  const dir = freshDir();
  await fakeRun(dir, { maxSteps: 8, saveSteps: 4, loggingSteps: 1 }, { examples: 21, abortAt: 5 });
  const resumed = await fakeRun(
    dir,
    {
      maxSteps: 8,
      saveSteps: 4,
      loggingSteps: 1,
      resumeFromCheckpoint: true,
      perDeviceTrainBatchSize: 4,
      gradientAccumulationSteps: 1,
    },
    { examples: 21 },
  );
  assert.equal(resumed.result.globalStep, 8);
  const losses = (r: typeof straight) =>
    r.result.logHistory.filter((e) => typeof e.loss === "number").map((e) => [e.step, e.loss as number] as const);
  const a = losses(straight);
  const b = losses(resumed);
  assert.deepEqual(
    b.map(([s]) => s),
    a.map(([s]) => s),
  );
  // the fake engine draws dropout token by token in example order, so the same examples give the same losses
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i][1] - b[i][1]) < 1e-9, `step ${a[i][0]}: ${a[i][1]} vs ${b[i][1]}`);
});

test("NaN loss stops the run with a clear message and keeps the last good checkpoint", async () => {
  const dir = freshDir();
  let err: unknown;
  try {
    await fakeRun(dir, { saveSteps: 4 }, { poisonAfter: 5 });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof TrainingDivergedError, String(err));
  assert.match(err.message, /training stopped at step 6\/15 .*the loss is NaN.*last good checkpoint is .*checkpoint-4/);
  assert.equal(err.step, 6);
  assert.deepEqual(
    listCheckpoints(dir).map((c) => c.step),
    [4],
  );
  assert.ok(!existsSync(join(dir, "save-model")));
});

test("non-finite gradients are recognised by err.code (SF_ERR_NONFINITE_GRADIENTS), not by the message's words", async () => {
  const run = async (error: Error) => {
    const dir = freshDir();
    const o = fakeLoopOptions(dir, { saveSteps: 4 });
    const trainer = fakeTrainerFor(o);
    const step = trainer.optimizerStep.bind(trainer);
    let calls = 0;
    trainer.optimizerStep = async (lr: number) => {
      if (++calls === 6) throw error;
      return step(lr);
    };
    try {
      await trainWithSetup(
        o,
        { progress: false },
        {
          trainer,
          train: syntheticExamples(20),
          eval: null,
          collate: simpleCollate,
          run: { id: "r", dir: join(dir, "runs", "r"), log: () => {}, finish: () => {} },
          resume: null,
        },
      );
      return null;
    } catch (e) {
      return e;
    }
  };
  const coded = await run(
    Object.assign(new Error("optimizerStep: no update applied"), { code: "SF_ERR_NONFINITE_GRADIENTS" }),
  );
  assert.ok(coded instanceof TrainingDivergedError, String(coded));
  assert.match(coded.message, /the gradients are not finite \(optimizerStep: no update applied\)/);
  // a failure whose message merely mentions "inf"/"nan" is not a divergence: it propagates as it is
  const other = new Error("cannot read the info file (nan.bin)");
  assert.equal(await run(other), other);
});
