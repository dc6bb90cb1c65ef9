// The float kernels for AVX-512 (F, DQ, BW, VL) CPUs: simd_kernels.inc over 16-lane vectors. Compiled with
// AVX-512 flags (CMakeLists.txt / binding.gyp); selected at run time by dispatch.cpp. See dispatch.h for the
// rule this file follows (nothing shared with other translation units but cpu_kernels_avx512()).
#include "cpu/dispatch.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sqlfocus.h>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace sf {
namespace {

struct Isa {
  using vf = __m512;
  using mask = __mmask16;
  static constexpr int L = 16;
  static constexpr int MR = 12;                  // forward: 12 rows × 2 vectors = 24 accumulators
  static constexpr int MR_NN = 6, C_NN = 4;      // input gradient: 6 rows × 4 vectors
  static constexpr int RN_WG = 6, CK_WG = 4;     // weight gradient: 6 rows × 4 vectors
  static constexpr int RN_NARROW = 24;           // weight gradient with K = 16 (LoRA B): 24 rows × 1 vector
  static vf zero() { return _mm512_setzero_ps(); }
  static vf set1(float a) { return _mm512_set1_ps(a); }
  static vf load(const float* p) { return _mm512_loadu_ps(p); }
  static vf loada(const float* p) { return _mm512_load_ps(p); }
  static void store(float* p, vf v) { _mm512_storeu_ps(p, v); }
  static void storea(float* p, vf v) { _mm512_store_ps(p, v); }
  static mask tail(int n) { return n >= 16 ? mask(0xffff) : n <= 0 ? mask(0) : mask((1u << n) - 1); }
  static vf maskload(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void maskstore(float* p, mask m, vf v) { _mm512_mask_storeu_ps(p, m, v); }
  static vf fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
  static vf add(vf a, vf b) { return _mm512_add_ps(a, b); }
  static vf sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
  static vf mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
  static vf max(vf a, vf b) { return _mm512_max_ps(a, b); }
  static float reduce_add(vf v) { return _mm512_reduce_add_ps(v); }
  static float reduce_max(vf v) { return _mm512_reduce_max_ps(v); }
  /** e^x for x ≤ 0 (Cephes polynomial, ~1 ulp; x < −87 gives ~0). */
  static vf exp(vf x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    vf n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf f = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    f = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), f);
    vf p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, f), f, _mm512_add_ps(f, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
  }
  /** 16 consecutive weights from element i, as F32 (i + 16 ≤ size). */
  static vf loadw(const void* w, int dt, size_t i) {
    if (dt == SF_F32) return _mm512_loadu_ps(static_cast<const float*>(w) + i);
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i));
    if (dt == SF_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
  }
  /** In-register 16×16 transpose: r[i] = row i in, r[c] = column c out. */
  static void transpose(vf r[16]) {
    vf t[16];
    for (int i = 0; i < 8; i++) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
      __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
      __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
      r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
      r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
      r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
      r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int c = 0; c < 4; c++) {
      t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
      t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
      t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
      t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
    }
    for (int c = 0; c < 4; c++) {
      r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
      r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
      r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
      r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xdd);
    }
  }
};

#include "cpu/simd_kernels.inc"

}  // namespace

const CpuKernels* cpu_kernels_avx512() { return &kTable; }

}  // namespace sf

#else

namespace sf {
const CpuKernels* cpu_kernels_avx512() { return nullptr; }
}  // namespace sf

#endif
