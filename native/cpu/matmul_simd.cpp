// AVX-512 float matmuls (placeholder until the SIMD kernels land: the portable path runs).
#include "cpu/kernels.h"
namespace sf {
bool matmul_forward_simd(float*, const float*, const void*, int, int, int, int, bool, int) { return false; }
bool matmul_backward_input_simd(float*, const float*, const void*, int, int, int, int, bool, int) { return false; }
}  // namespace sf
