// Public face of src/eval.
export {};
