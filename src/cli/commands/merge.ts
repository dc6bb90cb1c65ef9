// `sqlfocus merge`: base HF folder + PEFT LoRA adapter → merged HF folder (W' = W + scale·B·A), streamed.
import type { Argv, CommandModule } from "yargs";
import { existsSync } from "node:fs";
import { merge, resolveModel } from "../../model/index.js";
import { progressBar } from "../shared.js";

interface MergeArgs {
  base: string;
  adapter: string;
  out: string;
  "max-shard-size"?: string;
}

/** "5GB", "500MB", "2000000" → bytes (decimal units, as transformers). */
export function parseByteSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?\s*$/i.exec(s);
  if (!m) throw new Error(`not a size: ${JSON.stringify(s)} (e.g. 5GB, 500MB)`);
  const mult = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[(m[2] ?? "B").toUpperCase() as "B"];
  return Math.round(Number(m[1]) * mult);
}

export const mergeCommand: CommandModule<object, MergeArgs> = {
  command: "merge",
  describe: "Merge a LoRA adapter into its base model (a complete HF folder in the base dtype)",
  builder: (y: Argv) =>
    y
      .option("base", {
        type: "string",
        default: "model",
        describe: "base HF Qwen2 folder or hub id (HF cache, ./model, download)",
      })
      .option("adapter", {
        type: "string",
        alias: ["lora", "lora-path"],
        default: "save-model",
        describe: "PEFT LoRA adapter folder",
      })
      .option("out", {
        type: "string",
        alias: ["output", "save-path"],
        default: "new-model",
        describe: "merged model folder (replaced if it exists)",
      })
      .option("max-shard-size", {
        type: "string",
        describe: "largest safetensors shard (default 5GB)",
      }) as unknown as Argv<MergeArgs>,
  handler: async (args) => {
    const maxShardSize = args["max-shard-size"] ? parseByteSize(args["max-shard-size"]) : undefined;
    let bar: ReturnType<typeof progressBar> | undefined;
    const r = await merge({
      base: existsSync(args.base) ? args.base : (await resolveModel(args.base)).dir,
      adapter: args.adapter,
      out: args.out,
      maxShardSize,
      onProgress: (done, total) => {
        bar ??= progressBar("merge", total);
        bar.update(done);
      },
    });
    bar?.stop();
    console.log(
      `merged ${r.merged} modules into ${r.out} (${r.files.length} weight file(s)${r.untied ? "; lm_head untied from the embeddings" : ""})`,
    );
  },
};
