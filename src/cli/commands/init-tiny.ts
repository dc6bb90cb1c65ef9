// `sqlfocus init-tiny <dir>`: writes a seeded random Qwen2 model (HF format, Qwen2.5 tokenizer) for demos and tests.
import type { Argv, CommandModule } from "yargs";
import { initTinyModel, TINY_DEFAULTS, type TinyDtype } from "../../model/index.js";

interface InitTinyArgs {
  dir: string;
  seed: number;
  tied: boolean;
  dtype: string;
  layers: number;
  hidden: number;
  intermediate: number;
  heads: number;
  "kv-heads": number;
  "max-shard-size"?: number;
  overwrite: boolean;
}

export const initTinyCommand: CommandModule<object, InitTinyArgs> = {
  command: "init-tiny <dir>",
  describe: "Write a tiny seeded random Qwen2 model (HF folder with the Qwen2.5 tokenizer) for demos and tests",
  builder: (y: Argv) =>
    y
      .positional("dir", { type: "string", demandOption: true, describe: "output folder (e.g. model/tiny-qwen2)" })
      .option("seed", { type: "number", default: TINY_DEFAULTS.seed, describe: "random seed: same seed → same bytes" })
      .option("tied", {
        type: "boolean",
        default: TINY_DEFAULTS.tied,
        describe: "tie lm_head to the embeddings (as Qwen2.5-0.5B)",
      })
      .option("dtype", {
        type: "string",
        choices: ["bf16", "f16", "f32"],
        default: TINY_DEFAULTS.dtype,
        describe: "weight dtype",
      })
      .option("layers", { type: "number", default: TINY_DEFAULTS.layers, describe: "decoder layers" })
      .option("hidden", {
        type: "number",
        default: TINY_DEFAULTS.hidden,
        describe: "hidden size (keep a multiple of 256 for k-quants)",
      })
      .option("intermediate", {
        type: "number",
        default: TINY_DEFAULTS.intermediate,
        describe: "MLP size (keep a multiple of 256)",
      })
      .option("heads", { type: "number", default: TINY_DEFAULTS.heads, describe: "attention heads" })
      .option("kv-heads", { type: "number", default: TINY_DEFAULTS.kvHeads, describe: "key/value heads (GQA)" })
      .option("max-shard-size", {
        type: "number",
        describe: "split the weights into shards of at most this many bytes",
      })
      .option("overwrite", {
        type: "boolean",
        default: false,
        describe: "replace a non-empty folder",
      }) as unknown as Argv<InitTinyArgs>,
  handler: async (args) => {
    const t0 = Date.now();
    const info = await initTinyModel(args.dir, {
      seed: args.seed,
      tied: args.tied,
      dtype: args.dtype as TinyDtype,
      layers: args.layers,
      hidden: args.hidden,
      intermediate: args.intermediate,
      heads: args.heads,
      kvHeads: args["kv-heads"],
      maxShardSize: args["max-shard-size"],
      overwrite: args.overwrite,
    });
    const m = (n: number) => (n / 1e6).toFixed(2);
    process.stdout.write(
      `wrote ${info.dir}: ${m(info.parameters)}M parameters (${m(info.nonEmbeddingParameters)}M besides the embeddings), ` +
        `${info.tensors} tensors, ${(info.bytes / 2 ** 20).toFixed(1)} MiB of ${args.dtype} weights, in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
    );
  },
};
