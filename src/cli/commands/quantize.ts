// `sqlfocus quantize <model-folder|f16.gguf> <out.gguf> --type Q4_K_M`: llama.cpp's quantizer (through the addon);
// from an HF folder it converts and quantizes in one command, leaving no F16 file. Writes an Ollama Modelfile beside.
import { existsSync } from "node:fs";
import type { Argv, CommandModule } from "yargs";
import { resolveModel } from "../../model/index.js";
import { DEFAULT_QUANT_TYPE, FILE_TYPES, parseFileType, quantize } from "../../gguf/index.js";
import { progressBar } from "../shared.js";

interface QuantizeArgs {
  input: string;
  output: string;
  type: string;
  threads?: number;
  "allow-requantize": boolean;
  modelfile: boolean;
  streaming: boolean;
}

export const quantizeCommand: CommandModule<object, QuantizeArgs> = {
  command: "quantize <input> <output>",
  describe:
    "Quantize an HF Qwen2 folder or a GGUF with llama.cpp's quantizer (default Q4_K_M) and write an Ollama Modelfile",
  builder: (y: Argv) =>
    y
      .positional("input", { type: "string", describe: "HF model folder (or hub id) or GGUF file" })
      .positional("output", { type: "string", describe: "output .gguf file" })
      .option("type", {
        type: "string",
        default: DEFAULT_QUANT_TYPE,
        describe: `one of ${Object.keys(FILE_TYPES).join(", ")}`,
      })
      .option("threads", { type: "number", describe: "quantizer threads (default: all cores)" })
      .option("allow-requantize", { type: "boolean", default: false, describe: "allow an already quantized input" })
      .option("streaming", {
        type: "boolean",
        default: true,
        describe:
          "from an HF folder: quantize tensor by tensor with ggml_quantize_chunk, no temporary GGUF (--no-streaming: temporary GGUF + llama_model_quantize; same bytes)",
      })
      .option("modelfile", {
        type: "boolean",
        default: true,
        describe: "write an Ollama Modelfile beside the output (--no-modelfile to skip)",
      })
      .check((a) => {
        if (a.threads !== undefined && (!Number.isInteger(a.threads) || a.threads < 1))
          throw new Error("--threads must be a positive integer");
        return true;
      }) as unknown as Argv<QuantizeArgs>,
  handler: async (args) => {
    let bar: ReturnType<typeof progressBar> | undefined;
    // A Hugging Face repo id (e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct) resolves through the HF cache / ./model / download.
    const input = existsSync(args.input) ? args.input : (await resolveModel(args.input)).dir;
    const r = await quantize({
      input,
      output: args.output,
      type: parseFileType(args.type),
      threads: args.threads,
      allowRequantize: args["allow-requantize"],
      modelfile: args.modelfile,
      streaming: args.streaming,
      onProgress: (f) => {
        bar ??= progressBar(`quantize ${args.type}`, 100);
        bar.update(Math.round(f * 100));
      },
    });
    bar?.stop();
    const types = Object.entries(r.tensorTypes)
      .map(([k, v]) => `${k}×${v}`)
      .join(" ");
    console.log(
      `wrote ${r.output}: ${r.type}, ${(r.bytes / 1e6).toFixed(1)} MB (${types}) in ${r.seconds.toFixed(1)} s`,
    );
    if (r.modelfile) console.log(`wrote ${r.modelfile} (ollama create <name> -f ${r.modelfile})`);
  },
};
