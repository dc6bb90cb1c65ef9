// `sqlfocus convert <input> <out.gguf>`: HF Qwen2 folder → GGUF (F32/F16/BF16), or a PEFT LoRA adapter folder →
// GGUF LoRA adapter (llama.cpp's format, to serve base GGUF + adapter without merging).
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { loraToGGUF, toGGUF, type GgufFloatType } from "../../gguf/index.js";
import { resolveModel } from "../../model/index.js";
import { progressBar } from "../shared.js";

interface ConvertArgs {
  input: string;
  output: string;
  type?: string;
  base?: string;
  name?: string;
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: "convert <input> <output>",
  describe: "Convert an HF Qwen2 folder to GGUF (F32/F16/BF16), or a LoRA adapter folder to a GGUF LoRA adapter",
  builder: (y: Argv) =>
    y
      .positional("input", {
        type: "string",
        describe: "HF model folder (or hub id), or PEFT adapter folder (adapter_config.json)",
      })
      .positional("output", { type: "string", describe: "output .gguf file" })
      .option("type", {
        type: "string",
        alias: "outtype",
        describe: "models: F32 | F16 | BF16 (default F16); adapters: F32 | F16 (default F32)",
      })
      .option("base", {
        type: "string",
        describe: "adapters: the base HF folder or base .gguf, to check the adapter fits it",
      })
      .option("name", {
        type: "string",
        describe: "general.name (default: the folder name)",
      }) as unknown as Argv<ConvertArgs>,
  handler: async (args) => {
    const isAdapter = existsSync(join(args.input, "adapter_config.json"));
    const type = (args.type ?? (isAdapter ? "F32" : "F16")).toUpperCase();
    if (isAdapter) {
      const t = type;
      if (t !== "F32" && t !== "F16") throw new Error(`--type for a LoRA adapter must be F32 or F16, got ${args.type}`);
      const r = await loraToGGUF({ adapter: args.input, out: args.output, base: args.base, type: t, name: args.name });
      console.log(`wrote ${r.path}: GGUF LoRA adapter, ${r.modules} modules, alpha ${r.alpha}`);
      return;
    }
    if (!["F32", "F16", "BF16"].includes(type))
      throw new Error(`--type must be F32, F16 or BF16 (use 'sqlfocus quantize' for Q4_K_M etc.), got ${args.type}`);
    let bar: ReturnType<typeof progressBar> | undefined;
    const r = await toGGUF({
      model: existsSync(args.input) ? args.input : (await resolveModel(args.input)).dir,
      out: args.output,
      type: type as GgufFloatType,
      name: args.name,
      onProgress: (done, total) => {
        bar ??= progressBar("convert", total);
        bar.update(done);
      },
    });
    bar?.stop();
    console.log(`wrote ${r.path}: ${r.type}, ${r.tensors} tensors`);
  },
};
