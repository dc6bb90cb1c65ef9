// Public face of src/model: Hugging Face model folders (config, safetensors, tokenizer, hub, tiny model) and PEFT
// adapter folders, with the format helpers they share with src/train (Python json.dumps text, atomic folders).
export {
  parseQwen2Config,
  readQwen2Config,
  writeQwen2Config,
  qwen2ConfigToJson,
  sortedJson,
  type Qwen2Config,
} from "./config.js";
export {
  SafetensorsFile,
  SafetensorsReader,
  openSafetensors,
  readSafetensorsIndex,
  planSafetensors,
  serializeSafetensors,
  writeSafetensorsFile,
  writeSafetensorsFileSync,
  writeSafetensorsModel,
  readSafetensorsF32,
  serializeSafetensorsF32,
  f32Tensor,
  toFloat32,
  fromFloat32,
  f16BitsToF32,
  bf16BitsToF32,
  f32ToF16Bits,
  f32ToBf16Bits,
  dtypeSize,
  numElements,
  isSafetensorsDtype,
  DEFAULT_MAX_SHARD_SIZE,
  MAX_HEADER_SIZE,
  type SafetensorsDtype,
  type SafetensorsIndex,
  type SafetensorsPlan,
  type F32Tensor,
  type Tensor,
  type TensorInfo,
  type TensorSource,
  type WriteModelOptions,
  type WriteModelResult,
} from "./safetensors.js";
export {
  initTinyModel,
  tinyTensorValues,
  TinyRng,
  TINY_DEFAULTS,
  type TinyModelOptions,
  type TinyModelInfo,
  type TinyDtype,
} from "./tiny.js";
export {
  writeQwen25TokenizerFiles,
  qwen25TokenizerJson,
  qwen25TokenizerConfig,
  QWEN25_CHAT_TEMPLATE,
  QWEN25_BPE_VOCAB_SIZE,
  QWEN25_TOKENIZER_SIZE,
  QWEN25_PADDED_VOCAB_SIZE,
  QWEN25_ENDOFTEXT_ID,
  QWEN25_IM_START_ID,
  QWEN25_IM_END_ID,
} from "./qwen-tokenizer-files.js";
export {
  Tokenizer,
  loadTokenizer,
  type ChatMessage,
  type ChatTemplateOptions,
  type LoadTokenizerOptions,
  type TokenizerBackend,
} from "./tokenizer.js";
export { openModel, expectedQwen2Tensors, type OpenedModel } from "./open.js";
export {
  resolveModel,
  findInHubCache,
  defaultHubCacheDir,
  wantedRepoFile,
  type ResolveModelOptions,
  type ResolvedModel,
} from "./hub.js";
export { MAX_MAPPABLE_BYTES } from "./safetensors.js";
export { merge, addLoraDelta, type MergeOptions, type MergeResult } from "./merge.js";
export {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  PEFT_FORMAT_VERSION,
  peftAdapterConfig,
  peftAdapterConfigJson,
  adapterModelCard,
  writeAdapterFiles,
  writeAdapter,
  readAdapter,
  type LoraAdapter,
  type LoraAdapterSpec,
  type LoraModuleWeights,
  type LoraTensor,
} from "./peft-adapter.js";
export { pythonJsonDumps, pythonFloatRepr, pyFloat, PyFloat, pyFloatRepr, pyBytesRepr } from "./python-json.js";
