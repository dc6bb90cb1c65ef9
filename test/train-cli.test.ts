// `sqlfocus finetune` flags as a user meets them: --help names each numeric flag's type once (it said
// "[number] [string]"), numbers (negative, exponent) reach finetune() as numbers, and a bad value is
// reported as typed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

const repo = fileURLToPath(new URL("..", import.meta.url));
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "finetune", ...args], {
    cwd: repo,
    encoding: "utf8",
    timeout: 60_000,
  });

test("finetune --help: numeric flags are shown as [number], not also as [string]", () => {
  const r = cli("--help");
  assert.equal(r.status, 0, r.stderr);
  // yargs wraps long descriptions: join each option's lines before looking at its type tags.
  const options = r.stdout.split(/\n(?=\s+--)/);
  const maxSeq = options.find((o) => o.trimStart().startsWith("--max_seq_length"));
  assert.ok(maxSeq, r.stdout);
  assert.match(maxSeq, /\[number\]/);
  assert.doesNotMatch(maxSeq, /\[string\]/);
  assert.equal(options.filter((o) => /\[number\][\s\S]*\[string\]/.test(o)).length, 0, r.stdout);
});

test("finetune --dry_run: negative and exponent numbers parsed; a bad number reported as typed", () => {
  const r = cli(
    "--dry_run",
    "--model_name",
    "./model/x",
    "--max_steps",
    "-1",
    "--learning_rate",
    "2e-4",
    "--lora_rank",
    "8",
  );
  assert.equal(r.status, 0, r.stderr);
  const opts = JSON.parse(r.stdout.slice(r.stdout.indexOf("{")));
  assert.equal(opts.max_steps, -1);
  assert.equal(opts.learning_rate, 0.0002);
  assert.equal(opts.lora_rank, 8);
  const bad = cli("--dry_run", "--lora_rank", "abc");
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--lora_rank\) must be a finite number, got "abc"/);
  const missing = cli("--dry_run", "--max_seq_length");
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /max_seq_length/);
});
