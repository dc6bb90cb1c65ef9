// Writes the parity inputs for make_reference.py into a folder: model.safetensors (the tiny Qwen2's base
// weights, F32, HF names), adapter_model.safetensors (LoRA A/B, PEFT names, B non-zero) and batch.json (ids,
// labels, config, LoRA rank/alpha). Everything is regenerated from seeds, so nothing large is committed.
// Usage: npx tsx test/parity/write-inputs.ts <dir>
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { f32Tensor, writeSafetensorsFileSync, type F32Tensor } from "../../src/model/index.js";
import { parityCase } from "./parity-case.js";

const dir = process.argv[2];
if (!dir) throw new Error("usage: write-inputs.ts <dir>");
mkdirSync(dir, { recursive: true });
const c = parityCase();
const f32File = (path: string, tensors: F32Tensor[]) =>
  writeSafetensorsFileSync(path, tensors.map(f32Tensor), { metadata: { format: "pt" } });
f32File(
  join(dir, "model.safetensors"),
  [...c.weights].map(([name, data]) => ({ name, shape: c.shapes.get(name)!, data })),
);
f32File(join(dir, "adapter_model.safetensors"), c.lora);
writeFileSync(
  join(dir, "batch.json"),
  JSON.stringify({
    config: c.config,
    rank: c.rank,
    alpha: c.alpha,
    batch: c.batch,
    seqLen: c.seqLen,
    inputIds: [...c.inputIds],
    labels: [...c.labels],
  }),
);
console.log(`parity inputs written to ${dir}`);
