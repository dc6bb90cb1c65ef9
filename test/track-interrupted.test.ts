// A run whose process was killed leaves status.json saying "running": it is marked interrupted when the run is
// resumed, and when the run folder is read (the dashboard, listRuns/readRun) once its process is gone.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createRun, listRuns, readRun, type RunStatusFile } from "../src/track/index.js";

const root = mkdtempSync(join(os.tmpdir(), "sqlfocus-interrupted-"));
after(() => rmSync(root, { recursive: true, force: true }));
const deadPid = () => spawnSync(process.execPath, ["-e", "0"]).pid!;
const status = (dir: string) => JSON.parse(readFileSync(join(dir, "status.json"), "utf8")) as RunStatusFile;

/** A run folder as a SIGKILLed process leaves it: status running, its pid gone. */
async function killedRun(logdir: string): Promise<string> {
  const run = await createRun({ logdir, config: { a: 1 }, systemIntervalMs: 0, gpu: false });
  await run.log(1, { loss: 2 });
  const s = status(run.dir);
  s.sessions[0]!.pid = deadPid();
  writeFileSync(join(run.dir, "status.json"), JSON.stringify(s, null, 2) + "\n"); // as the killed process left it
  return run.id;
}

test("resuming a killed run marks its last session interrupted", async () => {
  const logdir = join(root, "resume");
  const id = await killedRun(logdir);
  const run = await createRun({ logdir, config: { a: 1 }, resume: id, systemIntervalMs: 0, gpu: false });
  const s = status(run.dir);
  assert.equal(s.sessions.length, 2);
  assert.equal(s.sessions[0]!.status, "interrupted");
  assert.ok(s.sessions[0]!.finished);
  assert.equal(s.sessions[1]!.status, "running");
  await run.finish({ status: "finished" });
  assert.equal(status(run.dir).status, "finished");
});

test("reading a killed run's folder marks it interrupted on disk", async () => {
  const logdir = join(root, "read");
  const id = await killedRun(logdir);
  const [summary] = listRuns(logdir);
  assert.equal(summary!.status, "interrupted");
  assert.equal(summary!.stale, true);
  const s = status(join(logdir, id));
  assert.equal(s.status, "interrupted");
  assert.equal(s.sessions[0]!.status, "interrupted");
  assert.equal(readRun(join(logdir, id), id).summary.status, "interrupted");
  // a run whose process is alive (this one) stays running
  const live = await createRun({ logdir, config: {}, systemIntervalMs: 0, gpu: false });
  assert.equal(listRuns(logdir).find((r) => r.id === live.id)!.status, "running");
  await live.finish({ status: "finished" });
});
