// A slow, plain TypeScript Qwen2 forward pass with LoRA, written for readability: the independent reference the
// training engine's loss is checked against. Float64 throughout. Follows Hugging Face's Qwen2ForCausalLM:
// embeddings → per layer [RMSNorm → q/k/v (with bias) → RoPE → GQA causal attention → o_proj → residual,
// RMSNorm → SwiGLU MLP → residual] → final RMSNorm → lm_head (tied to embeddings or not) → shifted
// cross-entropy ignoring label -100. LoRA adds scale·(x·Aᵀ)·Bᵀ to each adapted projection.

import type { EngineModelConfig } from "../../src/train/native.js";

/** The engine's model config (headDim defaults to hiddenSize / numHeads). */
export type ReferenceConfig = EngineModelConfig;

/** HF tensor name → values (row-major, HF layout: Linear weights are [out, in]). */
export type ReferenceWeights = (name: string) => ArrayLike<number>;

/** PEFT tensor name (…q_proj.lora_A.weight) → values; missing modules are not adapted. */
export type ReferenceLora = { tensors: Map<string, ArrayLike<number>>; rank: number; scale: number };

/** y[T, out] = x[T, in] · Wᵀ (+ b). */
function linear(
  x: Float64Array,
  T: number,
  inDim: number,
  w: ArrayLike<number>,
  outDim: number,
  b?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(T * outDim);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < outDim; o++) {
      let s = b ? b[o] : 0;
      const wo = o * inDim;
      const xt = t * inDim;
      for (let i = 0; i < inDim; i++) s += x[xt + i] * w[wo + i];
      y[t * outDim + o] = s;
    }
  }
  return y;
}

function rmsNorm(x: Float64Array, T: number, dim: number, w: ArrayLike<number>, eps: number): Float64Array {
  const y = new Float64Array(T * dim);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[t * dim + i] ** 2;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) y[t * dim + i] = x[t * dim + i] * inv * w[i];
  }
  return y;
}

/** Rotary embedding, rotate-half form, in place on [T, heads, headDim]. */
function rope(x: Float64Array, T: number, heads: number, headDim: number, theta: number): void {
  const half = headDim / 2;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const invFreq = 1 / Math.pow(theta, (2 * i) / headDim);
        const angle = t * invFreq;
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const a = x[base + i];
        const b = x[base + i + half];
        x[base + i] = a * c - b * s;
        x[base + i + half] = b * c + a * s;
      }
    }
  }
}

/** Per-position logits [B·T·V] and the summed cross-entropy over label tokens (labels shifted by one). */
export function referenceForward(
  cfg: ReferenceConfig,
  weights: ReferenceWeights,
  lora: ReferenceLora | null,
  inputIds: ArrayLike<number>,
  labels: ArrayLike<number> | null,
  batch: number,
  seqLen: number,
): { logits: Float64Array; lossSum: number; tokens: number } {
  const H = cfg.hiddenSize;
  const headDim = cfg.headDim ?? H / cfg.numHeads;
  const qDim = cfg.numHeads * headDim;
  const kvDim = cfg.numKvHeads * headDim;
  const I = cfg.intermediateSize;
  const V = cfg.vocabSize;
  const group = cfg.numHeads / cfg.numKvHeads;
  const T = seqLen;
  const logits = new Float64Array(batch * T * V);
  let lossSum = 0;
  let tokens = 0;

  const proj = (
    layer: number,
    kind: "self_attn" | "mlp",
    name: string,
    x: Float64Array,
    inDim: number,
    outDim: number,
    bias: boolean,
  ) => {
    const prefix = `model.layers.${layer}.${kind}.${name}`;
    const y = linear(x, T, inDim, weights(`${prefix}.weight`), outDim, bias ? weights(`${prefix}.bias`) : undefined);
    const a = lora?.tensors.get(`base_model.model.${prefix}.lora_A.weight`);
    const b = lora?.tensors.get(`base_model.model.${prefix}.lora_B.weight`);
    if (lora && a && b) {
      const xa = linear(x, T, inDim, a, lora.rank);
      const delta = linear(xa, T, lora.rank, b, outDim);
      for (let i = 0; i < y.length; i++) y[i] += lora.scale * delta[i];
    }
    return y;
  };

  const embed = weights("model.embed_tokens.weight");
  const head = cfg.tieWordEmbeddings ? embed : weights("lm_head.weight");
  for (let bi = 0; bi < batch; bi++) {
    let x: Float64Array = new Float64Array(T * H);
    for (let t = 0; t < T; t++) {
      const id = inputIds[bi * T + t];
      for (let i = 0; i < H; i++) x[t * H + i] = embed[id * H + i];
    }
    for (let l = 0; l < cfg.numLayers; l++) {
      const h = rmsNorm(x, T, H, weights(`model.layers.${l}.input_layernorm.weight`), cfg.rmsNormEps);
      const q = proj(l, "self_attn", "q_proj", h, H, qDim, true);
      const k = proj(l, "self_attn", "k_proj", h, H, kvDim, true);
      const v = proj(l, "self_attn", "v_proj", h, H, kvDim, true);
      rope(q, T, cfg.numHeads, headDim, cfg.ropeTheta);
      rope(k, T, cfg.numKvHeads, headDim, cfg.ropeTheta);
      const att = new Float64Array(T * qDim);
      const scores = new Float64Array(T);
      for (let hh = 0; hh < cfg.numHeads; hh++) {
        const kvh = Math.floor(hh / group);
        for (let t = 0; t < T; t++) {
          let max = -Infinity;
          for (let s = 0; s <= t; s++) {
            let dot = 0;
            for (let i = 0; i < headDim; i++) dot += q[t * qDim + hh * headDim + i] * k[s * kvDim + kvh * headDim + i];
            scores[s] = dot / Math.sqrt(headDim);
            if (scores[s] > max) max = scores[s];
          }
          let z = 0;
          for (let s = 0; s <= t; s++) z += scores[s] = Math.exp(scores[s] - max);
          for (let s = 0; s <= t; s++) {
            const p = scores[s] / z;
            for (let i = 0; i < headDim; i++) att[t * qDim + hh * headDim + i] += p * v[s * kvDim + kvh * headDim + i];
          }
        }
      }
      const o = proj(l, "self_attn", "o_proj", att, qDim, H, false);
      for (let i = 0; i < x.length; i++) x[i] += o[i];
      const h2 = rmsNorm(x, T, H, weights(`model.layers.${l}.post_attention_layernorm.weight`), cfg.rmsNormEps);
      const g = proj(l, "mlp", "gate_proj", h2, H, I, false);
      const u = proj(l, "mlp", "up_proj", h2, H, I, false);
      for (let i = 0; i < g.length; i++) g[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
      const dn = proj(l, "mlp", "down_proj", g, I, H, false);
      for (let i = 0; i < x.length; i++) x[i] += dn[i];
    }
    x = rmsNorm(x, T, H, weights("model.norm.weight"), cfg.rmsNormEps);
    const out = linear(x, T, H, head, V);
    logits.set(out, bi * T * V);
    if (labels) {
      for (let t = 0; t + 1 < T; t++) {
        const label = labels[bi * T + t + 1];
        if (label === -100) continue;
        let max = -Infinity;
        for (let j = 0; j < V; j++) max = Math.max(max, out[t * V + j]);
        let z = 0;
        for (let j = 0; j < V; j++) z += Math.exp(out[t * V + j] - max);
        lossSum += Math.log(z) + max - out[t * V + label];
        tokens++;
      }
    }
  }
  return { logits, lossSum, tokens };
}
