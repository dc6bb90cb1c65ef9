// The float kernels for AVX2 + FMA + F16C CPUs: simd_kernels.inc over 8-lane vectors. Compiled with AVX2 flags
// (CMakeLists.txt / binding.gyp); selected at run time by dispatch.cpp. See dispatch.h for the rule this file
// follows (nothing shared with other translation units but cpu_kernels_avx2()).
#include "cpu/dispatch.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sqlfocus.h>

#include "cpu/quant.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace sf {
namespace {

struct Isa {
  using vf = __m256;
  using mask = __m256i;
  static constexpr int L = 8;
  static constexpr int MR = 6;                // forward: 6 rows × 2 vectors = 12 accumulators (16 registers)
  static constexpr int MR_NN = 6, C_NN = 2;   // input gradient: 6 rows × 2 vectors
  static constexpr int RN_WG = 6, CK_WG = 2;  // weight gradient: 6 rows × 2 vectors
  static constexpr int RN_NARROW = 12;        // weight gradient with K = 8: 12 rows × 1 vector
  static vf zero() { return _mm256_setzero_ps(); }
  static vf set1(float a) { return _mm256_set1_ps(a); }
  static vf load(const float* p) { return _mm256_loadu_ps(p); }
  static vf loada(const float* p) { return _mm256_load_ps(p); }
  static void store(float* p, vf v) { _mm256_storeu_ps(p, v); }
  static void storea(float* p, vf v) { _mm256_store_ps(p, v); }
  static mask tail(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static vf maskload(mask m, const float* p) { return _mm256_maskload_ps(p, m); }
  static void maskstore(float* p, mask m, vf v) { _mm256_maskstore_ps(p, m, v); }
  static vf fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
  static vf add(vf a, vf b) { return _mm256_add_ps(a, b); }
  static vf sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
  static vf mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
  static vf max(vf a, vf b) { return _mm256_max_ps(a, b); }
  static float reduce_add(vf v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float reduce_max(vf v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  /** e^x for x ≤ 0 (Cephes polynomial, ~1 ulp; x < −87 gives ~0); 2^n built in the exponent field. */
  static vf exp(vf x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    vf n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf f = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    f = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), f);
    vf p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, f), f, _mm256_add_ps(f, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }
  /** 8 consecutive weights from element i, as F32 (i + 8 ≤ size). */
  static vf loadw(const void* w, int dt, size_t i) {
    if (dt == SF_F32) return _mm256_loadu_ps(static_cast<const float*>(w) + i);
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    if (dt == SF_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
  }
  /** Row `row` of a ggml-block W ([*, K]) as F32 (the portable dequantizers). */
  static void dequant_row(float* dst, const void* w, int dt, int K, size_t row) {
    weight_row_f32(dst, w, dt, K, row, 0, K);
  }
  static constexpr bool (*dequantize)(float*, const void*, int, int64_t) = nullptr;
  /** In-register 8×8 transpose. */
  static void transpose(vf r[8]) {
    vf t[8], u[8];
    for (int i = 0; i < 4; i++) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
      u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
      u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
      u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
      u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
      r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
      r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
    }
  }
};

#include "cpu/simd_kernels.inc"

}  // namespace

const CpuKernels* cpu_kernels_avx2() { return &kTable; }

}  // namespace sf

#else

namespace sf {
const CpuKernels* cpu_kernels_avx2() { return nullptr; }
}  // namespace sf

#endif
