// The merge / convert / quantize commands as a user runs them (npx tsx src/cli/main.ts …): outputs, messages, and
// clear errors with a non-zero exit.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { readGgufInfo } from "../src/gguf/index.js";
import { makeTinyQwen2 } from "./helpers/gguf-tiny.js";
import { writeRandomAdapter } from "./helpers/gguf-adapter.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-gguf-cli-"));
after(() => rmSync(root, { recursive: true, force: true }));
const SHAPE = { layers: 1, hidden: 256, intermediate: 768, heads: 4, kvHeads: 2 };

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  makeTinyQwen2(join(root, "model"), { ...SHAPE, seed: 2 });
  await writeRandomAdapter(join(root, "save-model"), { ...SHAPE, rank: 4, alpha: 8 });
});

test("merge → quantize Q8_0 (with Modelfile); adapter → GGUF LoRA", () => {
  let r = cli(
    "merge",
    "--base",
    join(root, "model"),
    "--adapter",
    join(root, "save-model"),
    "--out",
    join(root, "new-model"),
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /merged 3 modules into .*new-model/);
  r = cli("quantize", join(root, "new-model"), join(root, "gguf", "m-q8.gguf"), "--type", "Q8_0", "--threads", "2");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /wrote .*m-q8\.gguf: Q8_0, [\d.]+ MB \(.*Q8_0×8.*\)/);
  assert.deepEqual(readdirSync(join(root, "gguf")).sort(), ["Modelfile", "m-q8.gguf"]);
  r = cli("convert", join(root, "save-model"), join(root, "gguf", "adapter.gguf"), "--base", join(root, "model"));
  assert.equal(r.code, 0, r.err);
  assert.equal(readGgufInfo(join(root, "gguf", "adapter.gguf")).metadata.get("adapter.type"), "lora");
});

test("errors: unknown type, missing input, float type for quantizing", () => {
  let r = cli("quantize", join(root, "model"), join(root, "bad", "x.gguf"), "--type", "Q9_K");
  assert.notEqual(r.code, 0);
  assert.match(r.err, /unknown quantization type "Q9_K"/);
  r = cli("convert", join(root, "model"), join(root, "bad", "x.gguf"), "--type", "Q4_K_M");
  assert.notEqual(r.code, 0);
  assert.match(r.err, /--type must be F32, F16 or BF16 \(use 'sqlfocus quantize'/);
  r = cli("quantize", join(root, "nope"), join(root, "bad", "x.gguf"));
  assert.notEqual(r.code, 0);
  assert.match(r.err, /nope: no such folder, and not a Hugging Face repo id/);
  assert.ok(!existsSync(join(root, "bad", "x.gguf")));
});
