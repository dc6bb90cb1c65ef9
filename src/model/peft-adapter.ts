// PEFT LoRA adapter folders: `adapter_config.json` (PEFT's LoraConfig, every field PEFT 0.18 writes, in
// json.dumps(indent=2, sort_keys=True) form) + `adapter_model.safetensors` (F32, tensor names without the adapter
// name: base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight). writeAdapter saves ours (src/train's
// final adapter and checkpoints); readAdapter loads ours or one saved by Python's PEFT (F32/F16/BF16,
// rank_pattern/alpha_pattern, rslora) for merge and GGUF conversion.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readSafetensorsF32, serializeSafetensorsF32, type F32Tensor } from "./safetensors.js";
import { pyFloat, pythonJsonDumps } from "./python-json.js";
import { writeDirAtomic, writeFileSynced } from "../files/index.js";

export const ADAPTER_CONFIG_NAME = "adapter_config.json";
export const ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors";
/** The PEFT version whose adapter_config.json field set we write. */
export const PEFT_FORMAT_VERSION = "0.18.1";

/** One LoRA matrix: A is [r, in], B is [out, r], row-major F32. */
export type LoraTensor = F32Tensor;

export interface LoraAdapterSpec {
  /** Written as base_model_name_or_path: the model as the user named it (hub id or path). */
  baseModelNameOrPath: string | null;
  r: number;
  loraAlpha: number;
  loraDropout: number;
  targetModules: readonly string[];
  useRslora?: boolean;
}

/** PEFT's adapter_config.json for a LoRA adapter (PEFT 0.18.1's full field set, inference_mode true). */
export function peftAdapterConfig(spec: LoraAdapterSpec): Record<string, unknown> {
  return {
    alora_invocation_tokens: null,
    alpha_pattern: {},
    arrow_config: null,
    auto_mapping: null,
    base_model_name_or_path: spec.baseModelNameOrPath,
    bias: "none",
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    // Python's argparse gives an int alpha unless a fraction was asked for; dropout is always a float.
    lora_alpha: Number.isInteger(spec.loraAlpha) ? spec.loraAlpha : pyFloat(spec.loraAlpha),
    lora_bias: false,
    lora_dropout: pyFloat(spec.loraDropout),
    megatron_config: null,
    megatron_core: "megatron.core",
    modules_to_save: null,
    peft_type: "LORA",
    peft_version: PEFT_FORMAT_VERSION,
    qalora_group_size: 16,
    r: spec.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...spec.targetModules],
    target_parameters: null,
    task_type: "CAUSAL_LM",
    trainable_token_indices: null,
    use_dora: false,
    use_qalora: false,
    use_rslora: spec.useRslora ?? false,
  };
}

/** adapter_config.json text, byte for byte as PEFT writes it (no trailing newline). */
export function peftAdapterConfigJson(spec: LoraAdapterSpec): string {
  return pythonJsonDumps(peftAdapterConfig(spec));
}

/** A short model card (PEFT writes a README.md with this front matter beside every adapter). */
export function adapterModelCard(spec: LoraAdapterSpec, extra: string[] = []): string {
  const lines = ["---"];
  if (spec.baseModelNameOrPath) lines.push(`base_model: ${spec.baseModelNameOrPath}`);
  lines.push("library_name: peft", "tags:", "- lora", "- text-to-sql", "- sqlfocus", "---", "");
  lines.push("# LoRA adapter (sqlfocus)", "");
  lines.push(
    `LoRA r=${spec.r}, alpha=${spec.loraAlpha}, dropout=${spec.loraDropout}${spec.useRslora ? ", rsLoRA" : ""} on ${spec.targetModules.join(", ")}.`,
    "",
    "Load with PEFT (`PeftModel.from_pretrained(base, this_folder)`), merge with `sqlfocus merge`, or convert with `sqlfocus convert`.",
  );
  for (const l of extra) lines.push(l);
  return lines.join("\n") + "\n";
}

/** Writes adapter_config.json, adapter_model.safetensors and README.md into an existing folder (fsynced). */
export function writeAdapterFiles(
  dir: string,
  spec: LoraAdapterSpec,
  tensors: readonly LoraTensor[],
  cardExtra: string[] = [],
): void {
  checkAdapterTensors(spec, tensors, dir);
  writeFileSynced(join(dir, ADAPTER_WEIGHTS_NAME), serializeSafetensorsF32(tensors, { format: "pt" }));
  writeFileSynced(join(dir, ADAPTER_CONFIG_NAME), peftAdapterConfigJson(spec));
  writeFileSynced(join(dir, "README.md"), adapterModelCard(spec, cardExtra));
}

/** Saves a PEFT adapter folder atomically (a complete folder or none: temp folder + rename). */
export async function writeAdapter(dir: string, spec: LoraAdapterSpec, tensors: readonly LoraTensor[]): Promise<void> {
  await writeDirAtomic(dir, (tmp) => writeAdapterFiles(tmp, spec, tensors));
}

const LORA_NAME_RE = /^base_model\.model\.(.+)\.(lora_A|lora_B)(?:\.[A-Za-z0-9_-]+)?\.weight$/;

function checkAdapterTensors(spec: LoraAdapterSpec, tensors: readonly LoraTensor[], where: string): void {
  for (const t of tensors) {
    if (!LORA_NAME_RE.test(t.name))
      throw new Error(`${where}: tensor ${JSON.stringify(t.name)} is not a PEFT LoRA tensor name`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.length !== 2 || n !== t.data.length)
      throw new Error(`${where}: tensor ${t.name} has shape [${t.shape}] but ${t.data.length} values`);
    const isA = t.name.includes(".lora_A");
    if ((isA ? t.shape[0] : t.shape[1]) !== spec.r)
      throw new Error(`${where}: tensor ${t.name} has rank ${isA ? t.shape[0] : t.shape[1]}, expected r=${spec.r}`);
  }
}

/** One adapted module: its A/B matrices and the scale its update is multiplied by (alpha/r, or alpha/√r). */
export interface LoraModuleWeights {
  /** HF module name, e.g. "model.layers.0.self_attn.q_proj". */
  module: string;
  rank: number;
  alpha: number;
  scale: number;
  /** [rank, in] */
  a: LoraTensor;
  /** [out, rank] */
  b: LoraTensor;
}

export interface LoraAdapter {
  dir: string;
  /** adapter_config.json as read (all fields, including ones this version does not use). */
  rawConfig: Record<string, unknown>;
  baseModelNameOrPath: string | null;
  r: number;
  loraAlpha: number;
  loraDropout: number;
  useRslora: boolean;
  targetModules: string[];
  /** Tensors under their canonical PEFT names (adapter name removed), F32. */
  tensors: LoraTensor[];
  /** Per adapted module, in file order. */
  modules: LoraModuleWeights[];
  /** The scale of a module (HF name); PEFT's rank_pattern / alpha_pattern rules. */
  scaleFor(module: string): number;
}

/** PEFT's pattern lookup: a key matches module `m` when m is the key or ends with ".<key>" (regex, full match). */
function patternValue(patterns: Record<string, unknown>, module: string): number | undefined {
  for (const [key, value] of Object.entries(patterns)) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:.*\\.)?(?:${key})$`);
    } catch {
      continue;
    }
    if (re.test(module) && typeof value === "number") return value;
  }
  return undefined;
}

/** Loads a PEFT LoRA adapter folder (ours or Python PEFT's). Errors name the file and the field. */
export function readAdapter(dir: string): LoraAdapter {
  const configPath = join(dir, ADAPTER_CONFIG_NAME);
  if (!existsSync(configPath))
    throw new Error(
      `${configPath}: not found (a PEFT adapter folder has adapter_config.json + adapter_model.safetensors)`,
    );
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (err) {
    throw new Error(`${configPath}: not valid JSON: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new Error(`${configPath}: expected a JSON object`);
  const field: (name: string, what: string) => never = (name, what) => {
    throw new Error(`${configPath}: field ${name} ${what}, got ${JSON.stringify(raw[name])}`);
  };
  if (raw.peft_type !== "LORA") field("peft_type", 'must be "LORA" (only LoRA adapters are supported)');
  if (raw.use_dora === true) field("use_dora", "is true: DoRA adapters are not supported");
  if (raw.lora_bias === true) field("lora_bias", "is true: LoRA bias terms are not supported");
  if (raw.bias !== undefined && raw.bias !== "none")
    field("bias", 'must be "none" (trained base biases are not supported)');
  if (raw.fan_in_fan_out === true) field("fan_in_fan_out", "is true: Qwen2 linear layers are not fan-in-fan-out");
  if (raw.layer_replication !== undefined && raw.layer_replication !== null)
    field("layer_replication", "is set: layer replication is not supported");
  const r = raw.r;
  if (typeof r !== "number" || !Number.isInteger(r) || r < 1) field("r", "must be a positive integer");
  const alpha = raw.lora_alpha ?? 8;
  if (typeof alpha !== "number" || !(alpha > 0)) field("lora_alpha", "must be a positive number");
  const dropout = raw.lora_dropout ?? 0;
  if (typeof dropout !== "number" || dropout < 0 || dropout >= 1) field("lora_dropout", "must be a number in [0, 1)");
  const useRslora = raw.use_rslora === true;
  let targetModules: string[];
  if (Array.isArray(raw.target_modules) && raw.target_modules.every((m) => typeof m === "string"))
    targetModules = raw.target_modules as string[];
  else if (typeof raw.target_modules === "string") targetModules = [raw.target_modules];
  else if (raw.target_modules === null || raw.target_modules === undefined) targetModules = [];
  else field("target_modules", "must be a list of module names");
  const rankPattern = (raw.rank_pattern ?? {}) as Record<string, unknown>;
  const alphaPattern = (raw.alpha_pattern ?? {}) as Record<string, unknown>;
  if (typeof rankPattern !== "object" || Array.isArray(rankPattern)) field("rank_pattern", "must be an object");
  if (typeof alphaPattern !== "object" || Array.isArray(alphaPattern)) field("alpha_pattern", "must be an object");

  const weightsPath = join(dir, ADAPTER_WEIGHTS_NAME);
  if (!existsSync(weightsPath)) {
    if (existsSync(join(dir, "adapter_model.bin"))) {
      throw new Error(
        `${dir}: only adapter_model.bin (PyTorch pickle) was found; sqlfocus reads safetensors adapters — re-save with PEFT's save_pretrained(safe_serialization=True)`,
      );
    }
    throw new Error(`${weightsPath}: not found`);
  }
  const read = readSafetensorsF32(weightsPath);
  const tensors: LoraTensor[] = [];
  const pairs = new Map<string, { a?: LoraTensor; b?: LoraTensor }>();
  for (const t of read) {
    const m = LORA_NAME_RE.exec(t.name);
    if (!m)
      throw new Error(
        `${weightsPath}: tensor ${JSON.stringify(t.name)} is not a LoRA A/B weight (modules_to_save and bias tensors are not supported)`,
      );
    const [, module, which] = m;
    const name = `base_model.model.${module}.${which}.weight`;
    if (t.shape.length !== 2) throw new Error(`${weightsPath}: tensor ${t.name} must be 2-D, has shape [${t.shape}]`);
    const tensor: LoraTensor = { name, shape: t.shape, data: t.data };
    tensors.push(tensor);
    const p = pairs.get(module) ?? {};
    if (which === "lora_A") p.a = tensor;
    else p.b = tensor;
    pairs.set(module, p);
  }
  const alphaFor = (module: string) => patternValue(alphaPattern, module) ?? (alpha as number);
  const modules: LoraModuleWeights[] = [];
  for (const [module, p] of pairs) {
    if (!p.a || !p.b)
      throw new Error(`${weightsPath}: module ${module} has lora_${p.a ? "A" : "B"} but no lora_${p.a ? "B" : "A"}`);
    const rank = p.a.shape[0];
    if (p.b.shape[1] !== rank)
      throw new Error(
        `${weightsPath}: module ${module}: lora_A is [${p.a.shape}] but lora_B is [${p.b.shape}] (ranks differ)`,
      );
    const expectRank = patternValue(rankPattern, module) ?? r;
    if (rank !== expectRank)
      throw new Error(
        `${weightsPath}: module ${module} has rank ${rank}, but ${ADAPTER_CONFIG_NAME} says ${expectRank}`,
      );
    const a = alphaFor(module);
    modules.push({ module, rank, alpha: a, scale: useRslora ? a / Math.sqrt(rank) : a / rank, a: p.a, b: p.b });
  }
  const byModule = new Map(modules.map((m) => [m.module, m]));
  return {
    dir,
    rawConfig: raw,
    baseModelNameOrPath: typeof raw.base_model_name_or_path === "string" ? raw.base_model_name_or_path : null,
    r: r as number,
    loraAlpha: alpha as number,
    loraDropout: dropout as number,
    useRslora,
    targetModules,
    tensors,
    modules,
    scaleFor(module: string) {
      const m = byModule.get(module);
      if (m) return m.scale;
      const rank = patternValue(rankPattern, module) ?? (r as number);
      const a = alphaFor(module);
      return useRslora ? a / Math.sqrt(rank) : a / rank;
    },
  };
}
