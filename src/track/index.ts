// Public face of src/track.
export {};
