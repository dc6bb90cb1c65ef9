// Public face of src/gguf: HF Qwen2 → GGUF conversion, GGUF LoRA adapters, llama.cpp quantization, Modelfile, and
// GGUF files opened as fine-tuning bases.
export { toGGUF, planQwen2Gguf, ggufTensorName, GGUF_FLOAT_TYPES } from "./convert.js";
export type { GgufFloatType, ToGgufOptions, ToGgufResult, Qwen2GgufPlan } from "./convert.js";
export { quantize, writeModelfile } from "./quantize.js";
export type { QuantizeOptions, QuantizeResult } from "./quantize.js";
export { loraToGGUF } from "./lora.js";
export type { LoraToGgufOptions, LoraToGgufResult } from "./lora.js";
export { readGgufInfo, readGgufTensorBytes, writeGguf, writeGgufAsync } from "./file.js";
export type { GgufInfo, GgufTensorInfo, GgufKv, GgufTensorSpec, GgufAsyncTensorSpec } from "./file.js";
export { streamingQuantize } from "./streaming.js";
export type { StreamingQuantizeOptions } from "./streaming.js";
export { llamaQuantTypes, llamaQuantTensorOrder } from "./recipe.js";
export { DEFAULT_QUANT_TYPE, FILE_TYPES, GGML_TYPES, QUANT_TYPES, parseFileType, ggmlTypeName } from "./constants.js";
export type { FileTypeName, GgmlTypeName, QuantType } from "./constants.js";
export { modelfileText } from "./modelfile.js";
export { findLibllama, nativeQuantizer } from "./native.js";
export type { NativeQuantizer } from "./native.js";
export { openGgufModel, isGgufFile, hfTensorName, ggufTokenizerFiles } from "./model.js";
export type { GgufModel, GgufModelTensor } from "./model.js";
