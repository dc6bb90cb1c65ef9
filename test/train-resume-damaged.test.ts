// One rule for a damaged checkpoint when resuming: `--resume_from_checkpoint true` resumes the newest checkpoint that
// loads and names each newer one it skipped with its problem (a truncated file and a corrupt sqlfocus_state.json
// alike); a checkpoint named explicitly must load, or the error names it, its problem and the flag.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, truncateSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { resolveFinetuneOptions } from "../src/train/index.js";
import { resolveResumeCheckpoint, trainWithSetup } from "../src/train/finetune.js";
import { fakeLoopOptions, fakeTrainerFor, simpleCollate, syntheticExamples } from "./helpers/fake-trainer.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-resume-damaged-"));
after(() => rmSync(root, { recursive: true, force: true }));

async function trainWithCheckpoints(outputDir: string): Promise<void> {
  const o = fakeLoopOptions(outputDir, { maxSteps: 6, saveSteps: 2 });
  await trainWithSetup(
    o,
    { progress: false },
    {
      trainer: fakeTrainerFor(o),
      train: syntheticExamples(20),
      eval: null,
      collate: simpleCollate,
      run: { id: "r", dir: join(outputDir, "runs", "r"), log: () => {}, finish: () => {} },
      resume: null,
    },
  );
}

test("a truncated newest checkpoint and a corrupt state file: skipped, named, the newest that loads is resumed", async () => {
  const dir = join(root, "out");
  await trainWithCheckpoints(dir);
  const adapter6 = join(dir, "checkpoint-6", "adapter_model.safetensors");
  truncateSync(adapter6, Math.floor(statSync(adapter6).size / 2));
  writeFileSync(join(dir, "checkpoint-4", "sqlfocus_state.json"), '{ "format": ');
  const notes: string[] = [];
  const latest = resolveFinetuneOptions({ outputDir: dir, resumeFromCheckpoint: true });
  assert.equal(
    resolveResumeCheckpoint(latest, (t) => notes.push(t)),
    join(dir, "checkpoint-2"),
  );
  assert.equal(notes.length, 1);
  assert.match(
    notes[0]!,
    /skipped .*checkpoint-6 \(.*adapter_model\.safetensors.*\); .*checkpoint-4 \(.*sqlfocus_state\.json.*\); resuming .*checkpoint-2, the newest checkpoint that loads/,
  );

  for (const [name, file] of [
    ["checkpoint-6", "adapter_model\\.safetensors"],
    ["checkpoint-4", "sqlfocus_state\\.json"],
  ]) {
    const named = resolveFinetuneOptions({ outputDir: dir, resumeFromCheckpoint: join(dir, name!) });
    assert.throws(
      () => resolveResumeCheckpoint(named, () => {}),
      new RegExp(
        `${name} cannot be resumed \\(.*${file}.*--resume_from_checkpoint true resumes the newest checkpoint that loads`,
      ),
    );
  }

  writeFileSync(join(dir, "checkpoint-2", "sqlfocus_state.json"), "");
  assert.throws(
    () => resolveResumeCheckpoint(latest, () => {}),
    /no checkpoint in .* loads: .*checkpoint-6.*checkpoint-4.*checkpoint-2 .*--resume_from_checkpoint <folder>/,
  );
});
