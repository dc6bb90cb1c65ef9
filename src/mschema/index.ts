// Public face of src/mschema.
export {};
