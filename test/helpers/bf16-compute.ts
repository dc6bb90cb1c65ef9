// Whether BF16 base weights run the BF16-compute matmuls here (AVX-512 BF16: activations rounded to BF16 at the base
// matmuls, F32 sums). Tests that compare such a model with an F32 reference use a BF16 tolerance then.
import { loadAddon } from "../../src/native/index.js";

export function bf16Compute(): boolean {
  return loadAddon().buildInfo().simd === "avx512bf16";
}

/** Mean-loss tolerance against an F32 reference on the same (BF16-rounded) weights. */
export function bf16LossTolerance(refLoss: number): number {
  return bf16Compute() ? 1e-3 * Math.abs(refLoss) : 1e-5;
}
