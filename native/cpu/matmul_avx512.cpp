// The float kernels for AVX-512 (F, DQ, BW, VL) CPUs: simd_kernels.inc over 16-lane vectors. Compiled with
// AVX-512 flags (CMakeLists.txt / binding.gyp); selected at run time by dispatch.cpp. See dispatch.h for the
// rule this file follows (nothing shared with other translation units but cpu_kernels_avx512()).
#include "cpu/dispatch.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__FMA__) && defined(__F16C__)
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

// ---- dequantizers of the common ggml block types (same arithmetic and order as quant.cpp and ggml's
// dequantize_row_*: bit-identical F32; the tests check both) -------------------------------------------------------
inline float half(const uint8_t* p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}
inline __m512 u8x16(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
inline __m512 epi32f(__m512i v) { return _mm512_cvtepi32_ps(v); }

void deq_q8_0(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 34, y += 32) {
    __m512 d = _mm512_set1_ps(half(x));
    __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 2));
    _mm512_storeu_ps(y, _mm512_mul_ps(epi32f(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))), d));
    _mm512_storeu_ps(y + 16, _mm512_mul_ps(epi32f(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))), d));
  }
}
void deq_q5_0(const uint8_t* x, float* y, int64_t nb) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t i = 0; i < nb; i++, x += 22, y += 32) {
    __m512 d = _mm512_set1_ps(half(x));
    uint32_t qh;
    memcpy(&qh, x + 2, 4);
    __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 6)));
    __m512i h = _mm512_set1_epi32(int(qh));
    __m512i b0 = _mm512_slli_epi32(_mm512_and_si512(_mm512_srlv_epi32(h, lane), _mm512_set1_epi32(1)), 4);
    __m512i b1 = _mm512_slli_epi32(
        _mm512_and_si512(_mm512_srlv_epi32(h, _mm512_add_epi32(lane, _mm512_set1_epi32(16))), _mm512_set1_epi32(1)), 4);
    __m512i x0 =
        _mm512_sub_epi32(_mm512_or_si512(_mm512_and_si512(q, _mm512_set1_epi32(15)), b0), _mm512_set1_epi32(16));
    __m512i x1 = _mm512_sub_epi32(_mm512_or_si512(_mm512_srli_epi32(q, 4), b1), _mm512_set1_epi32(16));
    _mm512_storeu_ps(y, _mm512_mul_ps(epi32f(x0), d));
    _mm512_storeu_ps(y + 16, _mm512_mul_ps(epi32f(x1), d));
  }
}
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}
void deq_q4_k(const uint8_t* x, float* y, int64_t nb) {
  const __m512i lo = _mm512_set1_epi32(15);
  for (int64_t i = 0; i < nb; i++, x += 144) {
    float d = half(x), mn = half(x + 2);
    const uint8_t* sc = x + 4;
    const uint8_t* q = x + 16;
    for (int j = 0; j < 4; j++, q += 32, y += 64) {
      uint8_t s, m;
      scale_min_k4(2 * j, sc, &s, &m);
      __m512 d1 = _mm512_set1_ps(d * float(s)), m1 = _mm512_set1_ps(mn * float(m));
      scale_min_k4(2 * j + 1, sc, &s, &m);
      __m512 d2 = _mm512_set1_ps(d * float(s)), m2 = _mm512_set1_ps(mn * float(m));
      for (int h = 0; h < 32; h += 16) {
        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + h)));
        _mm512_storeu_ps(y + h, _mm512_sub_ps(_mm512_mul_ps(d1, epi32f(_mm512_and_si512(v, lo))), m1));
        _mm512_storeu_ps(y + 32 + h, _mm512_sub_ps(_mm512_mul_ps(d2, epi32f(_mm512_srli_epi32(v, 4))), m2));
      }
    }
  }
}
void deq_q6_k(const uint8_t* x, float* y, int64_t nb) {
  const __m512i lo = _mm512_set1_epi32(15), three = _mm512_set1_epi32(3), off = _mm512_set1_epi32(32);
  for (int64_t i = 0; i < nb; i++, x += 210) {
    float d = half(x + 208);
    const uint8_t* ql = x;
    const uint8_t* qh = x + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(x + 192);
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
      for (int h = 0; h < 32; h += 16) {
        int is = h / 16;
        __m512i a = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + h)));
        __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + 32 + h)));
        __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qh + h)));
        __m512i q1 = _mm512_sub_epi32(
            _mm512_or_si512(_mm512_and_si512(a, lo), _mm512_slli_epi32(_mm512_and_si512(c, three), 4)), off);
        __m512i q2 =
            _mm512_sub_epi32(_mm512_or_si512(_mm512_and_si512(b, lo),
                                             _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(c, 2), three), 4)),
                             off);
        __m512i q3 =
            _mm512_sub_epi32(_mm512_or_si512(_mm512_srli_epi32(a, 4),
                                             _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(c, 4), three), 4)),
                             off);
        __m512i q4 =
            _mm512_sub_epi32(_mm512_or_si512(_mm512_srli_epi32(b, 4),
                                             _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(c, 6), three), 4)),
                             off);
        _mm512_storeu_ps(y + h, _mm512_mul_ps(_mm512_set1_ps(d * float(sc[is])), epi32f(q1)));
        _mm512_storeu_ps(y + 32 + h, _mm512_mul_ps(_mm512_set1_ps(d * float(sc[is + 2])), epi32f(q2)));
        _mm512_storeu_ps(y + 64 + h, _mm512_mul_ps(_mm512_set1_ps(d * float(sc[is + 4])), epi32f(q3)));
        _mm512_storeu_ps(y + 96 + h, _mm512_mul_ps(_mm512_set1_ps(d * float(sc[is + 6])), epi32f(q4)));
      }
  }
}

/** This level's dequantizer for dt (nullptr: the portable one in quant.cpp). */
void (*simd_dequantizer(int dt))(const uint8_t*, float*, int64_t) {
  switch (dt) {
    case SF_Q8_0:
      return deq_q8_0;
    case SF_Q5_0:
      return deq_q5_0;
    case SF_Q4_K:
      return deq_q4_k;
    case SF_Q6_K:
      return deq_q6_k;
    default:
      return nullptr;
  }
}

/** n elements (whole blocks) of dtype dt into out: these kernels, or the portable / registered dequantizer. */
bool dequantize_avx512(float* out, const void* w, int dt, int64_t n) {
  auto f = simd_dequantizer(dt);
  int block, bytes;
  if (!f || !quant_geometry(dt, &block, &bytes) || n % block != 0) return dequantize_portable(out, w, dt, n);
  f(static_cast<const uint8_t*>(w), out, n / block);
  return true;
}

struct Isa {
  using vf = __m512;
  using mask = __mmask16;
  static constexpr int L = 16;
  static constexpr int MR = 12;               // forward: 12 rows × 2 vectors = 24 accumulators
  static constexpr int MR_NN = 6, C_NN = 4;   // input gradient: 6 rows × 4 vectors
  static constexpr int RN_WG = 6, CK_WG = 4;  // weight gradient: 6 rows × 4 vectors
  static constexpr int RN_NARROW = 24;        // weight gradient with K = 16 (LoRA B): 24 rows × 1 vector
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
    vf n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
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
  /** Row `row` of a ggml-block W ([*, K]) as F32. */
  static void dequant_row(float* dst, const void* w, int dt, int K, size_t row) {
    dequantize_avx512(dst, static_cast<const char*>(w) + row * weight_span_bytes(dt, K), dt, K);
  }
  static constexpr bool (*dequantize)(float*, const void*, int, int64_t) = dequantize_avx512;
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
