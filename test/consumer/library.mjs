// The README's library flow in a fresh project: a tiny model, a few LoRA steps, merge. Run by scripts/consumer-check.sh
// from the scratch project's folder, where `sqlfocus` is an installed dependency.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { finetune, initTinyModel, merge } from "sqlfocus";

await initTinyModel("model/tiny-qwen2", { seed: 7 });
const pairs = [
  ["How many customers are there?", "SELECT count(*) FROM customer"],
  ["List the names of all products.", "SELECT name FROM product"],
  ["What is the most expensive product?", "SELECT name FROM product ORDER BY price DESC LIMIT 1"],
  ["How many orders were placed in 2024?", "SELECT count(*) FROM orders WHERE year = 2024"],
];
const schema =
  "CREATE TABLE customer(id INT, name TEXT); CREATE TABLE product(id INT, name TEXT, price REAL); CREATE TABLE orders(id INT, year INT);";
writeFileSync(
  "train.jsonl",
  pairs.map(([question, query]) => JSON.stringify({ question, db_schema: schema, query })).join("\n") + "\n",
);

const run = await finetune({
  modelName: "./model/tiny-qwen2",
  trainFile: "train.jsonl",
  outputDir: "output",
  saveModelDir: "save-model",
  maxSteps: 3,
  maxSeqLength: 256,
  perDeviceTrainBatchSize: 2,
  loggingSteps: 1,
});
assert.equal(run.adapterDir, "save-model");
assert.ok(existsSync("save-model/adapter_model.safetensors"));
const merged = await merge({ base: "./model/tiny-qwen2", adapter: run.adapterDir, out: "./new-model" });
assert.ok(merged.merged > 0);
assert.ok(JSON.parse(readFileSync("new-model/config.json", "utf8")).num_hidden_layers > 0);
assert.equal(run.globalStep, 3);
console.log(`library: finetune ${run.globalStep} steps, merged ${merged.merged} modules into ${merged.out}`);
