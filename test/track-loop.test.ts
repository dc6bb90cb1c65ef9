// The run folder as the training loop's sink: a run interrupted and resumed from an earlier checkpoint continues
// the same folder, and its metrics read back equal an uninterrupted run's (loop driven by the stand-in engine).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { resolveResumeCheckpoint, trainWithSetup } from "../src/train/finetune.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";
import { createRun, readRun } from "../src/track/index.js";
import { fakeLoopOptions, fakeTrainerFor, simpleCollate, syntheticExamples } from "./helpers/fake-trainer.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-track-loop-"));
after(() => rmSync(root, { recursive: true, force: true }));

async function train(outputDir: string, opts: { abortAt?: number; resumeFrom?: string } = {}) {
  const o = fakeLoopOptions(outputDir, opts.resumeFrom ? { resumeFromCheckpoint: opts.resumeFrom } : {});
  const resumeDir = resolveResumeCheckpoint(o);
  const resume = resumeDir ? loadCheckpoint(resumeDir) : null;
  const runId = resume?.state.runId ?? undefined;
  const run = await createRun({
    logdir: join(outputDir, "runs"),
    name: "fake",
    config: { ...o },
    resume: runId,
    systemIntervalMs: 0,
  });
  const ac = new AbortController();
  const result = await trainWithSetup(
    o,
    { progress: false, signal: ac.signal, onStep: (e) => void (e.step === opts.abortAt && ac.abort()) },
    {
      trainer: fakeTrainerFor(o),
      train: syntheticExamples(20),
      eval: null,
      collate: simpleCollate,
      run,
      resume,
    },
  );
  return { result, run };
}

const curve = (dir: string, id: string) =>
  readRun(dir, id)
    .metrics.filter((r) => r.loss !== undefined)
    .map((r) => [r.step, r.loss, r.lr, r.grad_norm]);

test("stop at 7, resume from checkpoint-4: same run folder, metrics equal an uninterrupted run's", async () => {
  const straight = await train(join(root, "straight"));
  assert.equal(straight.result.status, "finished");
  const expected = curve(straight.run.dir, straight.run.id);
  // every optimizer step is a row of the run folder (15 steps: 20 examples / (2 × 2) per step × 3 epochs)
  assert.deepEqual(
    expected.map((r) => r[0]),
    Array.from({ length: 15 }, (_, i) => i + 1),
  );

  const dir = join(root, "stopped");
  const first = await train(dir, { abortAt: 7 });
  assert.equal(first.result.status, "interrupted");
  assert.equal(readRun(first.run.dir, first.run.id).summary.status, "interrupted");
  const second = await train(dir, { resumeFrom: join(dir, "checkpoint-4") });
  assert.equal(second.result.status, "finished");
  assert.equal(second.run.id, first.run.id, "the resumed run is the same run");
  assert.equal(second.run.session, 2);
  const data = readRun(second.run.dir, second.run.id);
  assert.equal(data.summary.status, "finished");
  assert.deepEqual(curve(second.run.dir, second.run.id), expected);
  assert.equal(data.status?.sessions.length, 2);
});
