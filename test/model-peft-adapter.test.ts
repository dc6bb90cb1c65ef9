// PEFT adapter folders (src/model/peft-adapter.ts): adapter_config.json byte for byte as PEFT 0.18.1 writes it,
// safetensors layout, and readAdapter on a Python-PEFT-style adapter (BF16/F16 tensors, adapter name in tensor names,
// rank/alpha patterns).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  fromFloat32,
  peftAdapterConfigJson,
  readAdapter,
  serializeSafetensors,
  writeAdapter,
  type LoraTensor,
} from "../src/model/index.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-peft-adapter-"));
after(() => rmSync(root, { recursive: true, force: true }));

// What PEFT 0.18.1's LoraConfig.save_pretrained writes for LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
// target_modules=[…seven…], task_type="CAUSAL_LM") on a model loaded from "Qwen/Qwen2.5-Coder-0.5B"
// (json.dumps(indent=2, sort_keys=True), no trailing newline).
const PEFT_0_18_1_CONFIG = `{
  "alora_invocation_tokens": null,
  "alpha_pattern": {},
  "arrow_config": null,
  "auto_mapping": null,
  "base_model_name_or_path": "Qwen/Qwen2.5-Coder-0.5B",
  "bias": "none",
  "corda_config": null,
  "ensure_weight_tying": false,
  "eva_config": null,
  "exclude_modules": null,
  "fan_in_fan_out": false,
  "inference_mode": true,
  "init_lora_weights": true,
  "layer_replication": null,
  "layers_pattern": null,
  "layers_to_transform": null,
  "loftq_config": {},
  "lora_alpha": 32,
  "lora_bias": false,
  "lora_dropout": 0.05,
  "megatron_config": null,
  "megatron_core": "megatron.core",
  "modules_to_save": null,
  "peft_type": "LORA",
  "peft_version": "0.18.1",
  "qalora_group_size": 16,
  "r": 16,
  "rank_pattern": {},
  "revision": null,
  "target_modules": [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj"
  ],
  "target_parameters": null,
  "task_type": "CAUSAL_LM",
  "trainable_token_indices": null,
  "use_dora": false,
  "use_qalora": false,
  "use_rslora": false
}`;

const SEVEN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

test("adapter_config.json is PEFT's text, byte for byte", () => {
  assert.equal(
    peftAdapterConfigJson({
      baseModelNameOrPath: "Qwen/Qwen2.5-Coder-0.5B",
      r: 16,
      loraAlpha: 32,
      loraDropout: 0.05,
      targetModules: SEVEN,
    }),
    PEFT_0_18_1_CONFIG,
  );
  const zero = peftAdapterConfigJson({
    baseModelNameOrPath: null,
    r: 8,
    loraAlpha: 16,
    loraDropout: 0,
    targetModules: ["q_proj"],
    useRslora: true,
  });
  assert.match(zero, /"lora_dropout": 0\.0,/); // Python writes float 0.0
  assert.match(zero, /"base_model_name_or_path": null,/);
  assert.match(zero, /"use_rslora": true\n}$/);
});

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) a[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5;
  return a;
}

test("writeAdapter → readAdapter round trip; safetensors laid out as Python's (sorted names, aligned header)", async () => {
  const tensors: LoraTensor[] = [];
  for (const layer of [0, 10, 2]) {
    tensors.push({
      name: `base_model.model.model.layers.${layer}.self_attn.q_proj.lora_A.weight`,
      shape: [4, 8],
      data: rand(32, layer + 1),
    });
    tensors.push({
      name: `base_model.model.model.layers.${layer}.self_attn.q_proj.lora_B.weight`,
      shape: [8, 4],
      data: rand(32, layer + 7),
    });
  }
  const dir = join(root, "ours");
  await writeAdapter(
    dir,
    { baseModelNameOrPath: "m", r: 4, loraAlpha: 8, loraDropout: 0.1, targetModules: ["q_proj"] },
    tensors,
  );
  const bytes = readFileSync(join(dir, "adapter_model.safetensors"));
  const headerLen = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + headerLen) % 8, 0);
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString());
  assert.deepEqual(header.__metadata__, { format: "pt" });
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  assert.deepEqual(names, [...names].sort());
  assert.deepEqual(header[names[0]], { dtype: "F32", shape: [4, 8], data_offsets: [0, 128] });
  const back = readAdapter(dir);
  assert.equal(back.r, 4);
  assert.equal(back.modules.length, 3);
  for (const t of tensors) assert.deepEqual(back.tensors.find((x) => x.name === t.name)?.data, t.data);
  assert.equal(back.scaleFor("model.layers.0.self_attn.q_proj"), 2);
});

/** A safetensors file as Python writes it, with BF16 tensors. */
function writeBf16Safetensors(path: string, tensors: { name: string; shape: number[]; data: Float32Array }[]) {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let off = 0;
  const blobs: Buffer[] = [];
  for (const t of tensors) {
    const b = Buffer.alloc(t.data.length * 2);
    const u = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    for (let i = 0; i < t.data.length; i++) b.writeUInt16LE(u[i] >>> 16, 2 * i);
    header[t.name] = { dtype: "BF16", shape: t.shape, data_offsets: [off, off + b.length] };
    off += b.length;
    blobs.push(b);
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, ...blobs]));
}

test("readAdapter reads a Python PEFT adapter: BF16, adapter name in names, rank/alpha patterns, rslora", () => {
  const dir = join(root, "python");
  mkdirSync(dir);
  const cfg = JSON.parse(PEFT_0_18_1_CONFIG);
  Object.assign(cfg, {
    r: 8,
    lora_alpha: 16,
    use_rslora: true,
    rank_pattern: { down_proj: 4 },
    alpha_pattern: { "layers\\.1\\.mlp\\.down_proj": 2 },
  });
  writeFileSync(join(dir, "adapter_config.json"), JSON.stringify(cfg));
  const t = (layer: number, mod: string, rank: number, inDim: number, outDim: number) => [
    {
      name: `base_model.model.model.layers.${layer}.${mod}.lora_A.default.weight`,
      shape: [rank, inDim],
      data: rand(rank * inDim, layer),
    },
    {
      name: `base_model.model.model.layers.${layer}.${mod}.lora_B.weight`,
      shape: [outDim, rank],
      data: rand(rank * outDim, layer + 3),
    },
  ];
  writeBf16Safetensors(join(dir, "adapter_model.safetensors"), [
    ...t(0, "self_attn.q_proj", 8, 16, 16),
    ...t(1, "mlp.down_proj", 4, 32, 16),
  ]);
  const a = readAdapter(dir);
  assert.deepEqual(
    a.modules.map((m) => [m.module, m.rank, m.alpha]),
    [
      ["model.layers.0.self_attn.q_proj", 8, 16],
      ["model.layers.1.mlp.down_proj", 4, 2],
    ],
  );
  assert.equal(a.scaleFor("model.layers.0.self_attn.q_proj"), 16 / Math.sqrt(8));
  assert.equal(a.scaleFor("model.layers.1.mlp.down_proj"), 2 / Math.sqrt(4));
  assert.equal(a.tensors[0].name, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  const src = rand(8 * 16, 0);
  assert.ok(
    a.tensors[0].data.every((x, i) => Math.abs(x - src[i]) <= Math.abs(src[i]) / 128),
    "BF16 → F32 within bf16 precision",
  );

  // Clear errors naming file and field.
  const bad = join(root, "bad");
  mkdirSync(bad);
  writeFileSync(join(bad, "adapter_config.json"), JSON.stringify({ ...cfg, use_dora: true }));
  assert.throws(
    () => readAdapter(bad),
    /bad[\\/]adapter_config\.json: field use_dora is true: DoRA adapters are not supported/,
  );
  writeFileSync(join(bad, "adapter_config.json"), JSON.stringify({ ...cfg, peft_type: "IA3" }));
  assert.throws(() => readAdapter(bad), /field peft_type must be "LORA"/);
  writeFileSync(join(bad, "adapter_config.json"), JSON.stringify(cfg));
  writeFileSync(join(bad, "adapter_model.bin"), "pickle");
  assert.throws(() => readAdapter(bad), /only adapter_model\.bin \(PyTorch pickle\)/);
  assert.throws(() => readAdapter(join(root, "nowhere")), /adapter_config\.json: not found/);
});

test("readAdapter reads F16 tensors (an adapter saved from a half-precision model)", () => {
  const dir = join(root, "f16");
  mkdirSync(dir);
  writeFileSync(
    join(dir, "adapter_config.json"),
    JSON.stringify({ ...JSON.parse(PEFT_0_18_1_CONFIG), r: 2, lora_alpha: 4 }),
  );
  const a = rand(2 * 8, 11);
  const b = rand(8 * 2, 12);
  const f16 = (name: string, shape: number[], data: Float32Array) => ({
    name,
    dtype: "F16" as const,
    shape,
    data: fromFloat32(data, "F16"),
  });
  writeFileSync(
    join(dir, "adapter_model.safetensors"),
    serializeSafetensors(
      [
        f16("base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight", [2, 8], a),
        f16("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", [8, 2], b),
      ],
      { format: "pt" },
    ),
  );
  const got = readAdapter(dir);
  assert.deepEqual(
    got.modules.map((m) => [m.module, m.rank, m.scale]),
    [["model.layers.0.self_attn.v_proj", 2, 2]],
  );
  const m = got.modules[0];
  assert.ok(
    m.a.data.every((x, i) => Math.abs(x - a[i]) <= Math.abs(a[i]) / 1024),
    "F16 → F32 within f16 precision",
  );
  assert.ok(m.b.data.every((x, i) => Math.abs(x - b[i]) <= Math.abs(b[i]) / 1024));
  assert.notDeepEqual(m.a.data, new Float32Array(16));
});

test("writeAdapter never replaces a file with the adapter folder", async () => {
  const file = join(root, "not-a-folder.txt");
  writeFileSync(file, "keep me\n");
  const tensors: LoraTensor[] = [
    { name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", shape: [2, 4], data: rand(8, 1) },
    { name: "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", shape: [4, 2], data: rand(8, 2) },
  ];
  await assert.rejects(
    writeAdapter(
      file,
      { baseModelNameOrPath: "m", r: 2, loraAlpha: 4, loraDropout: 0, targetModules: ["q_proj"] },
      tensors,
    ),
    (err: Error) =>
      err.message === `${file}: exists and is not a folder (refusing to replace it with the output folder)`,
  );
  assert.equal(readFileSync(file, "utf8"), "keep me\n");
});
