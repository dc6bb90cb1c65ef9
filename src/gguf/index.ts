// Public face of src/gguf.
export {};
