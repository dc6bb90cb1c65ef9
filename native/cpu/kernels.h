// CPU kernels of the training engine. Each op is a name_forward / name_backward pair; the comment above each
// says what it computes and the shapes (N = B·T tokens, C channels). Templated on the activation type T
// (float for training, double for the finite-difference tests). Base weights keep their file dtype (F32/F16/BF16,
// or a ggml block type: quant.h) and are converted inside the kernels. Threads: OpenMP over rows/heads, static
// schedules, no atomics, so results are deterministic for a given thread count. The CUDA twins keep these names.
#pragma once
#include <sqlfocus.h>

#include "core/shared.h"
#include "cpu/dispatch.h"
#include "cpu/quant.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace sf {

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, u;
  if (exp == 0) {
    if (mant == 0)
      u = sign;
    else {  // subnormal: normalise
      int e = -1;
      do {
        mant <<= 1;
        e++;
      } while (!(mant & 0x400));
      u = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31)
    u = sign | 0x7f800000u | mant << 13;
  else
    u = sign | (exp + 127 - 15) << 23 | mant << 13;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/** e^x in float: range reduction + Cephes polynomial (~2 ulp), plain arithmetic so that loops vectorise;
 *  x is clamped to [−87, 88]. exp_t<double> is std::exp (the finite-difference tests run in double). */
inline float expf_fast(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  float n = std::rint(x * 1.44269504088896341f);
  float f = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * f * f + f + 1.0f;
  int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}
template <typename T>
inline T exp_t(T x) {
  if constexpr (std::is_same_v<T, float>)
    return expf_fast(x);
  else
    return std::exp(x);
}

/** Element i of a weight tensor of the given dtype, as T. */
template <typename T>
inline T load_weight(const void* w, int dt, size_t i) {
  switch (dt) {
    case SF_F32:
      return T(static_cast<const float*>(w)[i]);
    case SF_BF16:
      return T(bf16_to_f32(static_cast<const uint16_t*>(w)[i]));
    case SF_F16:
      return T(f16_to_f32(static_cast<const uint16_t*>(w)[i]));
    default:
      return T(static_cast<const double*>(w)[i]);
  }
}

/** A row of a weight tensor converted to T (n elements from row * n; a ggml block dtype is dequantized). */
template <typename T>
inline void load_weight_row(T* out, const void* w, int dt, size_t row, int n) {
  size_t o = row * size_t(n);
  if (is_quant_dtype(dt)) {
    const char* p = static_cast<const char*>(w) + row * weight_span_bytes(dt, n);
    if constexpr (std::is_same_v<T, float>)
      dequantize_portable(out, p, dt, n);
    else {
      std::vector<float> f(n);
      dequantize_portable(f.data(), p, dt, n);
      for (int i = 0; i < n; i++) out[i] = T(f[i]);
    }
    return;
  }
  switch (dt) {
    case SF_F32: {
      const float* p = static_cast<const float*>(w) + o;
      for (int i = 0; i < n; i++) out[i] = T(p[i]);
      break;
    }
    case SF_BF16: {
      const uint16_t* p = static_cast<const uint16_t*>(w) + o;
      for (int i = 0; i < n; i++) out[i] = T(bf16_to_f32(p[i]));
      break;
    }
    case SF_F16: {
      const uint16_t* p = static_cast<const uint16_t*>(w) + o;
      for (int i = 0; i < n; i++) out[i] = T(f16_to_f32(p[i]));
      break;
    }
    default: {
      const double* p = static_cast<const double*>(w) + o;
      for (int i = 0; i < n; i++) out[i] = T(p[i]);
      break;
    }
  }
}

// ---- SIMD float paths: the level's kernels (native/cpu/dispatch.cpp); false where the level has none ---------
bool matmul_forward_simd(float* out, const float* x, const void* w, int wt, int M, int N, int K, bool accumulate,
                         int threads);
bool matmul_backward_input_simd(float* dx, const float* dout, const void* w, int wt, int M, int N, int K,
                                bool accumulate, int threads);
bool attention_forward_simd(float* out, float* lse, const float* q, const float* k, const float* v, int B, int Tn,
                            int NH, int KV, int D, int threads);
bool attention_backward_simd(float* dq, float* dk, float* dv, const float* dout, const float* lse, const float* q,
                             const float* k, const float* v, int B, int Tn, int NH, int KV, int D, int threads);
bool matmul_backward_weight_simd(float* dw, const float* a, const float* b, int M, int N, int K, float alpha,
                                 int threads);
bool softmax_xent_rows_simd(float* logits, const int32_t* labels, int Nc, int V, float scale, bool grad, double* loss,
                            int threads);

// ---- encoder: out[N, C] = wte[ids[n], :] (embeddings are frozen: no backward) ----------------------------------
template <typename T>
void encoder_forward(T* out, const int32_t* ids, int N, const void* wte, int wt, int C) {
  for (int n = 0; n < N; n++) load_weight_row(out + size_t(n) * C, wte, wt, size_t(ids[n]), C);
}

// ---- rmsnorm: out[N, C] = x · rstd · w with rstd[n] = 1/sqrt(mean(x[n]²) + eps) ----------------------------------
template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const void* w, int wt, int N, int C, float eps, int threads) {
  std::vector<T> wv(C);
  load_weight_row(wv.data(), w, wt, 0, C);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int n = 0; n < N; n++) {
    const T* xn = x + size_t(n) * C;
    T ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < C; i++) ss += xn[i] * xn[i];
    T r = T(1) / std::sqrt(ss / T(C) + T(eps));
    rstd[n] = r;
    T* on = out + size_t(n) * C;
    for (int i = 0; i < C; i++) on[i] = xn[i] * r * wv[i];
  }
}
/** dx[N, C] (+)= ∂/∂x of Σ dout·out: with g = dout·w, dx = rstd·g − x·rstd³·mean(g·x). (w is frozen.) */
template <typename T>
void rmsnorm_backward(T* dx, const T* dout, const T* x, const T* rstd, const void* w, int wt, int N, int C,
                      bool accumulate, int threads) {
  std::vector<T> wv(C);
  load_weight_row(wv.data(), w, wt, 0, C);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int n = 0; n < N; n++) {
    const T* xn = x + size_t(n) * C;
    const T* dn = dout + size_t(n) * C;
    T* dxn = dx + size_t(n) * C;
    T r = rstd[n], dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int i = 0; i < C; i++) dot += dn[i] * wv[i] * xn[i];
    T c = r * r * r * dot / T(C);
    if (accumulate)
      for (int i = 0; i < C; i++) dxn[i] += r * dn[i] * wv[i] - xn[i] * c;
    else
      for (int i = 0; i < C; i++) dxn[i] = r * dn[i] * wv[i] - xn[i] * c;
  }
}

// ---- matmul: out[M, N] (+)= x[M, K] · W[N, K]ᵀ (+ bias[N]); W in its own dtype (HF Linear layout [out, in]) -----
template <typename T>
void matmul_forward(T* out, const T* x, const void* w, int wt, const void* bias, int bt, int M, int N, int K,
                    bool accumulate, int threads) {
  bool done = false;
  if constexpr (std::is_same_v<T, float>) done = matmul_forward_simd(out, x, w, wt, M, N, K, accumulate, threads);
  if (!done) {
    const int NB = 64;
#pragma omp parallel num_threads(threads)
    {
      std::vector<T> wrow(size_t(NB) * K);
#pragma omp for schedule(static)
      for (int n0 = 0; n0 < N; n0 += NB) {
        int nb = std::min(NB, N - n0);
        for (int j = 0; j < nb; j++) load_weight_row(wrow.data() + size_t(j) * K, w, wt, size_t(n0 + j), K);
        for (int m = 0; m < M; m++) {
          const T* xm = x + size_t(m) * K;
          T* om = out + size_t(m) * N + n0;
          for (int j = 0; j < nb; j++) {
            const T* wj = wrow.data() + size_t(j) * K;
            T s = 0;
#pragma omp simd reduction(+ : s)
            for (int k = 0; k < K; k++) s += xm[k] * wj[k];
            om[j] = accumulate ? om[j] + s : s;
          }
        }
      }
    }
  }
  if (bias) {
    std::vector<T> bv(N);
    load_weight_row(bv.data(), bias, bt, 0, N);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int m = 0; m < M; m++)
      for (int n = 0; n < N; n++) out[size_t(m) * N + n] += bv[n];
  }
}
/** dx[M, K] (+)= dout[M, N] · W[N, K] (the input gradient of matmul_forward; W frozen, bias gradient unused). */
template <typename T>
void matmul_backward_input(T* dx, const T* dout, const void* w, int wt, int M, int N, int K, bool accumulate,
                           int threads) {
  if constexpr (std::is_same_v<T, float>)
    if (matmul_backward_input_simd(dx, dout, w, wt, M, N, K, accumulate, threads)) return;
  // W converted 64 rows at a time (never the whole matrix), threads over rows of dx
  const int NB = 64;
#pragma omp parallel num_threads(threads)
  {
    std::vector<T> wb(size_t(NB) * K);
#if defined(_OPENMP)
    int nt = omp_get_num_threads(), tid = omp_get_thread_num();
#else
    int nt = 1, tid = 0;
#endif
    int m0 = int(int64_t(M) * tid / nt), m1 = int(int64_t(M) * (tid + 1) / nt);
    if (!accumulate)
      for (int m = m0; m < m1; m++) std::fill(dx + size_t(m) * K, dx + size_t(m + 1) * K, T(0));
    for (int n0 = 0; n0 < N && m1 > m0; n0 += NB) {
      int nb = std::min(NB, N - n0);
      for (int j = 0; j < nb; j++) load_weight_row(wb.data() + size_t(j) * K, w, wt, size_t(n0 + j), K);
      for (int m = m0; m < m1; m++) {
        T* dxm = dx + size_t(m) * K;
        const T* dm = dout + size_t(m) * N + n0;
        for (int j = 0; j < nb; j++) {
          T g = dm[j];
          if (g == T(0)) continue;
          const T* wn = wb.data() + size_t(j) * K;
#pragma omp simd
          for (int k = 0; k < K; k++) dxm[k] += g * wn[k];
        }
      }
    }
  }
}
/** dW[N, K] += alpha · a[M, N]ᵀ · b[M, K] (weight gradients of the LoRA matrices). Threads over rows of dW. */
template <typename T>
void matmul_backward_weight(T* dw, const T* a, const T* b, int M, int N, int K, T alpha, int threads) {
  if constexpr (std::is_same_v<T, float>)
    if (matmul_backward_weight_simd(dw, a, b, M, N, K, alpha, threads)) return;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int n = 0; n < N; n++) {
    std::vector<T> acc(K, T(0));
    for (int m = 0; m < M; m++) {
      T g = a[size_t(m) * N + n];
      if (g == T(0)) continue;
      const T* bm = b + size_t(m) * K;
#pragma omp simd
      for (int k = 0; k < K; k++) acc[k] += g * bm[k];
    }
    T* dwn = dw + size_t(n) * K;
    for (int k = 0; k < K; k++) dwn[k] += alpha * acc[k];
  }
}

// ---- dropout (LoRA input): out[N, C] = x · keep / (1 − p), keep = dropout_keep(key, i, p) (core/shared.h: the
// counter-based hash both devices share, key = dropout_key(seed, counter, layer·7 + module)) ---------------------
template <typename T>
void dropout_forward(T* out, const T* x, size_t n, float p, uint64_t key, int threads) {
  T keep = T(1) / (T(1) - T(p));
  if constexpr (std::is_same_v<T, float>)
    if (const CpuKernels* k = cpu_kernels()) return k->dropout_forward(out, x, n, p, key, threads);
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < int64_t(n); i++) out[i] = dropout_uniform_keyed(key, uint64_t(i)) < p ? T(0) : x[i] * keep;
}
/** dx[N, C] += dout · keep / (1 − p) with the same mask as dropout_forward. */
template <typename T>
void dropout_backward(T* dx, const T* dout, size_t n, float p, uint64_t key, int threads) {
  T keep = T(1) / (T(1) - T(p));
  if constexpr (std::is_same_v<T, float>)
    if (const CpuKernels* k = cpu_kernels()) return k->dropout_backward(dx, dout, n, p, key, threads);
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < int64_t(n); i++) dx[i] += dropout_uniform_keyed(key, uint64_t(i)) < p ? T(0) : dout[i] * keep;
}

// ---- rope: rotate-half RoPE in place on x[B, T, heads, D] at positions 0..T−1; cs = [T, D/2] (cos, sin) pairs ---
template <typename T>
void rope_tables(std::vector<T>& cs, int Tn, int D, double theta) {
  cs.resize(size_t(Tn) * D);
  for (int t = 0; t < Tn; t++)
    for (int i = 0; i < D / 2; i++) {
      double f = double(t) / std::pow(theta, double(2 * i) / D);
      cs[(size_t(t) * D / 2 + i) * 2] = T(std::cos(f));
      cs[(size_t(t) * D / 2 + i) * 2 + 1] = T(std::sin(f));
    }
}
template <typename T>
void rope_forward(T* x, const T* cs, int B, int Tn, int heads, int D, int threads) {
  int half = D / 2;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int bt = 0; bt < B * Tn; bt++) {
    int t = bt % Tn;
    const T* c = cs + size_t(t) * D;
    for (int h = 0; h < heads; h++) {
      T* p = x + (size_t(bt) * heads + h) * D;
      for (int i = 0; i < half; i++) {
        T a = p[i], b = p[i + half], co = c[2 * i], si = c[2 * i + 1];
        p[i] = a * co - b * si;
        p[i + half] = b * co + a * si;
      }
    }
  }
}
/** In place: dx = Rᵀ·dout (the inverse rotation). */
template <typename T>
void rope_backward(T* dx, const T* cs, int B, int Tn, int heads, int D, int threads) {
  int half = D / 2;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int bt = 0; bt < B * Tn; bt++) {
    int t = bt % Tn;
    const T* c = cs + size_t(t) * D;
    for (int h = 0; h < heads; h++) {
      T* p = dx + (size_t(bt) * heads + h) * D;
      for (int i = 0; i < half; i++) {
        T a = p[i], b = p[i + half], co = c[2 * i], si = c[2 * i + 1];
        p[i] = a * co + b * si;
        p[i + half] = b * co - a * si;
      }
    }
  }
}

// ---- attention: causal GQA. q[B,T,NH·D], k/v[B,T,KV·D] → out[B,T,NH·D]; lse[B,NH,T] keeps each row's log-sum-exp
// (the probabilities are recomputed in the backward pass, so memory is O(T), not O(T²)) ---------------------------
template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, int B, int Tn, int NH, int KV, int D,
                       int threads) {
  if constexpr (std::is_same_v<T, float>)
    if (attention_forward_simd(out, lse, q, k, v, B, Tn, NH, KV, D, threads)) return;
  int group = NH / KV, qs = NH * D, ks = KV * D;
  T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel num_threads(threads)
  {
    std::vector<T> pt(Tn);
#pragma omp for schedule(static) collapse(2)
    for (int b = 0; b < B; b++)
      for (int h = 0; h < NH; h++) {
        int kh = h / group;
        for (int t = 0; t < Tn; t++) {
          const T* qt = q + (size_t(b) * Tn + t) * qs + h * D;
          T mx = -INFINITY;
          for (int s = 0; s <= t; s++) {
            const T* ksv = k + (size_t(b) * Tn + s) * ks + kh * D;
            T d = 0;
#pragma omp simd reduction(+ : d)
            for (int i = 0; i < D; i++) d += qt[i] * ksv[i];
            d *= scale;
            pt[s] = d;
            mx = std::max(mx, d);
          }
          T z = 0;
          for (int s = 0; s <= t; s++) z += pt[s] = std::exp(pt[s] - mx);
          T iz = T(1) / z;
          lse[(size_t(b) * NH + h) * Tn + t] = mx + std::log(z);
          T* ot = out + (size_t(b) * Tn + t) * qs + h * D;
          for (int i = 0; i < D; i++) ot[i] = 0;
          for (int s = 0; s <= t; s++) {
            const T* vs = v + (size_t(b) * Tn + s) * ks + kh * D;
            T p = pt[s] * iz;
#pragma omp simd
            for (int i = 0; i < D; i++) ot[i] += p * vs[i];
          }
        }
      }
  }
}
/** dq, dk, dv (written) from dout, with P recomputed from q, k and lse: dP = dout·vᵀ, dS = P∘(dP − rowsum(P∘dP)),
 *  dq = dS·k/√D, dk = dSᵀ·q/√D, dv = Pᵀ·dout. Threads over (batch, kv head) so each thread owns its dk/dv rows. */
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* lse, const T* q, const T* k, const T* v, int B,
                        int Tn, int NH, int KV, int D, int threads) {
  if constexpr (std::is_same_v<T, float>)
    if (attention_backward_simd(dq, dk, dv, dout, lse, q, k, v, B, Tn, NH, KV, D, threads)) return;
  int group = NH / KV, qs = NH * D, ks = KV * D;
  T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel num_threads(threads)
  {
    std::vector<T> ds(Tn), pt(Tn);
#pragma omp for schedule(static) collapse(2)
    for (int b = 0; b < B; b++)
      for (int kh = 0; kh < KV; kh++) {
        for (int t = 0; t < Tn; t++) {
          std::fill(dk + (size_t(b) * Tn + t) * ks + kh * D, dk + (size_t(b) * Tn + t) * ks + kh * D + D, T(0));
          std::fill(dv + (size_t(b) * Tn + t) * ks + kh * D, dv + (size_t(b) * Tn + t) * ks + kh * D + D, T(0));
        }
        for (int h = kh * group; h < (kh + 1) * group; h++)
          for (int t = 0; t < Tn; t++) {
            const T* dot = dout + (size_t(b) * Tn + t) * qs + h * D;
            const T* qt = q + (size_t(b) * Tn + t) * qs + h * D;
            T* dqt = dq + (size_t(b) * Tn + t) * qs + h * D;
            T l = lse[(size_t(b) * NH + h) * Tn + t];
            T sum = 0;
            for (int s = 0; s <= t; s++) {
              const T* ksv = k + (size_t(b) * Tn + s) * ks + kh * D;
              const T* vs = v + (size_t(b) * Tn + s) * ks + kh * D;
              T sc = 0, d = 0;
#pragma omp simd reduction(+ : sc, d)
              for (int i = 0; i < D; i++) {
                sc += qt[i] * ksv[i];
                d += dot[i] * vs[i];
              }
              T p = std::exp(sc * scale - l);
              pt[s] = p;
              ds[s] = d;
              sum += d * p;
              T* dvs = dv + (size_t(b) * Tn + s) * ks + kh * D;
#pragma omp simd
              for (int i = 0; i < D; i++) dvs[i] += p * dot[i];
            }
            for (int i = 0; i < D; i++) dqt[i] = 0;
            for (int s = 0; s <= t; s++) {
              T g = pt[s] * (ds[s] - sum) * scale;
              const T* ksv = k + (size_t(b) * Tn + s) * ks + kh * D;
              T* dks = dk + (size_t(b) * Tn + s) * ks + kh * D;
#pragma omp simd
              for (int i = 0; i < D; i++) {
                dqt[i] += g * ksv[i];
                dks[i] += g * qt[i];
              }
            }
          }
      }
  }
}

// ---- swiglu: out[N, I] = silu(g) · u ------------------------------------------------------------------------------
template <typename T>
void swiglu_forward(T* out, const T* g, const T* u, size_t n, int threads) {
  if constexpr (std::is_same_v<T, float>)
    if (const CpuKernels* k = cpu_kernels()) return k->swiglu_forward(out, g, u, n, threads);
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < int64_t(n); i++) out[i] = g[i] / (T(1) + exp_t(-g[i])) * u[i];
}
/** dg = dout·u·σ(g)(1 + g(1 − σ(g))), du = dout·silu(g) (both written; dg/du may alias g/u: in place). */
template <typename T>
void swiglu_backward(T* dg, T* du, const T* dout, const T* g, const T* u, size_t n, int threads) {
  if constexpr (std::is_same_v<T, float>)
    if (const CpuKernels* k = cpu_kernels()) return k->swiglu_backward(dg, du, dout, g, u, n, threads);
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < int64_t(n); i++) {
    T gi = g[i], ui = u[i], s = T(1) / (T(1) + exp_t(-gi));
    du[i] = dout[i] * gi * s;
    dg[i] = dout[i] * ui * s * (T(1) + gi * (T(1) - s));
  }
}

// ---- residual: out = a + b (backward: the gradient flows unchanged to both inputs) ------------------------------
template <typename T>
void residual_forward(T* out, const T* a, const T* b, size_t n, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < int64_t(n); i++) out[i] = a[i] + b[i];
}

// ---- classifier: fused lm_head + softmax cross-entropy for Nc tokens (one chunk) ---------------------------------
/** logits[Nc, V] = h[Nc, C]·Wᵀ (scratch, never more than one chunk); loss[n] = logsumexp − logit[label];
 *  with grad: dh[Nc, C] = (softmax − onehot(label))·scale · W. Returns Σ loss. */
template <typename T>
double classifier_forward_backward(T* dh, const T* h, const int32_t* labels, const void* w, int wt, int Nc, int V,
                                   int C, T scale, T* logits, bool grad, int threads) {
  matmul_forward(logits, h, w, wt, nullptr, 0, Nc, V, C, false, threads);
  double loss = 0;
  if constexpr (std::is_same_v<T, float>) {
    if (softmax_xent_rows_simd(logits, labels, Nc, V, scale, grad, &loss, threads)) {
      if (grad) matmul_backward_input(dh, logits, w, wt, Nc, V, C, false, threads);
      return loss;
    }
  }
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : loss)
  for (int n = 0; n < Nc; n++) {
    T* l = logits + size_t(n) * V;
    T mx = -INFINITY;
    for (int j = 0; j < V; j++) mx = std::max(mx, l[j]);
    T z = 0;
#pragma omp simd reduction(+ : z)
    for (int j = 0; j < V; j++) z += exp_t(l[j] - mx);
    T lse = mx + std::log(z);
    loss += double(lse - l[labels[n]]);
    if (grad) {
      T iz = scale / z;
#pragma omp simd
      for (int j = 0; j < V; j++) l[j] = exp_t(l[j] - mx) * iz;
      l[labels[n]] -= scale;
    }
  }
  if (grad) matmul_backward_input(dh, logits, w, wt, Nc, V, C, false, threads);
  return loss;
}

// ---- optimizer ---------------------------------------------------------------------------------------------------
/** Σ g² in double (fixed order: deterministic). */
template <typename T>
double global_norm_squared(const T* g, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += double(g[i]) * double(g[i]);
  return s;
}
/** PyTorch AdamW: p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
 *  p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps), with g = grad · grad_scale (the clipping factor). */
template <typename T>
void adamw_update(T* p, const T* grad, T* m, T* v, size_t n, float lr, float b1, float b2, float eps, float wd,
                  int64_t t, T grad_scale, int threads) {
  double bc1 = 1.0 - std::pow(double(b1), double(t)), bc2 = 1.0 - std::pow(double(b2), double(t));
  T step_size = T(lr / bc1), bc2s = T(std::sqrt(bc2)), decay = T(1) - T(lr) * T(wd);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < int64_t(n); i++) {
    T g = grad[i] * grad_scale;
    p[i] *= decay;
    m[i] = T(b1) * m[i] + (T(1) - T(b1)) * g;
    v[i] = T(b2) * v[i] + (T(1) - T(b2)) * g * g;
    p[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2s + T(eps));
  }
}

}  // namespace sf
