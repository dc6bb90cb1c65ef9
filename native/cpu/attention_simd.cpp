// Float attention for head sizes that are multiples of 16: per (batch, KV head) task, the heads' Q/K/V are gathered
// into contiguous [T, D] panels and every product is one of the AVX-512 matmuls, by query blocks of 64 rows that
// only touch the keys they can see (causal). Same contract and results (to rounding) as the portable
// attention_forward / attention_backward in kernels.h; probabilities are recomputed from lse in the backward.
#include <cmath>
#include <vector>

#include "cpu/kernels.h"

namespace sf {

#if defined(__AVX512F__)  // otherwise the stubs in matmul_simd.cpp answer false

namespace {
constexpr int QB = 64;  // query rows per block

void gather(float* dst, const float* src, int Tn, int stride, int D) {
  for (int t = 0; t < Tn; t++) std::copy(src + size_t(t) * stride, src + size_t(t) * stride + D, dst + size_t(t) * D);
}
void scatter(float* dst, const float* src, int Tn, int stride, int D) {
  for (int t = 0; t < Tn; t++) std::copy(src + size_t(t) * D, src + size_t(t + 1) * D, dst + size_t(t) * stride);
}

/** P[r, s] = exp(S[r, s]·scale − lse[t0 + r]) for s ≤ t0 + r, else 0 (row stride n). */
void probabilities(float* S, const float* lse, int t0, int rows, int n, float scale) {
  for (int r = 0; r < rows; r++) {
    float* row = S + size_t(r) * n;
    int t = t0 + r;
    float l = lse[t];
    #pragma omp simd
    for (int s = 0; s <= t; s++) row[s] = expf_fast(row[s] * scale - l);
    for (int s = t + 1; s < n; s++) row[s] = 0.0f;
  }
}
}  // namespace

bool attention_forward_simd(float* out, float* lse, const float* q, const float* k, const float* v, int B, int Tn, int NH, int KV, int D, int threads) {
  if (D % 16 != 0) return false;
  int group = NH / KV, qs = NH * D, ks = KV * D;
  float scale = 1.0f / std::sqrt(float(D));
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> Q(size_t(Tn) * D), K(size_t(Tn) * D), Vv(size_t(Tn) * D), O(size_t(QB) * D), S(size_t(QB) * Tn);
#pragma omp for schedule(static) collapse(2)
    for (int b = 0; b < B; b++)
      for (int kh = 0; kh < KV; kh++) {
        gather(K.data(), k + size_t(b) * Tn * ks + kh * D, Tn, ks, D);
        gather(Vv.data(), v + size_t(b) * Tn * ks + kh * D, Tn, ks, D);
        for (int h = kh * group; h < (kh + 1) * group; h++) {
          gather(Q.data(), q + size_t(b) * Tn * qs + h * D, Tn, qs, D);
          float* L = lse + (size_t(b) * NH + h) * Tn;
          for (int t0 = 0; t0 < Tn; t0 += QB) {
            int rows = std::min(QB, Tn - t0), n = t0 + rows;  // keys 0..n−1 are visible to this block
            matmul_forward_simd(S.data(), Q.data() + size_t(t0) * D, K.data(), SF_F32, rows, n, D, false, 1);
            for (int r = 0; r < rows; r++) {
              float* row = S.data() + size_t(r) * n;
              int t = t0 + r;
              float mx = -INFINITY;
              #pragma omp simd reduction(max : mx)
              for (int s = 0; s <= t; s++) mx = std::max(mx, row[s] * scale);
              float z = 0;
              #pragma omp simd reduction(+ : z)
              for (int s = 0; s <= t; s++) z += row[s] = expf_fast(row[s] * scale - mx);
              float iz = 1.0f / z;
              for (int s = 0; s <= t; s++) row[s] *= iz;
              for (int s = t + 1; s < n; s++) row[s] = 0.0f;
              L[t] = mx + std::log(z);
            }
            matmul_backward_input_simd(O.data(), S.data(), Vv.data(), SF_F32, rows, n, D, false, 1);
            scatter(out + (size_t(b) * Tn + t0) * qs + h * D, O.data(), rows, qs, D);
          }
        }
      }
  }
  return true;
}

bool attention_backward_simd(float* dq, float* dk, float* dv, const float* dout, const float* lse, const float* q, const float* k, const float* v, int B, int Tn, int NH, int KV, int D, int threads) {
  if (D % 16 != 0) return false;
  int group = NH / KV, qs = NH * D, ks = KV * D;
  float scale = 1.0f / std::sqrt(float(D));
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> Q(size_t(Tn) * D), K(size_t(Tn) * D), Vv(size_t(Tn) * D), dO(size_t(Tn) * D), dK(size_t(Tn) * D), dV(size_t(Tn) * D);
    std::vector<float> dQ(size_t(QB) * D), P(size_t(QB) * Tn), dP(size_t(QB) * Tn);
#pragma omp for schedule(static) collapse(2)
    for (int b = 0; b < B; b++)
      for (int kh = 0; kh < KV; kh++) {
        gather(K.data(), k + size_t(b) * Tn * ks + kh * D, Tn, ks, D);
        gather(Vv.data(), v + size_t(b) * Tn * ks + kh * D, Tn, ks, D);
        std::fill(dK.begin(), dK.end(), 0.0f);
        std::fill(dV.begin(), dV.end(), 0.0f);
        for (int h = kh * group; h < (kh + 1) * group; h++) {
          gather(Q.data(), q + size_t(b) * Tn * qs + h * D, Tn, qs, D);
          gather(dO.data(), dout + size_t(b) * Tn * qs + h * D, Tn, qs, D);
          const float* L = lse + (size_t(b) * NH + h) * Tn;
          for (int t0 = 0; t0 < Tn; t0 += QB) {
            int rows = std::min(QB, Tn - t0), n = t0 + rows;
            const float* Qb = Q.data() + size_t(t0) * D;
            const float* dOb = dO.data() + size_t(t0) * D;
            matmul_forward_simd(P.data(), Qb, K.data(), SF_F32, rows, n, D, false, 1);
            probabilities(P.data(), L, t0, rows, n, scale);
            matmul_forward_simd(dP.data(), dOb, Vv.data(), SF_F32, rows, n, D, false, 1);  // dP = dO·Vᵀ
            for (int r = 0; r < rows; r++) {
              float* pr = P.data() + size_t(r) * n;
              float* dr = dP.data() + size_t(r) * n;
              float sum = 0;
              for (int s = 0; s < n; s++) sum += pr[s] * dr[s];
              for (int s = 0; s < n; s++) dr[s] = pr[s] * (dr[s] - sum) * scale;  // dS (scaled)
            }
            matmul_backward_input_simd(dQ.data(), dP.data(), K.data(), SF_F32, rows, n, D, false, 1);   // dQ = dS·K
            matmul_backward_weight_simd(dK.data(), dP.data(), Qb, rows, n, D, 1.0f, 1);                 // dK += dSᵀ·Q
            matmul_backward_weight_simd(dV.data(), P.data(), dOb, rows, n, D, 1.0f, 1);                 // dV += Pᵀ·dO
            scatter(dq + (size_t(b) * Tn + t0) * qs + h * D, dQ.data(), rows, qs, D);
          }
        }
        scatter(dk + size_t(b) * Tn * ks + kh * D, dK.data(), Tn, ks, D);
        scatter(dv + size_t(b) * Tn * ks + kh * D, dV.data(), Tn, ks, D);
      }
  }
  return true;
}

#endif

}  // namespace sf
