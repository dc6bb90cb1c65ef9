// A TypeScript consumer, type-checked by scripts/consumer-check.sh with strict tsc and no skipLibCheck against the
// typings shipped in the package (and only the dependencies the package itself installs, plus @types/node).
import { finetune, merge, mschema, quantize, type FinetuneOptions, type QuantizeOptions } from "sqlfocus";

const options: FinetuneOptions = { modelName: "./model/tiny-qwen2", trainFile: "train.jsonl", loraRank: 8 };
export async function road(): Promise<string> {
  const run = await finetune(options);
  const out = await merge({ base: "./model/tiny-qwen2", adapter: run.adapterDir ?? "save-model", out: "./new-model" });
  const q: QuantizeOptions = { input: out.out, output: "model.gguf", type: "Q4_K_M" };
  const result = await quantize(q);
  const schema = await mschema({ sqlite: "shop.sqlite" });
  return `${result.output} ${result.bytes} ${schema.text.length}`;
}
