// Public face of src/model.
export {};
