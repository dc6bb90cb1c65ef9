// Public face of src/train.
export {};
