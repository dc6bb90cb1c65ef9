// The PEFT adapter format lives in src/model (peft-adapter.ts). This type-only re-export is kept for
// src/train/native.ts until it imports from src/model; delete it then.
export type { LoraAdapter, LoraAdapterSpec, LoraModuleWeights, LoraTensor } from "../model/index.js";
