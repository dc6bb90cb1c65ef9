// Training data order: each epoch is a seeded permutation of the examples, cut into micro-batches. The order is
// a pure function of (seed, epoch, example count), so a resumed run finds its place from (epoch, batch index).

/** SplitMix32-style integer hash → a well-mixed 32-bit value. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Mulberry32: a small, fast, seeded PRNG giving floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The example order of one epoch: a Fisher–Yates shuffle seeded by (seed, epoch). */
export function epochPermutation(count: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const rand = seededRandom(mix32(mix32(seed) ^ Math.imul(epoch + 1, 0x27d4eb2d)));
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Micro-batches of one epoch: example indices, `batchSize` at a time (the last one may be smaller). */
export function epochBatches(count: number, batchSize: number, seed: number, epoch: number): Uint32Array[] {
  const order = epochPermutation(count, seed, epoch);
  const batches: Uint32Array[] = [];
  for (let i = 0; i < count; i += batchSize) batches.push(order.subarray(i, Math.min(count, i + batchSize)));
  return batches;
}

/** Sequential batches (evaluation): examples in file order. */
export function sequentialBatches(count: number, batchSize: number): Uint32Array[] {
  const batches: Uint32Array[] = [];
  for (let i = 0; i < count; i += batchSize) {
    const b = new Uint32Array(Math.min(batchSize, count - i));
    for (let j = 0; j < b.length; j++) b[j] = i + j;
    batches.push(b);
  }
  return batches;
}
