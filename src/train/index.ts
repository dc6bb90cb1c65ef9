// Public face of src/train: finetune() and its options, checkpoint helpers; the PEFT adapter read/write (owned by
// src/model) is re-exported here too.
export { finetune, adapterSpecOf, cudaBuilt } from "./finetune.js";
export type { FinetuneRunOptions, FinetuneResult } from "./finetune.js";
export {
  BASE_DTYPES,
  FINETUNE_DEFAULTS,
  FinetuneOptionError,
  LORA_TARGET_MODULES,
  LR_SCHEDULER_TYPES,
  PYTHON_OPTION_NAMES,
  REPORT_TARGETS,
  parseReportTo,
  resolveFinetuneOptions,
} from "./options.js";
export type {
  BaseDtype,
  FinetuneOptions,
  LoraTargetModule,
  LrSchedulerType,
  ReportTarget,
  ResolvedFinetuneOptions,
  TrainDevice,
} from "./options.js";
export { TrainingDivergedError } from "./loop.js";
export type { LogEvent, StepEvent, TrainTracker } from "./loop.js";
export {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  peftAdapterConfig,
  peftAdapterConfigJson,
  readAdapter,
  writeAdapter,
} from "../model/index.js";
export type { LoraAdapter, LoraAdapterSpec, LoraModuleWeights, LoraTensor } from "../model/index.js";
export { latestCheckpoint, listCheckpoints } from "./checkpoint.js";
export { learningRateAt } from "./schedule.js";
