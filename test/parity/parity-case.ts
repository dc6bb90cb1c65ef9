// The parity case shared by write-inputs.ts (for the PyTorch reference) and test/engine-parity.test.ts: the
// tiny Qwen2 (GQA, q/k/v bias, untied head), LoRA r4/alpha 8 on all seven projections with non-zero B, and a
// right-padded batch with masked prompts.
import type { LoraTensor } from "../../src/model/index.js";
import { qwen2TensorShapes, randomBatch, seededRandom, TINY_CONFIG, tinyWeightsF32 } from "./tiny-model.js";

export function parityCase() {
  const config = TINY_CONFIG;
  const weights = tinyWeightsF32(config, 1234);
  const shapes = new Map(qwen2TensorShapes(config));
  const rank = 4;
  const alpha = 8;
  const H = config.hiddenSize;
  const q = config.numHeads * (H / config.numHeads);
  const kv = config.numKvHeads * (H / config.numHeads);
  const I = config.intermediateSize;
  const dims: Record<string, [string, number, number]> = {
    q_proj: ["self_attn", H, q],
    k_proj: ["self_attn", H, kv],
    v_proj: ["self_attn", H, kv],
    o_proj: ["self_attn", q, H],
    gate_proj: ["mlp", H, I],
    up_proj: ["mlp", H, I],
    down_proj: ["mlp", I, H],
  };
  const rand = seededRandom(99);
  const lora: LoraTensor[] = [];
  for (let l = 0; l < config.numLayers; l++)
    for (const [m, [kind, inDim, outDim]] of Object.entries(dims)) {
      const p = `base_model.model.model.layers.${l}.${kind}.${m}`;
      lora.push({
        name: `${p}.lora_A.weight`,
        shape: [rank, inDim],
        data: new Float32Array(rank * inDim).map(() => (rand() * 2 - 1) / Math.sqrt(inDim)),
      });
      lora.push({
        name: `${p}.lora_B.weight`,
        shape: [outDim, rank],
        data: new Float32Array(outDim * rank).map(() => (rand() * 2 - 1) * 0.2),
      });
    }
  const batch = 3;
  const seqLen = 12;
  const { inputIds, labels } = randomBatch(config, batch, seqLen, 2024);
  return { config, weights, shapes, lora, rank, alpha, batch, seqLen, inputIds, labels };
}
