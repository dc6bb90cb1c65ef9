// BF16-compute matmuls for CPUs with AVX-512 BF16 (vdpbf16ps): the frozen-base GEMMs of a LoRA linear layer when
// W is BF16 or in a ggml block format. Activations are rounded to BF16 (nearest even) at the matmul input, products
// are summed in F32 (vdpbf16ps: two BF16 products per F32 lane), and the output stays F32. W is packed tile by
// tile into panels in the microkernel's layout (K-pairs × 32 columns of dwords), from BF16 directly or dequantized
// from its blocks; F32/F16 weights and everything else go to the AVX-512 F32 kernels (matmul_avx512.cpp).
// Compiled with AVX-512 BF16 flags; see dispatch.h for the rule this file follows.
//
//   forward          out[M, N] (+)= x[M, K] · W[N, K]ᵀ   A = bf16(x) [M, K],    panels of W rows (n) × K-pairs
//   backward_input   dx[M, K]  (+)= dout[M, N] · W[N, K]  A = bf16(dout) [M, N], panels of W columns (k) × N-pairs
//
// Both run the same microkernel: C[12 rows, 32 columns] += Σ_p A[r, 2p..2p+1] · P[p, c, 0..1], reduction blocked
// by KC, columns split between threads (rows when there are few columns). Each output element is summed by one
// thread in a fixed order: results do not depend on the thread count.
#include "cpu/dispatch.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__) && \
    defined(__AVX512BF16__)
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include <sqlfocus.h>

#include "cpu/quant.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace sf {
namespace {

constexpr int NR = 32;   // columns per panel (2 vectors)
constexpr int MR = 12;   // rows per micro-tile: 12 × 2 accumulators
constexpr int KC = 256;  // reduction elements per panel (128 pairs: a 16 KB panel, one K-quant super-block)

inline int imin(int a, int b) { return a < b ? a : b; }
inline int imax(int a, int b) { return a > b ? a : b; }
inline int thread_count() {
#if defined(_OPENMP)
  return omp_get_num_threads();
#else
  return 1;
#endif
}
inline int thread_id() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}
inline void barrier() {
#if defined(_OPENMP)
#pragma omp barrier
#endif
}

void* alloc64(size_t bytes) { return aligned_alloc(64, ((bytes + 63) / 64) * 64 + 64); }

/** A grow-only buffer per thread (kept between calls: no page faults on every matmul). */
struct Scratch {
  void* p = nullptr;
  size_t n = 0;
  void* get(size_t bytes) {
    if (bytes > n) {
      free(p);
      p = alloc64(bytes);
      n = bytes;
    }
    return p;
  }
  ~Scratch() { free(p); }
};
thread_local Scratch act_bf16;                               // the caller's: packed BF16 activations
thread_local Scratch panel_buf, tile_buf, f32_buf, row_buf;  // each OpenMP thread's panels and tiles

inline __mmask16 tail16(int n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}
inline __mmask32 tail32(int n) {
  return n >= 32 ? __mmask32(0xffffffffu) : n <= 0 ? __mmask32(0) : __mmask32((1u << n) - 1);
}

/** n floats → BF16 (round to nearest even), zero-padded to `padded` elements. */
inline void to_bf16(uint16_t* dst, const float* src, int n, int padded) {
  int k = 0;
  for (; k + 32 <= n; k += 32) {
    __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + k + 16), _mm512_loadu_ps(src + k));
    _mm512_storeu_si512(dst + k, (__m512i)v);
  }
  for (; k < n; k += 16) {
    __mmask16 m = tail16(n - k);
    __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + k));
    _mm256_mask_storeu_epi16(dst + k, m, (__m256i)h);
  }
  for (k = n; k < padded; k++) dst[k] = 0;
}

// ---- W as BF16 rows: directly (BF16) or a dequantized tile ---------------------------------------------------
struct Weights {
  const void* w;
  int dt, rows, K;  // W [rows, K]
  size_t row_bytes;
  int block = 1;                                   // elements per ggml block (1: BF16)
  bool (*deq)(float*, const void*, int, int64_t);  // the AVX-512 dequantizers (matmul_avx512.cpp)
  Weights(const void* w_, int dt_, int rows_, int K_) : w(w_), dt(dt_), rows(rows_), K(K_) {
    row_bytes = weight_span_bytes(dt, K);
    int bytes;
    if (dt != SF_BF16) quant_geometry(dt, &block, &bytes);
    deq = cpu_kernels_avx512()->dequantize;
  }
  /** Elements [k0, k0 + n) of row r into dst as BF16 (k0, n whole blocks or n to the row's end); f32 scratch n. */
  void row_bf16(uint16_t* dst, int r, int k0, int n, float* f32) const {
    if (dt == SF_BF16) {
      memcpy(dst, static_cast<const uint16_t*>(w) + size_t(r) * K + k0, size_t(n) * 2);
      return;
    }
    const uint8_t* p = static_cast<const uint8_t*>(w) + size_t(r) * row_bytes + weight_span_bytes(dt, k0);
    deq(f32, p, dt, n);
    to_bf16(dst, f32, n, n);
  }
};

/** In-register 16×16 transpose of 32-bit elements. */
inline void transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int c = 0; c < 4; c++) {
    t[c] = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x88);
    t[4 + c] = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xdd);
    t[8 + c] = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xdd);
  }
  for (int c = 0; c < 4; c++) {
    r[c] = _mm512_shuffle_i32x4(t[c], t[8 + c], 0x88);
    r[8 + c] = _mm512_shuffle_i32x4(t[c], t[8 + c], 0xdd);
    r[4 + c] = _mm512_shuffle_i32x4(t[4 + c], t[12 + c], 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(t[4 + c], t[12 + c], 0xdd);
  }
}

/** Forward panel: W rows n0..n0+nb (≤ 32) over K elements [k0, k0 + kc) → P[p][32] dwords (W[n, k0+2p], W[n, k0+2p+1]),
 *  zero beyond nb / kc. `tile`: 32 × KC BF16 scratch, `f32`: KC floats. */
void pack_forward(uint32_t* P, const Weights& W, int n0, int nb, int k0, int kc, uint16_t* tile, float* f32) {
  const uint16_t* base;
  size_t stride;
  if (W.dt == SF_BF16) {
    base = static_cast<const uint16_t*>(W.w) + size_t(n0) * W.K + k0;
    stride = size_t(W.K);
  } else {
    for (int j = 0; j < nb; j++) W.row_bf16(tile + size_t(j) * KC, n0 + j, k0, kc, f32);
    base = tile;
    stride = KC;
  }
  int np = (kc + 1) / 2;
  for (int jb = 0; jb < NR; jb += 16)
    for (int p0 = 0; p0 < np; p0 += 16) {
      __mmask32 m = tail32(kc - 2 * p0);
      __m512i r[16];
      for (int i = 0; i < 16; i++)
        r[i] =
            jb + i < nb ? _mm512_maskz_loadu_epi16(m, base + size_t(jb + i) * stride + 2 * p0) : _mm512_setzero_si512();
      transpose16(r);
      int nc = imin(16, np - p0);
      for (int c = 0; c < nc; c++) _mm512_store_si512(P + size_t(p0 + c) * NR + jb, r[c]);
    }
}

/** Input-gradient panels: W columns c0..c0+ncols (≤ 32·G) over rows [r0, r0 + kc) → G panels P[g][p][32] dwords
 *  (W[r0+2p, c], W[r0+2p+1, c]), zero beyond the columns / rows. Rows are read whole (ncols contiguous BF16) and
 *  a few pairs ahead are prefetched. `tile`: KC × (32·G) BF16 scratch, `f32`: 32·G floats. */
void pack_backward(uint32_t* P, const Weights& W, int c0, int ncols, int r0, int kc, int G, uint16_t* tile,
                   float* f32) {
  const uint16_t* base;
  size_t stride;
  if (W.dt == SF_BF16) {
    base = static_cast<const uint16_t*>(W.w) + size_t(r0) * W.K + c0;
    stride = size_t(W.K);
  } else {
    for (int r = 0; r < kc; r++) W.row_bf16(tile + size_t(r) * NR * G, r0 + r, c0, ncols, f32);
    base = tile;
    stride = size_t(NR) * G;
  }
  // word 2i from row a, word 2i + 1 from row b (index bit 5 selects b): i = 0..15, then 16..31
  const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37, 5,
                                      36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
  int np = (kc + 1) / 2, npan = (ncols + NR - 1) / NR;
  size_t panel = size_t(np) * NR;
  for (int p = 0; p < np; p++) {
    const uint16_t* a = base + size_t(2 * p) * stride;
    const uint16_t* b = a + stride;
    bool has_b = 2 * p + 1 < kc;
    if (W.dt == SF_BF16 && 2 * p + 8 < kc)
      for (int c = 0; c < ncols; c += 32)
        _mm_prefetch(reinterpret_cast<const char*>(a + 8 * stride + c), _MM_HINT_T0),
            _mm_prefetch(reinterpret_cast<const char*>(b + 8 * stride + c), _MM_HINT_T0);
    for (int g = 0; g < npan; g++) {
      __mmask32 m = tail32(ncols - g * NR);
      __m512i va = _mm512_maskz_loadu_epi16(m, a + g * NR);
      __m512i vb = has_b ? _mm512_maskz_loadu_epi16(m, b + g * NR) : _mm512_setzero_si512();
      uint32_t* dst = P + g * panel + size_t(p) * NR;
      _mm512_store_si512(dst, _mm512_permutex2var_epi16(va, lo, vb));
      _mm512_store_si512(dst + 16, _mm512_permutex2var_epi16(va, hi, vb));
    }
  }
}

/** The next reduction block's weights, asked for (into L2) a few lines at a time while this block computes: W's rows
 *  are strided, so the hardware prefetchers would leave the packers waiting on memory, and asking for all the lines
 *  at once would stall on the fill buffers. */
struct NextBlock {
  const char* base = nullptr;
  size_t stride = 0, bytes = 0;  // rows of `bytes` bytes, `stride` apart
  int rows = 0, row = 0;
  size_t off = 0;
  void start(const Weights& W, bool forward, int c0, int nc, int k0, int kc) {
    const char* w = static_cast<const char*>(W.w);
    stride = W.row_bytes, row = 0, off = 0;
    if (forward)  // rows c0..c0+nc, elements [k0, k0 + kc)
      base = w + size_t(c0) * W.row_bytes + weight_span_bytes(W.dt, k0), rows = nc, bytes = weight_span_bytes(W.dt, kc);
    else  // rows k0..k0+kc, columns [c0, c0 + nc)
      base = w + size_t(k0) * W.row_bytes + weight_span_bytes(W.dt, c0), rows = kc, bytes = weight_span_bytes(W.dt, nc);
  }
  void stop() { rows = 0; }
  /** Asks for up to n more cache lines. */
  void step(int n) {
    for (; n > 0 && row < rows; n--) {
      _mm_prefetch(base + size_t(row) * stride + off, _MM_HINT_T1);
      off += 64;
      if (off >= bytes) off = 0, row++;
    }
  }
  size_t lines() const { return size_t(rows) * ((bytes + 63) / 64); }
};

/** A (the activations, BF16) packed for the microkernel: blocks of MR rows, each pair-major with the MR rows' dwords
 *  (A[r, 2p], A[r, 2p+1]) side by side, rows beyond M zero. Rows [m0, m1) of X (whole blocks) are converted. */
void pack_a(uint32_t* Ap, const float* X, int Kred, int np_all, int M, int m0, int m1, uint16_t* row) {
  for (int mb = m0; mb < m1; mb += MR) {
    uint32_t* blk = Ap + size_t(mb / MR) * np_all * MR;
    for (int r = 0; r < MR; r++) {
      if (mb + r < M)
        to_bf16(row, X + size_t(mb + r) * Kred, Kred, 2 * np_all);
      else
        memset(row, 0, size_t(np_all) * 4);
      const uint32_t* pr = reinterpret_cast<const uint32_t*>(row);
      for (int p = 0; p < np_all; p++) blk[size_t(p) * MR + r] = pr[p];
    }
  }
}

/** C[R rows, 32 columns] (+)= A · P over np pairs (A: one packed MR-row block from pair p0; P: one panel). */
template <int R>
inline void micro(float* C, size_t ldc, const uint32_t* A, const uint32_t* P, int np, __mmask16 m0, __mmask16 m1,
                  bool load) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 12
  for (int r = 0; r < R; r++) {
    acc0[r] = load ? _mm512_maskz_loadu_ps(m0, C + r * ldc) : _mm512_setzero_ps();
    acc1[r] = load ? _mm512_maskz_loadu_ps(m1, C + r * ldc + 16) : _mm512_setzero_ps();
  }
  for (int p = 0; p < np; p++) {
    __m512bh b0 = (__m512bh)_mm512_load_si512(P + size_t(p) * NR),
             b1 = (__m512bh)_mm512_load_si512(P + size_t(p) * NR + 16);
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
      __m512bh a = (__m512bh)_mm512_set1_epi32(int(A[size_t(p) * MR + r]));
      acc0[r] = _mm512_dpbf16_ps(acc0[r], a, b0);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], a, b1);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; r++) {
    _mm512_mask_storeu_ps(C + r * ldc, m0, acc0[r]);
    _mm512_mask_storeu_ps(C + r * ldc + 16, m1, acc1[r]);
  }
}

/** C[R rows, ncol ≤ 32 columns] (+)= A · P for one packed row block holding R ≤ MR live rows. */
inline void micro_any(int R, float* C, size_t ldc, const uint32_t* A, const uint32_t* P, int np, int ncol, bool load) {
  __mmask16 k0 = tail16(ncol), k1 = tail16(ncol - 16);
  switch (R) {
    case 12:
      return micro<12>(C, ldc, A, P, np, k0, k1, load);
    case 8:
    case 9:
    case 10:
    case 11:
      micro<8>(C, ldc, A, P, np, k0, k1, load);
      return micro_any(R - 8, C + 8 * ldc, ldc, A + 8, P, np, ncol, load);
    case 4:
    case 5:
    case 6:
    case 7:
      micro<4>(C, ldc, A, P, np, k0, k1, load);
      return micro_any(R - 4, C + 4 * ldc, ldc, A + 4, P, np, ncol, load);
    case 3:
      micro<1>(C + 2 * ldc, ldc, A + 2, P, np, k0, k1, load);
      [[fallthrough]];
    case 2:
      micro<1>(C + ldc, ldc, A + 1, P, np, k0, k1, load);
      [[fallthrough]];
    case 1:
      micro<1>(C, ldc, A, P, np, k0, k1, load);
      return;
    default:
      return;
  }
}

/** C[M, Ncols] (+)= bf16(X)[M, Kred] · Wop, where the packers give panels of Wop (forward: Wᵀ, backward: W).
 *  Loops per thread: column groups of CG panels (its share) → reduction blocks of KC → pack the group's panels
 *  (L2) → row blocks of MR (the packed A block in L1) → the group's panels. */
template <bool Forward>
void gemm(float* C, const float* X, const Weights& W, int M, int Ncols, int Kred, bool accumulate, int threads) {
  const int G = Forward ? 1 : imax(1, imin(8, W.block / NR));  // backward: panels one dequantized block covers
  const int CG = Forward ? 4 : 8;                              // panels per column group
  const int gcols = NR * CG, groups = (Ncols + gcols - 1) / gcols;
  const int np_all = (Kred + 1) / 2, mblocks = (M + MR - 1) / MR;
  uint32_t* Ap = static_cast<uint32_t*>(act_bf16.get(size_t(mblocks) * np_all * MR * 4));
  const bool by_cols = groups >= 2 * threads || mblocks < 2 * threads;
#pragma omp parallel num_threads(threads)
  {
    int nt = thread_count(), tid = thread_id();
    uint16_t* row = static_cast<uint16_t*>(row_buf.get(size_t(np_all) * 4));
    int b0 = int(int64_t(mblocks) * tid / nt), b1 = int(int64_t(mblocks) * (tid + 1) / nt);
    pack_a(Ap, X, Kred, np_all, M, b0 * MR, b1 * MR, row);
    barrier();
    uint32_t* P = static_cast<uint32_t*>(panel_buf.get(size_t(KC / 2) * gcols * 4));
    uint16_t* tile = static_cast<uint16_t*>(tile_buf.get(size_t(KC) * imax(NR, NR * G) * 2));
    float* f32 = static_cast<float*>(f32_buf.get(size_t(imax(KC, NR * G)) * 4));
    int g0 = 0, g1 = groups, mb0 = 0, mb1 = mblocks;
    if (by_cols)
      g0 = int(int64_t(groups) * tid / nt), g1 = int(int64_t(groups) * (tid + 1) / nt);
    else
      mb0 = b0, mb1 = b1;
    for (int g = g0; g < g1 && mb1 > mb0; g++) {
      int c0 = g * gcols, nc = imin(gcols, Ncols - c0), npan = (nc + NR - 1) / NR;
      for (int k0 = 0; k0 < Kred; k0 += KC) {
        int kc = imin(KC, Kred - k0), np = (kc + 1) / 2;
        size_t panel = size_t(np) * NR;
        bool load = accumulate || k0 > 0;
        if (Forward)
          for (int p = 0; p < npan; p++)
            pack_forward(P + p * panel, W, c0 + p * NR, imin(NR, nc - p * NR), k0, kc, tile, f32);
        else if (W.dt == SF_BF16)
          pack_backward(P, W, c0, nc, k0, kc, CG, tile, f32);
        else
          for (int p = 0; p < npan; p += G)
            pack_backward(P + p * panel, W, c0 + p * NR, imin(NR * G, nc - p * NR), k0, kc, G, tile, f32);
        NextBlock next;
        if (k0 + KC < Kred) next.start(W, Forward, c0, nc, k0 + KC, imin(KC, Kred - k0 - KC));
        const int per_block = int(next.lines() / size_t(imax(1, mb1 - mb0))) + 1;
        for (int mb = mb0; mb < mb1; mb++) {
          next.step(per_block);
          const uint32_t* A = Ap + size_t(mb) * np_all * MR + size_t(k0 / 2) * MR;
          int rows = imin(MR, M - mb * MR);
          float* Cb = C + size_t(mb) * MR * Ncols + c0;
          for (int p = 0; p < npan; p++)
            micro_any(rows, Cb + p * NR, size_t(Ncols), A, P + p * panel, np, imin(NR, nc - p * NR), load);
        }
      }
      if (Kred == 0 && !accumulate)
        for (int m = mb0 * MR; m < imin(M, mb1 * MR); m++)
          for (int c = c0; c < c0 + nc; c++) C[size_t(m) * Ncols + c] = 0.0f;
    }
  }
}

bool uses_bf16(int wt) { return wt == SF_BF16 || is_quant_dtype(wt); }

bool matmul_forward_bf16(float* out, const float* x, const void* w, int wt, int M, int N, int K, bool accumulate,
                         int threads) {
  if (!uses_bf16(wt)) return cpu_kernels_avx512()->matmul_forward(out, x, w, wt, M, N, K, accumulate, threads);
  gemm<true>(out, x, Weights(w, wt, N, K), M, N, K, accumulate, threads);
  return true;
}
bool matmul_backward_input_bf16(float* dx, const float* dout, const void* w, int wt, int M, int N, int K,
                                bool accumulate, int threads) {
  if (!uses_bf16(wt)) return cpu_kernels_avx512()->matmul_backward_input(dx, dout, w, wt, M, N, K, accumulate, threads);
  gemm<false>(dx, dout, Weights(w, wt, N, K), M, K, N, accumulate, threads);
  return true;
}

// the rest: this CPU's AVX-512 F32 kernels
bool wgrad(float* dw, const float* a, const float* b, int M, int N, int K, float alpha, int threads) {
  return cpu_kernels_avx512()->matmul_backward_weight(dw, a, b, M, N, K, alpha, threads);
}
bool attn_fwd(float* out, float* lse, const float* q, const float* k, const float* v, int B, int Tn, int NH, int KV,
              int D, int threads) {
  return cpu_kernels_avx512()->attention_forward(out, lse, q, k, v, B, Tn, NH, KV, D, threads);
}
bool attn_bwd(float* dq, float* dk, float* dv, const float* dout, const float* lse, const float* q, const float* k,
              const float* v, int B, int Tn, int NH, int KV, int D, int threads) {
  return cpu_kernels_avx512()->attention_backward(dq, dk, dv, dout, lse, q, k, v, B, Tn, NH, KV, D, threads);
}
bool xent(float* logits, const int32_t* labels, int Nc, int V, float scale, bool grad, double* loss, int threads) {
  return cpu_kernels_avx512()->softmax_xent_rows(logits, labels, Nc, V, scale, grad, loss, threads);
}
void swiglu_f(float* out, const float* g, const float* u, size_t n, int threads) {
  cpu_kernels_avx512()->swiglu_forward(out, g, u, n, threads);
}
void swiglu_b(float* dg, float* du, const float* dout, const float* g, const float* u, size_t n, int threads) {
  cpu_kernels_avx512()->swiglu_backward(dg, du, dout, g, u, n, threads);
}
void drop_f(float* out, const float* x, size_t n, float p, uint64_t key, int threads) {
  cpu_kernels_avx512()->dropout_forward(out, x, n, p, key, threads);
}
void drop_b(float* dx, const float* dout, size_t n, float p, uint64_t key, int threads) {
  cpu_kernels_avx512()->dropout_backward(dx, dout, n, p, key, threads);
}
bool deq(float* out, const void* w, int dt, int64_t n) { return cpu_kernels_avx512()->dequantize(out, w, dt, n); }

const CpuKernels kTable = {matmul_forward_bf16,
                           matmul_backward_input_bf16,
                           wgrad,
                           attn_fwd,
                           attn_bwd,
                           xent,
                           swiglu_f,
                           swiglu_b,
                           drop_f,
                           drop_b,
                           deq};

}  // namespace

const CpuKernels* cpu_kernels_avx512_bf16() { return cpu_kernels_avx512() ? &kTable : nullptr; }

}  // namespace sf

#else

namespace sf {
const CpuKernels* cpu_kernels_avx512_bf16() { return nullptr; }
}  // namespace sf

#endif
