// sqlfocus: the package's public API. Each capability folder has a small public face (index.ts).
export * from "./model/index.js";
export * from "./train/index.js";
export * from "./track/index.js";
export * from "./gguf/index.js";
export * from "./mschema/index.js";
export * from "./text2sql/index.js";
export * from "./server/index.js";
export * from "./sql/index.js";
export * from "./eval/index.js";
