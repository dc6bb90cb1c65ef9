// A PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) → a GGUF LoRA adapter in llama.cpp's format:
// general.type "adapter", adapter.type "lora", adapter.lora.alpha, tensors "<gguf weight name>.lora_a" (PyTorch
// [r, in] → ne [in, r]) and ".lora_b" ([out, r] → ne [r, out]). llama.cpp scales by alpha / rank per module; modules
// whose PEFT scale differs from that (rslora, alpha_pattern) get the difference folded into B.
import { basename, resolve } from "node:path";
import { fromFloat32, readAdapter, readQwen2Config } from "../model/index.js";
import { expectedQwen2Shapes, ggufTensorName } from "./convert.js";
import { checkOutputFile } from "../files/index.js";
import { kv, writeGguf, type GgufTensorSpec } from "./file.js";
import { isGgufFile, openGgufModel } from "./model.js";

export interface LoraToGgufOptions {
  /** PEFT adapter folder. */
  adapter: string;
  /** Output .gguf path. */
  out: string;
  /** Base HF folder or base GGUF file: when given, every adapted module is checked against its shapes first. */
  base?: string;
  /** Tensor type (default F32). */
  type?: "F32" | "F16";
  name?: string;
}

export interface LoraToGgufResult {
  path: string;
  modules: number;
  alpha: number;
}

export async function loraToGGUF(opts: LoraToGgufOptions): Promise<LoraToGgufResult> {
  const adapter = readAdapter(opts.adapter);
  const type = opts.type ?? "F32";
  if (type !== "F32" && type !== "F16")
    throw new Error(`LoRA GGUF type must be F32 or F16, got ${JSON.stringify(type)}`);
  const expected = opts.base
    ? expectedQwen2Shapes(isGgufFile(opts.base) ? openGgufModel(opts.base).config : readQwen2Config(opts.base))
    : null;
  const alpha = adapter.loraAlpha;
  const tensors: GgufTensorSpec[] = [];
  for (const m of adapter.modules) {
    const g = ggufTensorName(`${m.module}.weight`);
    if (!g) throw new Error(`${opts.adapter}: adapted module ${m.module} is not a Qwen2 linear layer`);
    const [r, inDim] = m.a.shape;
    const [outDim] = m.b.shape;
    if (expected) {
      const w = expected.get(`${m.module}.weight`);
      if (!w) throw new Error(`${opts.adapter}: module ${m.module} does not exist in the base model ${opts.base}`);
      if (w[0] !== outDim || w[1] !== inDim) {
        throw new Error(
          `${opts.adapter}: module ${m.module} adapts a [${outDim}, ${inDim}] weight, but the base model's is [${w}]`,
        );
      }
    }
    const factor = m.scale / (alpha / r);
    const b = Math.abs(factor - 1) < 1e-7 ? m.b.data : m.b.data.map((x) => x * factor);
    tensors.push(
      { name: `${g}.lora_a`, dims: [inDim, r], type, data: () => [fromFloat32(m.a.data, type)] },
      { name: `${g}.lora_b`, dims: [r, outDim], type, data: () => [fromFloat32(b, type)] },
    );
  }
  if (!tensors.length) throw new Error(`${opts.adapter}: the adapter has no LoRA tensors`);
  const metadata = [
    kv.str("general.architecture", "qwen2"),
    kv.str("general.type", "adapter"),
    kv.str("general.name", opts.name ?? basename(resolve(opts.adapter))),
    kv.str("adapter.type", "lora"),
    kv.f32("adapter.lora.alpha", alpha),
    kv.u32("general.quantization_version", 2),
  ];
  checkOutputFile(opts.out, "output .gguf");
  writeGguf(opts.out, metadata, tensors);
  return { path: opts.out, modules: adapter.modules.length, alpha };
}
