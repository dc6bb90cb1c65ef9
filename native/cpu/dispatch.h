// Runtime SIMD dispatch for the CPU kernels. The float kernels are compiled once per instruction-set level, each in
// its own translation unit with its own flags (matmul_avx512.cpp, matmul_avx2.cpp, matmul_bf16.cpp); the level is
// chosen once per process from CPUID (and the OS's saved-state mask), so one binary runs on any x86-64 and uses
// what the CPU has. SQLFOCUS_CPU=portable|avx2|avx512|avx512bf16 forces a lower level (never a higher one than
// the CPU has). The portable level has no table: the templates in kernels.h run as written.
//
// Rule for the per-level translation units: they must not instantiate any inline or template function that
// other translation units also use (std::vector, std::min, inline helpers of kernels.h, ...): the linker keeps
// one copy of such a function, and it could be the one compiled for AVX-512. They include only this header and
// keep their helpers in an anonymous namespace (native/tests/check_simd_symbols.cmake checks the object files).
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace sf {

enum CpuLevel { CPU_PORTABLE = 0, CPU_AVX2 = 1, CPU_AVX512 = 2, CPU_AVX512_BF16 = 3 };

/** The float kernels of one level; a null entry (or one answering false) falls back to the portable template. */
struct CpuKernels {
  // out[M, N] (+)= x[M, K] · W[N, K]ᵀ, W in F32/F16/BF16 or a ggml block type (quant.h)
  bool (*matmul_forward)(float* out, const float* x, const void* w, int wt, int M, int N, int K, bool accumulate,
                         int threads);
  // dx[M, K] (+)= dout[M, N] · W[N, K]
  bool (*matmul_backward_input)(float* dx, const float* dout, const void* w, int wt, int M, int N, int K,
                                bool accumulate, int threads);
  // dW[N, K] += alpha · a[M, N]ᵀ · b[M, K]
  bool (*matmul_backward_weight)(float* dw, const float* a, const float* b, int M, int N, int K, float alpha,
                                 int threads);
  bool (*attention_forward)(float* out, float* lse, const float* q, const float* k, const float* v, int B, int Tn,
                            int NH, int KV, int D, int threads);
  bool (*attention_backward)(float* dq, float* dk, float* dv, const float* dout, const float* lse, const float* q,
                             const float* k, const float* v, int B, int Tn, int NH, int KV, int D, int threads);
  bool (*softmax_xent_rows)(float* logits, const int32_t* labels, int Nc, int V, float scale, bool grad, double* loss,
                            int threads);
  void (*swiglu_forward)(float* out, const float* g, const float* u, size_t n, int threads);
  void (*swiglu_backward)(float* dg, float* du, const float* dout, const float* g, const float* u, size_t n,
                          int threads);
  // dropout with the per-call key of kernels.h (key = seed ^ mix64(counter·C + stream)); backward adds into dx
  void (*dropout_forward)(float* out, const float* x, size_t n, float p, uint64_t key, int threads);
  void (*dropout_backward)(float* dx, const float* dout, size_t n, float p, uint64_t key, int threads);
  // n elements (whole blocks) of a ggml block dtype into out with this level's dequantizers (bit-identical to the
  // portable ones); null: the portable ones
  bool (*dequantize)(float* out, const void* blocks, int dt, int64_t n);
};

/** The kernels of the selected level (chosen on first use); null at the portable level. */
const CpuKernels* cpu_kernels();
/** The selected level, the best level this CPU supports, and their names ("portable", "avx2", "avx512",
 *  "avx512bf16"). */
int cpu_level();
int cpu_detected_level();
const char* cpu_level_name(int level);
/** Non-empty when SQLFOCUS_CPU holds something other than a level name (the auto level is used then). */
const char* cpu_env_error();
/** Tests and benchmarks: select `level` (clamped to what the CPU supports); returns the level now in use. */
int cpu_set_level(int level);

// The tables of each level's translation unit (null where the unit was compiled without that instruction set).
const CpuKernels* cpu_kernels_avx2();
const CpuKernels* cpu_kernels_avx512();
const CpuKernels* cpu_kernels_avx512_bf16();

}  // namespace sf
