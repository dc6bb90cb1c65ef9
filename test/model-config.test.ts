import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseQwen2Config, readQwen2Config, writeQwen2Config } from "../src/model/config.js";

// Qwen2.5-0.5B-Instruct's config.json (as published)
const QWEN25_05B = {
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: "silu",
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: "qwen2",
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.43.1",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

test("reads a real Qwen2.5 config.json", () => {
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-cfg-"));
  writeFileSync(join(dir, "config.json"), JSON.stringify(QWEN25_05B, null, 2));
  const c = readQwen2Config(dir);
  assert.equal(c.vocabSize, 151936);
  assert.equal(c.hiddenSize, 896);
  assert.equal(c.intermediateSize, 4864);
  assert.equal(c.numHiddenLayers, 24);
  assert.equal(c.numAttentionHeads, 14);
  assert.equal(c.numKeyValueHeads, 2);
  assert.equal(c.headDim, 64);
  assert.equal(c.ropeTheta, 1e6);
  assert.equal(c.rmsNormEps, 1e-6);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.maxPositionEmbeddings, 32768);
  assert.equal(c.torchDtype, "bfloat16");
  assert.equal(c.bosTokenId, 151643);
  assert.equal(c.eosTokenId, 151645);
  assert.equal(c.raw.transformers_version, "4.43.1");
});

test("write then read gives the same config; keys sorted like transformers", () => {
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-cfg-"));
  const c = parseQwen2Config(QWEN25_05B);
  writeQwen2Config(dir, c);
  const text = readFileSync(join(dir, "config.json"), "utf8");
  const keys = Object.keys(JSON.parse(text));
  assert.deepEqual(keys, [...keys].sort());
  assert.ok(text.endsWith("}\n"));
  const back = readQwen2Config(dir);
  const { raw: _a, ...x } = back;
  const { raw: _b, ...y } = c;
  assert.deepEqual(x, y);
  assert.deepEqual(JSON.parse(text), QWEN25_05B);
});

test("validation names the file and the field", () => {
  const f = "/m/config.json";
  const bad = (patch: Record<string, unknown>, re: RegExp) =>
    assert.throws(() => parseQwen2Config({ ...QWEN25_05B, ...patch }, f), re);
  bad({ hidden_size: undefined }, /\/m\/config\.json: field 'hidden_size' is missing/);
  bad({ hidden_size: "896" }, /field 'hidden_size' must be a positive integer, got "896"/);
  bad({ vocab_size: -1 }, /field 'vocab_size' must be a positive integer/);
  bad({ num_attention_heads: 5 }, /field 'num_attention_heads' \(5\) must divide hidden_size \(896\)/);
  bad({ num_key_value_heads: 3 }, /field 'num_key_value_heads' \(3\) must divide num_attention_heads \(14\)/);
  bad({ model_type: "llama" }, /field 'model_type' must be "qwen2"/);
  bad({ architectures: ["LlamaForCausalLM"] }, /field 'architectures' must include "Qwen2ForCausalLM"/);
  bad({ tie_word_embeddings: "yes" }, /field 'tie_word_embeddings' must be true or false/);
  bad({ torch_dtype: "int8" }, /field 'torch_dtype' must be "bfloat16", "float16" or "float32"/);
  bad({ rms_norm_eps: 0 }, /field 'rms_norm_eps' must be a positive number/);
  bad({ eos_token_id: [1, "x"] }, /field 'eos_token_id' must be a token id or a list/);
  bad({ hidden_act: "gelu" }, /field 'hidden_act' must be "silu"/);
  bad({ rope_scaling: { type: "yarn", factor: 4 } }, /field 'rope_scaling' is not supported/);
  assert.throws(() => parseQwen2Config([], f), /\/m\/config\.json: not a JSON object/);
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-cfg-"));
  assert.throws(() => readQwen2Config(dir), /config\.json: missing/);
  writeFileSync(join(dir, "config.json"), "{ nope");
  assert.throws(() => readQwen2Config(dir), /config\.json: not valid JSON/);
  // defaults: key/value heads default to attention heads; dtype field spelled "dtype" (transformers ≥ 4.56)
  const c = parseQwen2Config({
    ...QWEN25_05B,
    num_key_value_heads: undefined,
    torch_dtype: undefined,
    dtype: "float32",
  });
  assert.equal(c.numKeyValueHeads, 14);
  assert.equal(c.torchDtype, "float32");
});

test("config.json text is what transformers writes (json.dumps indent=2, sort_keys; Python floats)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-cfg-"));
  writeQwen2Config(dir, parseQwen2Config(QWEN25_05B));
  // Written out by hand from Python's json.dumps(config, indent=2, sort_keys=True) + "\n" rules.
  const expected = `{
  "architectures": [
    "Qwen2ForCausalLM"
  ],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "hidden_act": "silu",
  "hidden_size": 896,
  "initializer_range": 0.02,
  "intermediate_size": 4864,
  "max_position_embeddings": 32768,
  "max_window_layers": 21,
  "model_type": "qwen2",
  "num_attention_heads": 14,
  "num_hidden_layers": 24,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 32768,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
}
`;
  assert.equal(readFileSync(join(dir, "config.json"), "utf8"), expected);
});
