// The package's public face: src/index.ts names a curated API (no internals), types that are precise (checked by
// tsc in `npm test`), one cleanup convention (dispose() + Symbol.asyncDispose), and the CLI conventions users
// expect (--version is sqlfocus's own, one "sqlfocus:" prefix, a training config file, --report_to).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import * as api from "../src/index.js";
import { parseReportTo, resolveFinetuneOptions } from "../src/train/index.js";
import { errorLine } from "../src/cli/shared.js";
import { FakeChatModel } from "./server-fake-model.js";

const repo = join(import.meta.dirname, "..");
const tmp = mkdtempSync(join(tmpdir(), "sqlfocus-api-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

// Compile-time checks (npm test type-checks this file): QuantizeOptions.type is a union of llama.cpp's names.
const q4: api.QuantizeOptions = { input: "m", output: "o.gguf", type: "Q4_K_M" };
// @ts-expect-error not a quantization type
const typo: api.QuantizeOptions = { input: "m", output: "o.gguf", type: "Q4_K_X" };
void q4;
void typo;

test("the public API names what users need, and no internals", () => {
  const names = Object.keys(api);
  for (const n of [
    "finetune",
    "merge",
    "toGGUF",
    "quantize",
    "mschema",
    "createServer",
    "startServer",
    "evaluateSpider",
    "prepareSpider",
    "initTinyModel",
    "openModel",
    "loadTokenizer",
    "Tokenizer",
    "readAdapter",
    "LlamaChatModel",
    "SqlGenerator",
    "QUANT_TYPES",
  ]) {
    assert.ok(names.includes(n), `exports ${n}`);
  }
  for (const n of [
    "crc32c",
    "tfRecord",
    "fsyncDir",
    "pyFloatRepr",
    "writeFileAtomic",
    "loadAddon",
    "addLoraDelta",
    "encodeEvent",
    "f32ToBf16Bits",
    "removeOnInterrupt",
  ]) {
    assert.ok(!names.includes(n), `does not export the internal ${n}`);
  }
  assert.ok(names.length < 120, `${names.length} runtime names`);
  assert.ok(api.QUANT_TYPES.includes("Q4_K_M") && api.QUANT_TYPES.includes("Q8_0"));
});

test("one cleanup convention: dispose() and Symbol.asyncDispose release the model", async () => {
  const model = new FakeChatModel();
  const generator = new api.SqlGenerator(model);
  assert.equal(typeof generator[Symbol.asyncDispose], "function");
  await generator[Symbol.asyncDispose]();
  assert.equal(model.closed, true);
  assert.equal(typeof api.LlamaChatModel.prototype.dispose, "function");
  assert.equal(typeof api.LlamaChatModel.prototype[Symbol.asyncDispose], "function");
});

function cli(args: string[], cwd = repo) {
  return spawnSync(process.execPath, ["--import", "tsx", join(repo, "src", "cli", "main.ts"), ...args], {
    cwd: repo,
    encoding: "utf8",
    env: { ...process.env, INIT_CWD: cwd },
  });
}

test("--version prints sqlfocus's own version, whatever the current project", () => {
  const own = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version;
  writeFileSync(join(tmp, "package.json"), JSON.stringify({ name: "someone-elses-app", version: "9.9.9" }));
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      join(repo, "node_modules", "tsx", "dist", "esm", "index.mjs"),
      join(repo, "src", "cli", "main.ts"),
      "--version",
    ],
    { cwd: tmp, encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), own);
});

test("errors carry one sqlfocus: prefix", () => {
  assert.equal(errorLine("sqlfocus: sqlfocus: x"), "sqlfocus: x");
  assert.equal(errorLine("x"), "sqlfocus: x");
  const r = cli(["finetune", "--dry_run", "--lora_rank", "abc"]);
  assert.notEqual(r.status, 0);
  assert.ok(!/sqlfocus: sqlfocus:/.test(r.stderr), r.stderr);
});

test("finetune config.yaml / config.json: flag names as keys, flags override, --dry_run output feeds back", () => {
  const yaml = join(tmp, "train.yaml");
  writeFileSync(
    yaml,
    "model_name: ./model/base\nlora_rank: 8\nlearning_rate: 1e-4\ntarget_modules: [q_proj, v_proj]\nreport_to: tensorboard\n",
  );
  const r = cli(["finetune", yaml, "--learning_rate", "3e-4", "--dry_run"]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.model_name, "./model/base");
  assert.equal(out.lora_rank, 8);
  assert.equal(out.learning_rate, 0.0003, "the flag overrides the file");
  assert.deepEqual(out.target_modules, ["q_proj", "v_proj"]);
  assert.deepEqual(out.report_to, ["tensorboard"]);
  const json = join(tmp, "resolved.json");
  writeFileSync(json, r.stdout);
  const again = cli(["finetune", json, "--dry_run"]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stdout, r.stdout, "the printed file resolves to the same options");
  writeFileSync(join(tmp, "typo.yaml"), "lora_rnk: 8\n");
  const bad = cli(["finetune", join(tmp, "typo.yaml"), "--dry_run"]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /typo\.yaml: unknown key "lora_rnk"/);
  writeFileSync(join(tmp, "list.yaml"), "- a\n- b\n");
  assert.match(
    cli(["finetune", join(tmp, "list.yaml"), "--dry_run"]).stderr,
    /list\.yaml: must be a mapping of flag names/,
  );
  writeFileSync(join(tmp, "broken.json"), "{ nope");
  assert.match(cli(["finetune", join(tmp, "broken.json"), "--dry_run"]).stderr, /broken\.json: not valid JSON/);
  assert.match(
    cli(["finetune", join(tmp, "missing.yaml"), "--dry_run"]).stderr,
    /missing\.yaml: cannot read the config file \(ENOENT\)/,
  );
});

test("report_to: none | tensorboard | swanlab, as a comma list", () => {
  assert.deepEqual(parseReportTo(undefined), []);
  assert.deepEqual(parseReportTo("none"), []);
  assert.deepEqual(parseReportTo("tensorboard, swanlab"), ["tensorboard", "swanlab"]);
  assert.deepEqual(parseReportTo(["SwanLab"]), ["swanlab"]);
  assert.throws(
    () => parseReportTo("wandb"),
    /report_to\) must be none or among tensorboard, swanlab; unknown tracker "wandb"/,
  );
  assert.throws(() => parseReportTo("none,tensorboard"), /none cannot be combined/);
  assert.deepEqual(resolveFinetuneOptions({ reportTo: "tensorboard" }).reportTo, ["tensorboard"]);
  const r = cli(["finetune", "--report_to", "swanlab", "--model_name", join(tmp, "no-model")], tmp);
  assert.notEqual(r.status, 0);
  if (!process.env.SWANLAB_API_KEY) assert.match(r.stderr, /report_to swanlab needs SWANLAB_API_KEY/);
});

test("quantize's Modelfile never silently replaces another: Modelfile when free, else named after the GGUF", async () => {
  const { writeModelfile } = await import("../src/gguf/index.js");
  const dir = join(tmp, "modelfiles");
  const info = (tokens: string[]) =>
    ({
      metadata: new Map<string, unknown>([
        ["tokenizer.ggml.tokens", tokens],
        ["tokenizer.ggml.eos_token_id", 0],
      ]),
      tensors: [],
      fileSize: 0,
    }) as unknown as Parameters<typeof writeModelfile>[2];
  const { mkdirSync, readdirSync } = await import("node:fs");
  mkdirSync(dir);
  const a = join(dir, "a.gguf");
  const b = join(dir, "b.gguf");
  assert.equal(writeModelfile(a, undefined, info(["</s>"])), join(dir, "Modelfile"));
  assert.equal(writeModelfile(a, undefined, info(["</s>"])), join(dir, "Modelfile"), "the same text: kept");
  const first = readFileSync(join(dir, "Modelfile"), "utf8");
  assert.equal(
    writeModelfile(b, undefined, info(["</s>"])),
    join(dir, "b.Modelfile"),
    "another model's Modelfile is not replaced",
  );
  assert.equal(readFileSync(join(dir, "Modelfile"), "utf8"), first);
  writeFileSync(join(dir, "Modelfile"), first + "PARAMETER temperature 0.2\n"); // the user's edit
  assert.equal(writeModelfile(a, undefined, info(["</s>"])), join(dir, "a.Modelfile"));
  assert.match(readFileSync(join(dir, "Modelfile"), "utf8"), /temperature 0\.2/);
  assert.deepEqual(readdirSync(dir).sort(), ["Modelfile", "a.Modelfile", "b.Modelfile"]);
  assert.throws(
    () => writeModelfile(a, join(dir, "Modelfile"), info(["</s>"])),
    /Modelfile: exists with other content; not replacing it/,
  );
});
