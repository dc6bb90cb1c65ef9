// The benchmarks' random Qwen2 base weights in F32 (seeded): embeddings uniform in ±1, matrices in ±1/sqrt(fan-in),
// norms 1, biases like matrices. The engine casts them to the benchmark's dtype (engineWeights).
import type { EngineModelConfig } from "../../src/train/native.js";
import { seededRandom } from "../../test/parity/tiny-model.js";

export function randomWeights(cfg: EngineModelConfig): Map<string, Float32Array> {
  const { hiddenSize: H, numHeads: NH, numKvHeads: KV, intermediateSize: I, vocabSize: V, numLayers: L } = cfg;
  const rand = seededRandom(1);
  const D = H / NH;
  const shapes: [string, number[]][] = [
    ["model.embed_tokens.weight", [V, H]],
    ["lm_head.weight", [V, H]],
    ["model.norm.weight", [H]],
  ];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    shapes.push(
      [p + "self_attn.q_proj.weight", [NH * D, H]],
      [p + "self_attn.q_proj.bias", [NH * D]],
      [p + "self_attn.k_proj.weight", [KV * D, H]],
      [p + "self_attn.k_proj.bias", [KV * D]],
    );
    shapes.push(
      [p + "self_attn.v_proj.weight", [KV * D, H]],
      [p + "self_attn.v_proj.bias", [KV * D]],
      [p + "self_attn.o_proj.weight", [H, NH * D]],
    );
    shapes.push(
      [p + "mlp.gate_proj.weight", [I, H]],
      [p + "mlp.up_proj.weight", [I, H]],
      [p + "mlp.down_proj.weight", [H, I]],
      [p + "input_layernorm.weight", [H]],
      [p + "post_attention_layernorm.weight", [H]],
    );
  }
  const m = new Map<string, Float32Array>();
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    const bound = name.endsWith("norm.weight")
      ? 0
      : name.includes("embed")
        ? 1
        : 1 / Math.sqrt(shape[shape.length - 1]);
    for (let i = 0; i < n; i++) a[i] = bound === 0 ? 1 : (rand() * 2 - 1) * bound;
    m.set(name, a);
  }
  return m;
}
