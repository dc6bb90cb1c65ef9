// AVX-512 float kernels: the hot matmuls (forward out = x·Wᵀ and input gradient dx = dout·W, W in F32/BF16/F16)
// and the row-wise softmax cross-entropy of the classifier. W is converted to F32 block by block into a small
// per-thread buffer (packed K-major for the forward) and reused across all rows of x, so BF16/F16 weights cost
// one conversion per block, not per FMA. Each output element is computed by one thread in a fixed order:
// results do not depend on the thread count. Without AVX-512 these return false and the portable loops run.
#include <cstdlib>

#include "cpu/kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#include <omp.h>
#endif

namespace sf {

#if defined(__AVX512F__)

namespace {

/** 16 consecutive weights from element i, as F32 (i + 16 ≤ size). */
inline __m512 load16(const void* w, int dt, size_t i) {
  if (dt == SF_F32) return _mm512_loadu_ps(static_cast<const float*>(w) + i);
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i));
  if (dt == SF_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  return _mm512_cvtph_ps(h);
}

/** Row `row` of W ([*, K]) into dst as F32. */
inline void convert_row(float* dst, const void* w, int dt, size_t row, int K) {
  size_t base = row * size_t(K);
  int k = 0;
  for (; k + 16 <= K; k += 16) _mm512_storeu_ps(dst + k, load16(w, dt, base + k));
  for (; k < K; k++) dst[k] = load_weight<float>(w, dt, base + k);
}

constexpr int NR = 32;  // forward: W rows per packed panel pair (2 × 16 lanes)
constexpr int MR = 12;  // forward: x rows per micro-tile

/** In-register 16×16 transpose: r[i] = row i in, r[c] = column c out. */
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
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

/** W rows n0..n0+nb (nb ≤ NR) packed K-major: pk[k·NR + j] = W[n0 + j, k], zero for j ≥ nb. */
void pack_nt(float* pk, float* rowbuf, const void* w, int dt, int n0, int nb, int K) {
  if (K % 16 == 0) {
    for (int jb = 0; jb < NR; jb += 16)
      for (int k0 = 0; k0 < K; k0 += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = jb + i < nb ? load16(w, dt, size_t(n0 + jb + i) * K + k0) : _mm512_setzero_ps();
        transpose16(r);
        for (int c = 0; c < 16; c++) _mm512_store_ps(pk + size_t(k0 + c) * NR + jb, r[c]);
      }
    return;
  }
  for (int j = 0; j < NR; j++) {
    if (j < nb) convert_row(rowbuf, w, dt, size_t(n0 + j), K);
    for (int k = 0; k < K; k++) pk[size_t(k) * NR + j] = j < nb ? rowbuf[k] : 0.0f;
  }
}

template <int R>
inline void micro_nt(float* out, int ldo, const float* x, int K, const float* pk, __mmask16 m0, __mmask16 m1, bool accumulate) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 12
  for (int r = 0; r < R; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int k = 0; k < K; k++) {
    __m512 p0 = _mm512_load_ps(pk + size_t(k) * NR), p1 = _mm512_load_ps(pk + size_t(k) * NR + 16);
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
      __m512 xb = _mm512_set1_ps(x[size_t(r) * K + k]);
      acc0[r] = _mm512_fmadd_ps(xb, p0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(xb, p1, acc1[r]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; r++) {
    float* o = out + size_t(r) * ldo;
    if (accumulate) {
      acc0[r] = _mm512_add_ps(acc0[r], _mm512_maskz_loadu_ps(m0, o));
      acc1[r] = _mm512_add_ps(acc1[r], _mm512_maskz_loadu_ps(m1, o + 16));
    }
    _mm512_mask_storeu_ps(o, m0, acc0[r]);
    _mm512_mask_storeu_ps(o + 16, m1, acc1[r]);
  }
}

void tile_nt(float* out, int ldo, const float* x, int K, const float* pk, int rows, int nb, bool accumulate) {
  __mmask16 m0 = nb >= 16 ? 0xffff : __mmask16((1u << nb) - 1);
  __mmask16 m1 = nb >= 32 ? 0xffff : nb <= 16 ? 0 : __mmask16((1u << (nb - 16)) - 1);
  int m = 0;
  for (; m + MR <= rows; m += MR) micro_nt<MR>(out + size_t(m) * ldo, ldo, x + size_t(m) * K, K, pk, m0, m1, accumulate);
  for (; m + 4 <= rows; m += 4) micro_nt<4>(out + size_t(m) * ldo, ldo, x + size_t(m) * K, K, pk, m0, m1, accumulate);
  for (; m < rows; m++) micro_nt<1>(out + size_t(m) * ldo, ldo, x + size_t(m) * K, K, pk, m0, m1, accumulate);
}

struct AlignedBuf {
  float* p = nullptr;
  explicit AlignedBuf(size_t n) { p = static_cast<float*>(std::aligned_alloc(64, ((n * 4 + 63) / 64) * 64)); }
  ~AlignedBuf() { std::free(p); }
};

constexpr int NB_NN = 64;  // input gradient: W rows per converted block
constexpr int MR_NN = 6;   // rows of dx per micro-tile

/** acc[R rows][C vectors of 16] over n in the block: dx[r, kc + 16c] += Σ_n g[r, n] · wb[n, kc + 16c]. */
template <int R, int C>
inline void micro_nn(float* dx, int K, const float* g, int ldg, const float* wb, int nb, int kc, bool load) {
  __m512 acc[R][C];
#pragma GCC unroll 6
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) acc[r][c] = load ? _mm512_loadu_ps(dx + size_t(r) * K + kc + 16 * c) : _mm512_setzero_ps();
  for (int n = 0; n < nb; n++) {
    __m512 wv[C];
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) wv[c] = _mm512_loadu_ps(wb + size_t(n) * K + kc + 16 * c);
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
      __m512 gb = _mm512_set1_ps(g[size_t(r) * ldg + n]);
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) acc[r][c] = _mm512_fmadd_ps(gb, wv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) _mm512_storeu_ps(dx + size_t(r) * K + kc + 16 * c, acc[r][c]);
}

template <int R>
inline void row_group_nn(float* dx, int K, const float* g, int ldg, const float* wb, int nb, bool load) {
  int kc = 0;
  for (; kc + 64 <= K; kc += 64) micro_nn<R, 4>(dx, K, g, ldg, wb, nb, kc, load);
  for (; kc < K; kc += 16) micro_nn<R, 1>(dx, K, g, ldg, wb, nb, kc, load);
}

/** Σ over 16 lanes in a fixed order. */
inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

/** e^x for x ≤ 0 (Cephes polynomial, ~1 ulp; x < −87 gives ~0). */
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  f = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), f);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, f), f, _mm512_add_ps(f, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}


/** acc[RN rows of dW][CK vectors] = Σ_m a[m, n0 + r] · b[m, kc + 16c]; dW += alpha · acc. */
template <int RN, int CK>
inline void micro_wgrad(float* dw, int K, const float* a, int N, const float* b, int M, int n0, int kc, float alpha) {
  __m512 acc[RN][CK];
#pragma GCC unroll 24
  for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
    for (int c = 0; c < CK; c++) acc[r][c] = _mm512_setzero_ps();
  for (int m = 0; m < M; m++) {
    __m512 bv[CK];
#pragma GCC unroll 4
    for (int c = 0; c < CK; c++) bv[c] = _mm512_loadu_ps(b + size_t(m) * K + kc + 16 * c);
    const float* am = a + size_t(m) * N + n0;
#pragma GCC unroll 24
    for (int r = 0; r < RN; r++) {
      __m512 g = _mm512_set1_ps(am[r]);
#pragma GCC unroll 4
      for (int c = 0; c < CK; c++) acc[r][c] = _mm512_fmadd_ps(g, bv[c], acc[r][c]);
    }
  }
  __m512 al = _mm512_set1_ps(alpha);
#pragma GCC unroll 24
  for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
    for (int c = 0; c < CK; c++) {
      float* o = dw + size_t(n0 + r) * K + kc + 16 * c;
      _mm512_storeu_ps(o, _mm512_fmadd_ps(al, acc[r][c], _mm512_loadu_ps(o)));
    }
}

}  // namespace

bool matmul_forward_simd(float* out, const float* x, const void* w, int wt, int M, int N, int K, bool accumulate, int threads) {
  int nblocks = (N + NR - 1) / NR;
  bool by_n = nblocks >= 4 * threads || M < 2 * MR;
#pragma omp parallel num_threads(threads)
  {
    int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    AlignedBuf pk{size_t(K) * NR}, row{size_t(K)};
    if (by_n) {
      // contiguous ranges of W blocks per thread; every block is applied to all rows of x
      int b0 = int(int64_t(nblocks) * tid / nt), b1 = int(int64_t(nblocks) * (tid + 1) / nt);
      for (int b = b0; b < b1; b++) {
        int n0 = b * NR, nb = std::min(NR, N - n0);
        pack_nt(pk.p, row.p, w, wt, n0, nb, K);
        tile_nt(out + n0, N, x, K, pk.p, M, nb, accumulate);
      }
    } else {
      int m0 = int(int64_t(M) * tid / nt), m1 = int(int64_t(M) * (tid + 1) / nt);
      for (int b = 0; b < nblocks && m1 > m0; b++) {
        int n0 = b * NR, nb = std::min(NR, N - n0);
        pack_nt(pk.p, row.p, w, wt, n0, nb, K);
        tile_nt(out + size_t(m0) * N + n0, N, x + size_t(m0) * K, K, pk.p, m1 - m0, nb, accumulate);
      }
    }
  }
  return true;
}

bool matmul_backward_input_simd(float* dx, const float* dout, const void* w, int wt, int M, int N, int K, bool accumulate, int threads) {
  if (K % 16 != 0) return false;
#pragma omp parallel num_threads(threads)
  {
    int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    int m0 = int(int64_t(M) * tid / nt), m1 = int(int64_t(M) * (tid + 1) / nt);
    AlignedBuf wb{size_t(NB_NN) * K};
    for (int n0 = 0; n0 < N && m1 > m0; n0 += NB_NN) {
      int nb = std::min(NB_NN, N - n0);
      for (int j = 0; j < nb; j++) convert_row(wb.p + size_t(j) * K, w, wt, size_t(n0 + j), K);
      bool load = accumulate || n0 > 0;
      int m = m0;
      for (; m + MR_NN <= m1; m += MR_NN) row_group_nn<MR_NN>(dx + size_t(m) * K, K, dout + size_t(m) * N + n0, N, wb.p, nb, load);
      for (; m < m1; m++) row_group_nn<1>(dx + size_t(m) * K, K, dout + size_t(m) * N + n0, N, wb.p, nb, load);
    }
    if (N == 0 && !accumulate)
      for (int m = m0; m < m1; m++) std::fill(dx + size_t(m) * K, dx + size_t(m + 1) * K, 0.0f);
  }
  return true;
}

bool matmul_backward_weight_simd(float* dw, const float* a, const float* b, int M, int N, int K, float alpha, int threads) {
  if (K % 16 != 0) return false;
  // tiles: K == 16 → 24 rows × 1 vector; otherwise 6 rows × 4 vectors (tails: 1 row / 1 vector)
  const bool narrow = K == 16;
  const int RN = narrow ? 24 : 6, CW = narrow ? 16 : 64;
  int ntiles = (N + RN - 1) / RN, ktiles = (K + CW - 1) / CW, tasks = ntiles * ktiles;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int task = 0; task < tasks; task++) {
    int nt = task / ktiles, kt = task % ktiles;
    int n0 = nt * RN, n1 = std::min(N, n0 + RN), k0 = kt * CW, k1 = std::min(K, k0 + CW);
    if (narrow && n1 - n0 == 24) {
      micro_wgrad<24, 1>(dw, K, a, N, b, M, n0, 0, alpha);
      continue;
    }
    for (int n = n0; n < n1;) {
      if (!narrow && n + 6 <= n1 && k1 - k0 == 64) {
        micro_wgrad<6, 4>(dw, K, a, N, b, M, n, k0, alpha);
        n += 6;
      } else {
        for (int kc = k0; kc < k1; kc += 16) micro_wgrad<1, 1>(dw, K, a, N, b, M, n, kc, alpha);
        n += 1;
      }
    }
  }
  return true;
}

bool softmax_xent_rows_simd(float* logits, const int32_t* labels, int Nc, int V, float scale, bool grad, double* loss_out, int threads) {
  double loss = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : loss)
  for (int n = 0; n < Nc; n++) {
    float* l = logits + size_t(n) * V;
    int j = 0;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (; j + 16 <= V; j += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(l + j));
    float m = _mm512_reduce_max_ps(mx);
    for (; j < V; j++) m = std::max(m, l[j]);
    float target = l[labels[n]];
    // e = exp(l − max) kept in place; z = Σ e
    __m512 zv = _mm512_setzero_ps(), mv = _mm512_set1_ps(m);
    for (j = 0; j + 16 <= V; j += 16) {
      __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(l + j), mv));
      if (grad) _mm512_storeu_ps(l + j, e);
      zv = _mm512_add_ps(zv, e);
    }
    float z = hsum(zv);
    for (; j < V; j++) {
      float e = std::exp(l[j] - m);
      if (grad) l[j] = e;
      z += e;
    }
    loss += double(m) + std::log(double(z)) - double(target);
    if (grad) {
      __m512 s = _mm512_set1_ps(scale / z);
      for (j = 0; j + 16 <= V; j += 16) _mm512_storeu_ps(l + j, _mm512_mul_ps(_mm512_loadu_ps(l + j), s));
      for (; j < V; j++) l[j] *= scale / z;
      l[labels[n]] -= scale;
    }
  }
  *loss_out = loss;
  return true;
}

#else

bool matmul_forward_simd(float*, const float*, const void*, int, int, int, int, bool, int) { return false; }
bool matmul_backward_input_simd(float*, const float*, const void*, int, int, int, int, bool, int) { return false; }
bool softmax_xent_rows_simd(float*, const int32_t*, int, int, float, bool, double*, int) { return false; }
bool matmul_backward_weight_simd(float*, const float*, const float*, int, int, int, float, int) { return false; }
bool attention_forward_simd(float*, float*, const float*, const float*, const float*, int, int, int, int, int, int) { return false; }
bool attention_backward_simd(float*, float*, float*, const float*, const float*, const float*, const float*, const float*, int, int, int, int, int, int) { return false; }

#endif

}  // namespace sf
