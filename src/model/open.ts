// openModel(dir): a Hugging Face Qwen2 folder as config + zero-copy tensors (checked against the config) + tokenizer.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { readQwen2Config, type Qwen2Config } from "./config.js";
import { openSafetensors, type SafetensorsReader, type Tensor, type TensorInfo } from "./safetensors.js";
import { Tokenizer } from "./tokenizer.js";

export interface OpenedModel {
  dir: string;
  config: Qwen2Config;
  /** Every tensor name in the weight files. */
  tensorNames: string[];
  /** A tensor's bytes as a view of the mapped file (no copy), with dtype and shape. */
  tensor(name: string): Tensor;
  info(name: string): TensorInfo;
  has(name: string): boolean;
  /** The folder holding tokenizer.json / tokenizer_config.json (the model folder). */
  tokenizerDir: string;
  loadTokenizer(): Promise<Tokenizer>;
  weights: SafetensorsReader;
}

/** The tensors a Qwen2ForCausalLM checkpoint must have, with their shapes. */
export function expectedQwen2Tensors(c: Qwen2Config): { name: string; shape: number[] }[] {
  const h = c.hiddenSize;
  const kv = c.headDim * c.numKeyValueHeads;
  const q = c.headDim * c.numAttentionHeads;
  const out = [{ name: "model.embed_tokens.weight", shape: [c.vocabSize, h] }];
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      { name: `${p}.self_attn.q_proj.weight`, shape: [q, h] },
      { name: `${p}.self_attn.q_proj.bias`, shape: [q] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, h] },
      { name: `${p}.self_attn.k_proj.bias`, shape: [kv] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, h] },
      { name: `${p}.self_attn.v_proj.bias`, shape: [kv] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, q] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [c.intermediateSize, h] },
      { name: `${p}.mlp.up_proj.weight`, shape: [c.intermediateSize, h] },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, c.intermediateSize] },
      { name: `${p}.input_layernorm.weight`, shape: [h] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h] },
    );
  }
  out.push({ name: "model.norm.weight", shape: [h] });
  if (!c.tieWordEmbeddings) out.push({ name: "lm_head.weight", shape: [c.vocabSize, h] });
  return out;
}

/** Opens a model folder: validates config.json and that the weights hold every Qwen2 tensor with the right shape. */
export function openModel(dir: string): OpenedModel {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new Error(`${abs}: no such model folder`);
  const config = readQwen2Config(abs);
  const weights = openSafetensors(abs);
  const where = weights.files.length === 1 ? weights.files[0].path : join(abs, "model.safetensors.index.json");
  for (const e of expectedQwen2Tensors(config)) {
    if (!weights.has(e.name))
      throw new Error(
        `${where}: tensor '${e.name}' is missing (config.json describes ${config.numHiddenLayers} layers${config.tieWordEmbeddings ? ", tied embeddings" : ""})`,
      );
    const info = weights.info(e.name);
    if (info.shape.join(",") !== e.shape.join(",")) {
      throw new Error(
        `${info.file}: tensor '${e.name}' has shape [${info.shape.join(", ")}], config.json implies [${e.shape.join(", ")}]`,
      );
    }
    if (!["F32", "F16", "BF16"].includes(info.dtype))
      throw new Error(`${info.file}: tensor '${e.name}' has dtype ${info.dtype}; expected F32, F16 or BF16`);
  }
  return {
    dir: abs,
    config,
    tensorNames: weights.names(),
    tensor: (name) => weights.tensor(name),
    info: (name) => weights.info(name),
    has: (name) => weights.has(name),
    tokenizerDir: abs,
    loadTokenizer: () => Tokenizer.load(abs),
    weights,
  };
}
