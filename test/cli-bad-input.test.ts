// Bad input to `sqlfocus board` and `sqlfocus demo` as a user meets it: exit 1, one line naming the option, nothing
// made (demo refuses output paths that are files before making a model or training).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-cli-bad-input-"));
after(() => rmSync(root, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr };
}

const file = join(root, "notes.txt");
writeFileSync(file, "keep me\n");

test("board: --port out of range and a --logdir that is a file are one clear line", () => {
  for (const port of ["99999", "-1"]) {
    const r = cli("board", "--port", port);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^sqlfocus: --port must be a whole number 0-65535, got ${port}\\n`));
  }
  const r = cli("board", "--logdir", file, "--port", "0");
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `sqlfocus: --logdir ${file}: is a file, not a folder of runs\n`);
});

test("demo: a --merged_dir / --save_model_dir / --output_dir that is a file is refused before any model is made", () => {
  const modelDir = join(root, "model");
  for (const flag of ["--merged_dir", "--save_model_dir", "--output_dir"]) {
    const paths: Record<string, string> = {
      "--output_dir": join(root, "out"),
      "--save_model_dir": join(root, "adapter"),
      "--merged_dir": join(root, "merged"),
      [flag]: file,
    };
    const r = cli("demo", "--model_dir", modelDir, ...Object.entries(paths).flat());
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr,
      `sqlfocus: ${file}: exists and is not a folder (refusing to replace it with the output folder)\n`,
    );
  }
  assert.deepEqual(readdirSync(root), ["notes.txt"]);
  assert.equal(readFileSync(file, "utf8"), "keep me\n");
});
