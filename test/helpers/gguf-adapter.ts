// A random PEFT LoRA adapter for a tiny model (B non-zero, so merging changes the weights), saved with src/model.
import { writeAdapter, type LoraTensor } from "../../src/model/index.js";
import { gaussian } from "./gguf-tiny.js";

export interface RandomAdapterOptions {
  layers: number;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  rank?: number;
  alpha?: number;
  targets?: string[];
  useRslora?: boolean;
  seed?: number;
  vocab?: number;
}

const DIMS = (o: RandomAdapterOptions): Record<string, [string, number, number]> => {
  const hd = o.hidden / o.heads;
  return {
    q_proj: ["self_attn", o.heads * hd, o.hidden],
    k_proj: ["self_attn", o.kvHeads * hd, o.hidden],
    v_proj: ["self_attn", o.kvHeads * hd, o.hidden],
    o_proj: ["self_attn", o.hidden, o.heads * hd],
    gate_proj: ["mlp", o.intermediate, o.hidden],
    up_proj: ["mlp", o.intermediate, o.hidden],
    down_proj: ["mlp", o.hidden, o.intermediate],
  };
};

export async function writeRandomAdapter(
  dir: string,
  o: RandomAdapterOptions,
): Promise<{ tensors: LoraTensor[]; scale: number; rank: number }> {
  const rank = o.rank ?? 4;
  const alpha = o.alpha ?? 8;
  const targets = o.targets ?? ["q_proj", "v_proj", "down_proj"];
  const rnd = gaussian(o.seed ?? 99);
  const tensors: LoraTensor[] = [];
  const dims = DIMS(o);
  const add = (module: string, outDim: number, inDim: number) => {
    const a = new Float32Array(rank * inDim).map(() => rnd() / Math.sqrt(inDim));
    const b = new Float32Array(outDim * rank).map(() => 0.5 * rnd());
    tensors.push({ name: `base_model.model.${module}.lora_A.weight`, shape: [rank, inDim], data: a });
    tensors.push({ name: `base_model.model.${module}.lora_B.weight`, shape: [outDim, rank], data: b });
  };
  for (let l = 0; l < o.layers; l++) {
    for (const t of targets) {
      if (t === "lm_head") continue;
      const [kind, outDim, inDim] = dims[t];
      add(`model.layers.${l}.${kind}.${t}`, outDim, inDim);
    }
  }
  if (targets.includes("lm_head")) add("lm_head", o.vocab ?? 151936, o.hidden);
  await writeAdapter(
    dir,
    {
      baseModelNameOrPath: "tiny",
      r: rank,
      loraAlpha: alpha,
      loraDropout: 0,
      targetModules: targets,
      useRslora: o.useRslora,
    },
    tensors,
  );
  return { tensors, rank, scale: o.useRslora ? alpha / Math.sqrt(rank) : alpha / rank };
}
