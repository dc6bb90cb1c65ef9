// Public face of src/server.
export {};
