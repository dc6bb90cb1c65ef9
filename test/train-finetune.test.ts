// finetune() end to end on a tiny Qwen2 made at test time (hidden 64, 2 layers, the real Qwen2.5 tokenizer):
// JSONL → chat template → the native engine → checkpoints in PEFT format, the final adapter, the run folder;
// and a resumed run (2 steps, stop, resume, 2 more) logs the same losses as 4 uninterrupted steps.
// The wiring (data, run folder, adapter, resume) is also checked on the stand-in engine, so it is tested
// where the addon has no Trainer.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { initTinyModel, loadTokenizer } from "../src/model/index.js";
import { dataTokenizerOf } from "../src/train/finetune.js";
import { encodeConversation } from "../src/train/data.js";
import { loadAddon } from "../src/native/index.js";
import { finetune, readAdapter, type FinetuneRunOptions, type StepEvent } from "../src/train/index.js";
import { FakeTrainer } from "./helpers/fake-trainer.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-finetune-"));
after(() => rmSync(root, { recursive: true, force: true }));
const modelDir = join(root, "tiny");
const trainFile = join(root, "train.jsonl");
const evalFile = join(root, "dev.jsonl");

function hasNativeTrainer(): string | null {
  try {
    const addon = loadAddon() as Record<string, unknown>;
    return typeof addon.Trainer === "function" ? null : "the addon has no Trainer class (engine not built)";
  } catch (err) {
    return `the addon does not load: ${(err as Error).message}`;
  }
}
const noEngine = hasNativeTrainer();

const schema =
  "【DB_ID】 shop\n【Schema】\n# Table: customers\n[\n(id:INTEGER, Primary Key, Examples: [1, 2]),\n(name:TEXT, Examples: [Ann, Bo]),\n(city:TEXT)\n]";
const pairs: [string, string][] = [
  ["How many customers are there?", "SELECT count(*) FROM customers"],
  ["List all customer names.", "SELECT name FROM customers"],
  ["Which cities do customers live in?", "SELECT DISTINCT city FROM customers"],
  ["What is the name of customer 1?", "SELECT name FROM customers WHERE id = 1"],
  ["How many customers live in Paris?", "SELECT count(*) FROM customers WHERE city = 'Paris'"],
  ["Show customer ids ordered by name.", "SELECT id FROM customers ORDER BY name"],
];

before(async () => {
  await initTinyModel(modelDir, {
    seed: 7,
    hidden: 64,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    intermediate: 128,
    dtype: "f32",
  });
  writeFileSync(
    trainFile,
    pairs.map(([q, s]) => JSON.stringify({ question: q, db_schema: schema, query: s })).join("\n") + "\n",
  );
  writeFileSync(
    evalFile,
    JSON.stringify({
      messages: [
        { role: "user", content: "Count the customers." },
        { role: "assistant", content: "SELECT count(*) FROM customers" },
      ],
    }) + "\n",
  );
});

function base(out: string): FinetuneRunOptions {
  return {
    modelName: modelDir,
    trainFile,
    evalFile,
    outputDir: join(out, "output"),
    saveModelDir: join(out, "save-model"),
    maxSeqLength: 256,
    perDeviceTrainBatchSize: 2,
    perDeviceEvalBatchSize: 2,
    gradientAccumulationSteps: 1,
    maxSteps: 4,
    loggingSteps: 1,
    evalSteps: 2,
    saveSteps: 2,
    learningRate: 5e-3,
    loraRank: 4,
    loraAlpha: 8,
    loraDropout: 0.1,
    threads: 2,
    progress: false,
    onMessage: () => {},
  };
}

/** Runs 4 steps straight, and 2 + resume + 2; returns both runs' per-step losses and the folders. */
async function resumeEquality(extra: Partial<FinetuneRunOptions>) {
  const straight: StepEvent[] = [];
  const a = join(root, `straight-${Math.random().toString(36).slice(2)}`);
  const full = await finetune({ ...base(a), ...extra, onStep: (e) => straight.push(e) });
  assert.equal(full.status, "finished");

  const b = join(root, `resumed-${Math.random().toString(36).slice(2)}`);
  const first: StepEvent[] = [];
  const controller = new AbortController();
  const part = await finetune({
    ...base(b),
    ...extra,
    signal: controller.signal,
    onStep: (e) => {
      first.push(e);
      if (e.step === 2) controller.abort();
    },
  });
  assert.equal(part.status, "interrupted");
  assert.equal(part.globalStep, 2);
  const second: StepEvent[] = [];
  const rest = await finetune({ ...base(b), ...extra, resumeFromCheckpoint: true, onStep: (e) => second.push(e) });
  assert.equal(rest.status, "finished");
  assert.deepEqual(
    second.map((e) => e.step),
    [3, 4],
  );
  return { straight, resumed: [...first, ...second], full, rest, a, b };
}

test("finetune on the stand-in engine: data → loop → checkpoints, adapter, run folder; exact resume", async () => {
  const extra: Partial<FinetuneRunOptions> = {
    loraRank: 2,
    createTrainer: (spec) => new FakeTrainer({ rank: spec.lora.rank, seed: spec.seed, dropout: spec.lora.dropout }),
  };
  const { straight, resumed, full, rest, a, b } = await resumeEquality(extra);
  assert.deepEqual(
    resumed.map((e) => e.loss),
    straight.map((e) => e.loss),
  );
  assert.equal(rest.evalLoss, full.evalLoss);
  assert.ok(existsSync(join(a, "output", "checkpoint-4", "adapter_model.safetensors")));
  assert.equal(readAdapter(join(b, "save-model")).r, 2);
  // One run folder for the interrupted run and its resumption (two sessions).
  const runs = readdirSync(join(b, "output", "runs"));
  assert.equal(runs.length, 1);
  const status = JSON.parse(readFileSync(join(b, "output", "runs", runs[0], "status.json"), "utf8"));
  assert.equal(status.status, "finished");
  assert.equal(status.sessions.length, 2);
});

test(
  "finetune with the native engine: loss falls, PEFT checkpoints, readable adapter, metrics",
  { skip: noEngine ?? false },
  async () => {
    const out = join(root, "native");
    const result = await finetune({ ...base(out), maxSteps: 6, loraDropout: 0, learningRate: 1e-2 });
    assert.equal(result.status, "finished");
    assert.equal(result.globalStep, 6);
    assert.ok(result.firstLoss! > 0 && Number.isFinite(result.firstLoss!));
    assert.ok(result.lastLoss! < result.firstLoss!, `loss ${result.firstLoss} → ${result.lastLoss}`);
    assert.ok(result.evalLoss! < result.initialEvalLoss!, `eval loss ${result.initialEvalLoss} → ${result.evalLoss}`);
    const ckpt = join(out, "output", "checkpoint-6");
    for (const f of [
      "adapter_config.json",
      "adapter_model.safetensors",
      "optimizer.safetensors",
      "trainer_state.json",
      "sqlfocus_state.json",
    ]) {
      assert.ok(existsSync(join(ckpt, f)), `${f} in ${ckpt}`);
    }
    const cfg = JSON.parse(readFileSync(join(ckpt, "adapter_config.json"), "utf8"));
    assert.equal(cfg.peft_type, "LORA");
    assert.equal(cfg.r, 4);
    assert.deepEqual([...cfg.target_modules].sort(), [
      "down_proj",
      "gate_proj",
      "k_proj",
      "o_proj",
      "q_proj",
      "up_proj",
      "v_proj",
    ]);
    const adapter = readAdapter(join(out, "save-model"));
    assert.equal(adapter.r, 4);
    assert.equal(adapter.tensors.length, 2 * 7 * 2);
    const q = adapter.tensors.find((t) => t.name === "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight")!;
    assert.deepEqual(q.shape, [64, 4]);
    assert.ok(
      q.data.some((x) => x !== 0),
      "lora_B moved from its zero init",
    );
    const runDir = result.runDir;
    const rows = readFileSync(join(runDir, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const stepRows = rows.filter((r) => typeof r.loss === "number");
    assert.equal(stepRows.length, 6);
    for (const k of ["lr", "grad_norm", "tokens_per_s", "mem_rss_mb"])
      assert.ok(
        stepRows.every((r) => typeof r[k] === "number"),
        k,
      );
    assert.ok(rows.some((r) => typeof r.eval_loss === "number"));
  },
);

test(
  "finetune with the native engine: 2 steps + resume + 2 steps logs the same losses as 4 steps",
  { skip: noEngine ?? false },
  async () => {
    const { straight, resumed, full, rest } = await resumeEquality({});
    assert.deepEqual(
      resumed.map((e) => e.loss),
      straight.map((e) => e.loss),
    );
    assert.deepEqual(
      resumed.map((e) => e.gradNorm),
      straight.map((e) => e.gradNorm),
    );
    assert.equal(rest.evalLoss, full.evalLoss);
    const x = readAdapter(join(full.options.saveModelDir));
    const y = readAdapter(join(rest.options.saveModelDir));
    for (let i = 0; i < x.tensors.length; i++)
      assert.deepEqual(y.tensors[i].data, x.tensors[i].data, x.tensors[i].name);
  },
);

test("finetune: a bad training line fails before any engine or run folder is made, naming file, line and field", async () => {
  const bad = join(root, "bad.jsonl");
  writeFileSync(
    bad,
    JSON.stringify({ question: "q", db_schema: schema, query: "SELECT 1" }) +
      "\n" +
      JSON.stringify({ question: "q", db_schema: schema }) +
      "\n",
  );
  const out = join(root, "bad-run");
  let engines = 0;
  await assert.rejects(
    finetune({ ...base(out), trainFile: bad, createTrainer: () => (engines++, new FakeTrainer({})) }),
    (err: Error) => err.message === `${bad}:2: field "query": missing (a string is required)`,
  );
  assert.equal(engines, 0);
  assert.ok(!existsSync(join(out, "output", "runs")));
});

test("finetune: a save_model_dir or output_dir that is a file fails before any engine is made; the file is kept", async () => {
  const out = join(root, "file-outputs");
  mkdirSync(out, { recursive: true });
  const file = join(out, "notes.txt");
  writeFileSync(file, "keep me\n");
  let engines = 0;
  const createTrainer = () => (engines++, new FakeTrainer({}));
  await assert.rejects(
    finetune({ ...base(out), saveModelDir: file, createTrainer }),
    (err: Error) =>
      err.message === `${file}: exists and is not a folder (refusing to replace it with the output folder)`,
  );
  await assert.rejects(
    finetune({ ...base(out), outputDir: file, createTrainer }),
    (err: Error) =>
      err.message === `${file}: exists and is not a folder (refusing to replace it with the output folder)`,
  );
  assert.equal(engines, 0);
  assert.equal(readFileSync(file, "utf8"), "keep me\n");
});

test("finetune: resuming a checkpoint with another --lora_rank names the checkpoint's adapter_config.json field", async () => {
  const out = join(root, "resume-rank");
  const createTrainer = (spec: { lora: { rank: number }; seed: number }) =>
    new FakeTrainer({ rank: spec.lora.rank, seed: spec.seed });
  const first = await finetune({ ...base(out), loraRank: 2, maxSteps: 2, createTrainer });
  assert.equal(first.status, "finished");
  const cfg = join(out, "output", "checkpoint-2", "adapter_config.json");
  let engines = 0;
  await assert.rejects(
    finetune({
      ...base(out),
      loraRank: 4,
      maxSteps: 3,
      resumeFromCheckpoint: true,
      createTrainer: (spec) => (engines++, createTrainer(spec)),
    }),
    (err: Error) =>
      err.message === `${cfg}: field "r" is 2 but --lora_rank is 4; resume with the checkpoint's LoRA settings`,
  );
  await assert.rejects(
    finetune({
      ...base(out),
      loraRank: 2,
      targetModules: ["q_proj", "v_proj"],
      maxSteps: 3,
      resumeFromCheckpoint: true,
      createTrainer: (spec) => (engines++, createTrainer(spec)),
    }),
    /adapter_config\.json: field "target_modules" is .*down_proj.* but --target_modules is q_proj,v_proj/,
  );
  assert.equal(engines, 0);
});

test("the model folder's tokenizer (src/model) masks as the loader expects: answer + <|im_end|> only", async () => {
  const t = await loadTokenizer(modelDir);
  const tok = dataTokenizerOf(t);
  assert.equal(tok.eosToken, "<|im_end|>");
  assert.equal(tok.eosTokenId, 151645);
  assert.equal(tok.padTokenId, 151643);
  const ex = encodeConversation(tok, [
    { role: "user", content: "Count the customers." },
    { role: "assistant", content: "SELECT count(*) FROM customers" },
  ]);
  const start = ex.labels.findIndex((l) => l !== -100);
  assert.equal(
    t.decode(ex.inputIds.slice(0, start)),
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nCount the customers.<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(t.decode(ex.labels.slice(start)), "SELECT count(*) FROM customers<|im_end|>");
});
