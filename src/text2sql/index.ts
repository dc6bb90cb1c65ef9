// Public face of src/text2sql.
export {};
