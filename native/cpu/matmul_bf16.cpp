// BF16-compute matmuls (AVX-512 BF16): not built yet.
#include "cpu/dispatch.h"

namespace sf {
const CpuKernels* cpu_kernels_avx512_bf16() { return nullptr; }
}  // namespace sf
