// CPU feature detection and the level's kernel table (see dispatch.h). Portable code: compiled without any
// instruction-set flags. Also the *_simd entry points that kernels.h calls: they forward to the table.
#include "cpu/dispatch.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cpu/kernels.h"
#include "cpu/quant.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define SF_X86 1
#if defined(_MSC_VER)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace sf {

namespace {

#if defined(SF_X86)
void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
  int v[4];
  __cpuidex(v, int(leaf), int(sub));
  for (int i = 0; i < 4; i++) r[i] = unsigned(v[i]);
#else
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}
uint64_t xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
#endif
}
#endif

/** The best level the CPU and the OS support (the OS must save the YMM / ZMM state: XCR0). */
int detect() {
#if defined(SF_X86)
  unsigned r[4];
  cpuid(0, 0, r);
  unsigned max_leaf = r[0];
  if (max_leaf < 7) return CPU_PORTABLE;
  cpuid(1, 0, r);
  bool osxsave = r[2] >> 27 & 1, avx = r[2] >> 28 & 1, fma = r[2] >> 12 & 1, f16c = r[2] >> 29 & 1;
  if (!osxsave || !avx) return CPU_PORTABLE;
  uint64_t xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return CPU_PORTABLE;
  cpuid(7, 0, r);
  unsigned ebx = r[1];
  bool avx2 = ebx >> 5 & 1, avx512f = ebx >> 16 & 1, avx512dq = ebx >> 17 & 1, avx512bw = ebx >> 30 & 1,
       avx512vl = ebx >> 31 & 1;
  if (!(avx2 && fma && f16c)) return CPU_PORTABLE;
  if (!(avx512f && avx512dq && avx512bw && avx512vl) || (xcr0 & 0xe0) != 0xe0) return CPU_AVX2;
  cpuid(7, 1, r);
  bool bf16 = r[0] >> 5 & 1;
  return bf16 ? CPU_AVX512_BF16 : CPU_AVX512;
#else
  return CPU_PORTABLE;
#endif
}

const char* kNames[] = {"portable", "avx2", "avx512", "avx512bf16"};

const CpuKernels* table_for(int level) {
  switch (level) {
    case CPU_AVX512_BF16:
      return cpu_kernels_avx512_bf16();
    case CPU_AVX512:
      return cpu_kernels_avx512();
    case CPU_AVX2:
      return cpu_kernels_avx2();
    default:
      return nullptr;
  }
}

struct State {
  int detected = CPU_PORTABLE, level = CPU_PORTABLE;
  char env_error[160] = {0};
  std::atomic<const CpuKernels*> table{nullptr};
  State() {
    detected = detect();
    // the highest level whose translation unit was compiled in (a build without the flags has no table)
    while (detected > CPU_PORTABLE && !table_for(detected)) detected--;
    level = detected;
    const char* env = std::getenv("SQLFOCUS_CPU");
    if (env && *env && std::strcmp(env, "auto") != 0) {
      int want = -1;
      for (int i = 0; i < 4; i++)
        if (std::strcmp(env, kNames[i]) == 0) want = i;
      if (want < 0)
        std::snprintf(env_error, sizeof env_error,
                      "SQLFOCUS_CPU=%.40s is not one of auto, portable, avx2, avx512, avx512bf16", env);
      else if (want < level)
        level = want;
    }
    table.store(table_for(level));
  }
};

State& state() {
  static State s;
  return s;
}

}  // namespace

const CpuKernels* cpu_kernels() { return state().table.load(std::memory_order_relaxed); }
int cpu_level() { return state().level; }
int cpu_detected_level() { return state().detected; }
const char* cpu_level_name(int level) { return level >= 0 && level < 4 ? kNames[level] : "?"; }
const char* cpu_env_error() { return state().env_error; }
int cpu_set_level(int level) {
  State& s = state();
  s.level = level < CPU_PORTABLE ? CPU_PORTABLE : level > s.detected ? s.detected : level;
  s.table.store(table_for(s.level));
  return s.level;
}

// ---- the entry points of kernels.h ---------------------------------------------------------------------------
bool matmul_forward_simd(float* out, const float* x, const void* w, int wt, int M, int N, int K, bool accumulate,
                         int threads) {
  const CpuKernels* k = cpu_kernels();
  return k && k->matmul_forward && k->matmul_forward(out, x, w, wt, M, N, K, accumulate, threads);
}
bool matmul_backward_input_simd(float* dx, const float* dout, const void* w, int wt, int M, int N, int K,
                                bool accumulate, int threads) {
  const CpuKernels* k = cpu_kernels();
  return k && k->matmul_backward_input && k->matmul_backward_input(dx, dout, w, wt, M, N, K, accumulate, threads);
}
bool matmul_backward_weight_simd(float* dw, const float* a, const float* b, int M, int N, int K, float alpha,
                                 int threads) {
  const CpuKernels* k = cpu_kernels();
  return k && k->matmul_backward_weight && k->matmul_backward_weight(dw, a, b, M, N, K, alpha, threads);
}
bool attention_forward_simd(float* out, float* lse, const float* q, const float* k, const float* v, int B, int Tn,
                            int NH, int KV, int D, int threads) {
  const CpuKernels* t = cpu_kernels();
  return t && t->attention_forward && t->attention_forward(out, lse, q, k, v, B, Tn, NH, KV, D, threads);
}
bool attention_backward_simd(float* dq, float* dk, float* dv, const float* dout, const float* lse, const float* q,
                             const float* k, const float* v, int B, int Tn, int NH, int KV, int D, int threads) {
  const CpuKernels* t = cpu_kernels();
  return t && t->attention_backward && t->attention_backward(dq, dk, dv, dout, lse, q, k, v, B, Tn, NH, KV, D, threads);
}
bool softmax_xent_rows_simd(float* logits, const int32_t* labels, int Nc, int V, float scale, bool grad, double* loss,
                            int threads) {
  const CpuKernels* k = cpu_kernels();
  return k && k->softmax_xent_rows && k->softmax_xent_rows(logits, labels, Nc, V, scale, grad, loss, threads);
}

}  // namespace sf

extern "C" {

int sf_dequantize(int dtype, const void* data, float* out, int64_t n, int source) {
  int block, bytes;
  if (!sf::quant_geometry(dtype, &block, &bytes) || n < 0 || n % block != 0) return -1;
  bool ok;
  if (source == 0) {
    const sf::CpuKernels* k = sf::cpu_kernels();
    ok = k && k->dequantize ? k->dequantize(out, data, dtype, n) : sf::dequantize_portable(out, data, dtype, n);
  } else if (source == 1) {
    ok = sf::dequantize_portable(out, data, dtype, n);
  } else {
    ok = sf::dequantize_portable(out, data, dtype, n, true);
  }
  return ok ? 0 : -1;
}

const char* sf_cpu_level(void) { return sf::cpu_level_name(sf::cpu_level()); }

}  // extern "C"
