// A real kill: `sqlfocus finetune` is SIGKILLed mid-run (possibly mid-save), then run again with
// --resume_from_checkpoint true; its log history (losses, grad norms, eval losses) and final adapter equal those of a
// run that was never stopped.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { initTinyModel } from "../src/model/index.js";
import { loadAddon } from "../src/native/index.js";
import { readAdapter } from "../src/train/index.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "sqlfocus-kill-"));
after(() => rmSync(root, { recursive: true, force: true }));
const model = join(root, "tiny");
const trainFile = join(root, "train.jsonl");

function engineMissing(): string | false {
  try {
    return typeof (loadAddon() as Record<string, unknown>).Trainer === "function"
      ? false
      : "the addon has no Trainer (engine not built)";
  } catch (err) {
    return `the addon does not load: ${(err as Error).message}`;
  }
}

before(async () => {
  await initTinyModel(model, {
    seed: 3,
    hidden: 64,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    intermediate: 128,
    dtype: "bf16",
  });
  const rows = [];
  for (let i = 0; i < 12; i++)
    rows.push({ instruction: `Write SQL that counts the rows of table t${i}.`, output: `SELECT count(*) FROM t${i}` });
  writeFileSync(trainFile, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
});

function args(out: string): string[] {
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
    trainFile,
    "--output_dir",
    join(out, "output"),
    "--save_model_dir",
    join(out, "save-model"),
    "--per_device_train_batch_size",
    "2",
    "--gradient_accumulation_steps",
    "2",
    "--max_steps",
    "12",
    "--logging_steps",
    "1",
    "--save_steps",
    "2",
    "--eval_steps",
    "4",
    "--learning_rate",
    "3e-3",
    "--lora_rank",
    "4",
    "--lora_alpha",
    "8",
    "--lora_dropout",
    "0.1",
    "--threads",
    "2",
    "--no-progress",
  ];
}

function finalHistory(out: string): Record<string, number | null>[] {
  return JSON.parse(
    readFileSync(join(out, "output", "checkpoint-12", "trainer_state.json"), "utf8"),
  ).log_history.filter((e: Record<string, unknown>) => e.loss !== undefined || e.eval_loss !== undefined);
}

test(
  "SIGKILL mid-run, then --resume_from_checkpoint true: same losses and adapter as an uninterrupted run",
  { skip: engineMissing(), timeout: 300_000 },
  async () => {
    const a = join(root, "straight");
    const r = spawnSync(process.execPath, args(a), { cwd: repo, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);

    const b = join(root, "killed");
    const child = spawn(process.execPath, args(b), { cwd: repo, stdio: "ignore" });
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
    // Kill as soon as the first checkpoint is there (the run may be writing the next one).
    while (!existsSync(join(b, "output", "checkpoint-2")) && child.exitCode === null)
      await new Promise((res) => setTimeout(res, 20));
    child.kill("SIGKILL");
    const code = await exited;
    assert.equal(code, null, "the run was killed before it finished");
    const left = readdirSync(join(b, "output")).filter((n) => n.startsWith("checkpoint-"));
    assert.ok(!left.includes("checkpoint-12"), `killed before the end (${left.join(", ")})`);

    const resumed = spawnSync(process.execPath, [...args(b), "--resume_from_checkpoint", "true"], {
      cwd: repo,
      encoding: "utf8",
    });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.deepEqual(
      finalHistory(b).map(({ loss, grad_norm, eval_loss, step }) => ({ loss, grad_norm, eval_loss, step })),
      finalHistory(a).map(({ loss, grad_norm, eval_loss, step }) => ({ loss, grad_norm, eval_loss, step })),
    );
    const x = readAdapter(join(a, "save-model"));
    const y = readAdapter(join(b, "save-model"));
    for (let i = 0; i < x.tensors.length; i++)
      assert.deepEqual(y.tensors[i].data, x.tensors[i].data, x.tensors[i].name);
    assert.ok(
      readdirSync(join(b, "output")).every((n) => !/\.tmp-|\.old-/.test(n)),
      "no temp folders left",
    );
  },
);
