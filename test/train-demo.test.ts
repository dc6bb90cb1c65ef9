// `sqlfocus demo`, shortened with --max_steps: makes the tiny model when absent, fine-tunes it on data/demo,
// prints the loss before/after, leaves the adapter and a run folder, merges and quantizes to a Q4_K_M GGUF, and
// prints the serve command.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { loadAddon } from "../src/native/index.js";
import { readAdapter } from "../src/train/index.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "sqlfocus-demo-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function engineMissing(): string | false {
  try {
    return typeof (loadAddon() as Record<string, unknown>).Trainer === "function"
      ? false
      : "the addon has no Trainer (engine not built)";
  } catch (err) {
    return `the addon does not load: ${(err as Error).message}`;
  }
}

test(
  "sqlfocus demo --max_steps 2: tiny model made, loss printed before/after, adapter saved, merged and quantized",
  { skip: engineMissing() },
  () => {
    const model = join(dir, "model", "tiny-qwen2");
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "demo",
        "--max_steps",
        "2",
        "--model_dir",
        model,
        "--output_dir",
        join(dir, "output"),
        "--save_model_dir",
        join(dir, "save-model"),
        "--merged_dir",
        join(dir, "new-model"),
        "--no-progress",
      ],
      { cwd: repo, encoding: "utf8", timeout: 240_000 },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /making the tiny Qwen2 model/);
    assert.ok(existsSync(join(model, "config.json")));
    const m = /eval loss\s+([\d.]+) → ([\d.]+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const [before, afterLoss] = [Number(m[1]), Number(m[2])];
    assert.ok(before > 11 && before < 13, `a random model's loss is about ln(151936) ≈ 11.9, got ${before}`);
    assert.ok(afterLoss < before, `eval loss ${before} → ${afterLoss}`);
    assert.match(r.stdout, /demo: 2 steps/);
    const gguf = join(dir, "new-model", "model-Q4_K_M.gguf");
    assert.ok(existsSync(join(dir, "new-model", "model.safetensors")));
    assert.equal(readFileSync(gguf).subarray(0, 4).toString("latin1"), "GGUF");
    assert.ok(r.stdout.includes(`sqlfocus serve --model ${gguf}`), r.stdout);
    assert.equal(readAdapter(join(dir, "save-model")).r, 16);
    assert.equal(readdirSync(join(dir, "output", "runs")).length, 1);
  },
);
