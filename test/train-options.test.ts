// finetune options (defaults, validation errors naming the option), the CLI's Python flag names, the learning-rate
// schedules (transformers' formulas), data order, and the Python-identical JSON writer.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import {
  FINETUNE_DEFAULTS,
  FinetuneOptionError,
  PYTHON_OPTION_NAMES,
  resolveFinetuneOptions,
} from "../src/train/index.js";
import { pythonFloatRepr, pythonJsonDumps, pyFloat } from "../src/model/index.js";
import { learningRateAt, totalTrainingSteps, updateStepsPerEpoch, warmupStepsFor } from "../src/train/schedule.js";
import { epochBatches, epochPermutation } from "../src/train/sampler.js";

test("defaults are the Python project's", () => {
  const o = resolveFinetuneOptions({});
  assert.equal(o.modelName, "XGenerationLab/XiYanSQL-QwenCoder-7B-2502");
  assert.equal(o.outputDir, "./output");
  assert.equal(o.trainFile, "./data/train_data.jsonl");
  assert.deepEqual(
    [
      o.maxSeqLength,
      o.perDeviceTrainBatchSize,
      o.perDeviceEvalBatchSize,
      o.gradientAccumulationSteps,
      o.loggingSteps,
      o.numTrainEpochs,
      o.saveSteps,
    ],
    [1024, 4, 4, 4, 10, 3, 500],
  );
  assert.deepEqual([o.learningRate, o.loraRank, o.loraAlpha, o.loraDropout], [2e-4, 16, 32, 0.05]);
  assert.deepEqual(o.targetModules, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]);
  assert.equal(o.lrSchedulerType, "linear");
  assert.equal(o.evalSteps, o.loggingSteps);
  assert.equal(o.device, "cpu");
  assert.equal(o.resumeFromCheckpoint, null);
  assert.equal(o.logdir, "./output/runs");
  assert.equal(resolveFinetuneOptions({}, true).device, "cuda");
});

test("bad options fail with the option's TypeScript and Python names", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ learningRate: "fast" }, /learningRate \(--learning_rate\) must be a finite number, got "fast"/],
    [{ loraRank: 0 }, /loraRank \(--lora_rank\) must be ≥ 1/],
    [{ perDeviceTrainBatchSize: 2.5 }, /perDeviceTrainBatchSize \(--per_device_train_batch_size\) must be an integer/],
    [{ loraDropout: 1 }, /loraDropout \(--lora_dropout\) must be < 1/],
    [{ targetModules: ["q_proj", "qkv"] }, /targetModules \(--target_modules\).*unknown module "qkv"/],
    [{ lrSchedulerType: "polynomial" }, /lrSchedulerType \(--lr_scheduler_type\) must be one of linear, cosine/],
    [{ maxSteps: 0 }, /maxSteps \(--max_steps\) must be a positive integer/],
    [{ warmupRatio: 2 }, /warmupRatio \(--warmup_ratio\) must be ≤ 1/],
    [{ device: "cuda" }, /device \(--device\) is cuda, but this sqlfocus build has no CUDA engine/],
    [{ learning_rate: 1e-4 }, /unknown option "learning_rate" \(the TypeScript API spells it learningRate\)/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(
      () => resolveFinetuneOptions(opts as never, false),
      (e: Error) => e instanceof FinetuneOptionError && re.test(e.message),
      JSON.stringify(opts),
    );
  }
  assert.deepEqual(resolveFinetuneOptions({ targetModules: "q_proj, v_proj" as never }).targetModules, [
    "q_proj",
    "v_proj",
  ]);
  assert.deepEqual(resolveFinetuneOptions({ targetModules: ["all-linear"] }).targetModules.length, 7);
  assert.equal(resolveFinetuneOptions({ resumeFromCheckpoint: "latest" }).resumeFromCheckpoint, true);
  assert.equal(
    resolveFinetuneOptions({ resumeFromCheckpoint: "out/checkpoint-5" }).resumeFromCheckpoint,
    "out/checkpoint-5",
  );
  assert.equal(resolveFinetuneOptions({ resumeFromCheckpoint: "false" }).resumeFromCheckpoint, null);
});

function cli(args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "finetune", "--dry_run", ...args], {
    encoding: "utf8",
  });
}

test("CLI: every option has its Python flag; values parse to the resolved options", () => {
  const r = cli([
    "--model_name",
    "m",
    "--output_dir",
    "o",
    "--train_file",
    "t.jsonl",
    "--eval_file",
    "e.jsonl",
    "--max_seq_length",
    "256",
    "--per_device_train_batch_size",
    "2",
    "--per_device_eval_batch_size",
    "8",
    "--gradient_accumulation_steps",
    "3",
    "--logging_steps",
    "5",
    "--num_train_epochs",
    "1.5",
    "--save_steps",
    "7",
    "--learning_rate",
    "1e-4",
    "--lora_rank",
    "8",
    "--lora_alpha",
    "16",
    "--lora_dropout",
    "0.1",
    "--eval_steps",
    "6",
    "--seed",
    "7",
    "--warmup_ratio",
    "0.1",
    "--lr_scheduler_type",
    "cosine",
    "--target_modules",
    "q_proj,v_proj",
    "--resume_from_checkpoint",
    "o/checkpoint-7",
    "--max_steps",
    "40",
    "--threads",
    "1",
    "--device",
    "cpu",
    "--recompute",
    "--save_total_limit",
    "2",
    "--weight_decay",
    "0.01",
    "--max_grad_norm",
    "0.5",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.deepEqual(o, {
    ...o,
    model_name: "m",
    output_dir: "o",
    train_file: "t.jsonl",
    eval_file: "e.jsonl",
    max_seq_length: 256,
    per_device_train_batch_size: 2,
    per_device_eval_batch_size: 8,
    gradient_accumulation_steps: 3,
    logging_steps: 5,
    num_train_epochs: 1.5,
    save_steps: 7,
    learning_rate: 1e-4,
    lora_rank: 8,
    lora_alpha: 16,
    lora_dropout: 0.1,
    eval_steps: 6,
    seed: 7,
    warmup_ratio: 0.1,
    lr_scheduler_type: "cosine",
    target_modules: ["q_proj", "v_proj"],
    resume_from_checkpoint: "o/checkpoint-7",
    max_steps: 40,
    threads: 1,
    device: "cpu",
    recompute: true,
    save_total_limit: 2,
    weight_decay: 0.01,
    max_grad_norm: 0.5,
  });
  assert.deepEqual(Object.keys(o).sort(), Object.values(PYTHON_OPTION_NAMES).sort());
  const bad = cli(["--lora_rank", "sixteen"]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /loraRank \(--lora_rank\) must be a finite number, got "sixteen"/);
  const camel = cli(["--learningRate", "1e-4"]);
  assert.equal(camel.status, 1);
  assert.match(camel.stderr, /Unknown argument/);
  const latest = JSON.parse(cli(["--resume_from_checkpoint"]).stdout);
  assert.equal(latest.resume_from_checkpoint, true);
  assert.equal(FINETUNE_DEFAULTS.maxSeqLength, 1024);
});

test("learning-rate schedules follow transformers' formulas", () => {
  const spec = { baseLr: 1, warmupSteps: 10, totalSteps: 110 };
  const lin = (s: number) => learningRateAt({ ...spec, type: "linear" }, s);
  assert.deepEqual([lin(0), lin(5), lin(10), lin(60), lin(110), lin(200)], [0, 0.5, 1, 0.5, 0, 0]);
  const cos = (s: number) => learningRateAt({ ...spec, type: "cosine" }, s);
  assert.equal(cos(5), 0.5);
  assert.equal(cos(10), 1);
  assert.ok(Math.abs(cos(60) - 0.5) < 1e-12);
  assert.ok(Math.abs(cos(110)) < 1e-12);
  assert.equal(learningRateAt({ ...spec, type: "constant" }, 0), 1); // transformers' "constant" ignores warmup
  assert.equal(learningRateAt({ ...spec, type: "constant_with_warmup" }, 5), 0.5);
  assert.equal(learningRateAt({ ...spec, type: "constant_with_warmup" }, 100), 1);
  assert.equal(warmupStepsFor(100, 0, 0.03), 3);
  assert.equal(warmupStepsFor(100, 7, 0.5), 7);
  assert.equal(updateStepsPerEpoch(10, 4), 3); // a partial accumulation window still steps
  assert.equal(totalTrainingSteps(-1, 3, 3), 9);
  assert.equal(totalTrainingSteps(-1, 0.5, 3), 2);
  assert.equal(totalTrainingSteps(5, 3, 3), 5);
});

test("data order: a seeded permutation per epoch, batches cover every example once", () => {
  const a = epochPermutation(50, 42, 0);
  assert.deepEqual(a, epochPermutation(50, 42, 0));
  assert.notDeepEqual(a, epochPermutation(50, 42, 1));
  assert.notDeepEqual(a, epochPermutation(50, 43, 0));
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i),
  );
  const b = epochBatches(10, 4, 1, 0);
  assert.deepEqual(
    b.map((x) => x.length),
    [4, 4, 2],
  );
});

test("JSON as Python's json.dumps(indent=2, sort_keys=True) writes it", () => {
  const cases: [number, string][] = [
    [0, "0.0"],
    [0.05, "0.05"],
    [2e-5, "2e-05"],
    [1e-4, "0.0001"],
    [1.5e-7, "1.5e-07"],
    [32, "32.0"],
    [1e16, "1e+16"],
    [123456.789, "123456.789"],
    [-0.5, "-0.5"],
    [1.2345678901234568e16, "1.2345678901234568e+16"],
    [NaN, "NaN"],
  ];
  for (const [x, s] of cases) assert.equal(pythonFloatRepr(x), s, String(x));
  assert.equal(
    pythonJsonDumps({ b: [1, "x"], a: { z: null, y: pyFloat(2) }, c: [], d: {}, é: "ü\n" }),
    '{\n  "a": {\n    "y": 2.0,\n    "z": null\n  },\n  "b": [\n    1,\n    "x"\n  ],\n  "c": [],\n  "d": {},\n  "\\u00e9": "\\u00fc\\n"\n}',
  );
});
