// The CPU device: the operations the training step (native/core/train.cpp) is written over. Its twin is
// native/cuda/ops.h (same method names, same arguments in the same order); each method says what it computes
// and forwards to the kernels of native/cpu/kernels.h (threads: OpenMP, static schedules, deterministic).
// Pointers are the device's memory (here: host memory). Types: T activations (float; double for the
// finite-difference tests), S per-row statistics / RoPE table / logits (= T), P LoRA master parameters,
// gradients and AdamW moments (= T). Base weights are sf_tensor views read in place in their file dtype.
#pragma once
#include <sqlfocus.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/shared.h"
#include "cpu/kernels.h"

namespace sf::cpu {

template <typename T>
class Ops {
 public:
  using act_t = T;    // activations
  using stat_t = T;   // rstd, lse, RoPE table, logits
  using param_t = T;  // LoRA parameters, gradients, AdamW moments
  static constexpr const char* kName = "cpu";
  static constexpr int kDefaultCeChunk = 128;
  /** Base weights are read where the caller keeps them (never copied). */
  static constexpr bool kWeightsInPlace = true;

  explicit Ops(const sf_trainer_params& p) : threads_(p.threads > 0 ? p.threads : 2) {
    if (*cpu_env_error()) throw Error(SF_ERR_INVALID_ARGUMENT, cpu_env_error());  // SQLFOCUS_CPU names no SIMD level
  }
  int threads() const { return threads_; }

  // ---- memory ----------------------------------------------------------------------------------------------------
  /** bytes of zeroed, 64-byte aligned memory; nullptr when it cannot be had. */
  void* alloc(size_t bytes) {
    if (bytes == 0) bytes = 64;
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p) std::memset(p, 0, bytes);
    return p;
  }
  void release(void* p) { std::free(p); }
  void zero(void* p, size_t bytes) { std::memset(p, 0, bytes); }
  void upload(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
  /** Not used on the CPU (weights stay in place); the CUDA twin converts host weights into dst. */
  void upload_weight(T*, const sf_tensor&, size_t) {}

  // ---- the step's operations (N = B·T tokens) ------------------------------------------------------------------
  /** out[N, C] = wte[ids[n], :] (embeddings frozen: no backward). */
  void encoder_forward(T* out, const int32_t* ids, const sf_tensor& wte, int N, int C) {
    sf::encoder_forward(out, ids, N, wte.data, wte.dtype, C);
  }
  /** out[N, C] = x · rstd · w, rstd[n] = 1/√(mean(x[n]²) + eps). */
  void rmsnorm_forward(T* out, T* rstd, const T* x, const sf_tensor& w, int N, int C, float eps) {
    sf::rmsnorm_forward(out, rstd, x, w.data, w.dtype, N, C, eps, threads_);
  }
  /** dx[N, C] (+)= rstd·g − x·rstd³·mean(g·x), g = dout·w (w frozen). */
  void rmsnorm_backward(T* dx, const T* dout, const T* x, const T* rstd, const sf_tensor& w, int N, int C,
                        bool accumulate) {
    sf::rmsnorm_backward(dx, dout, x, rstd, w.data, w.dtype, N, C, accumulate, threads_);
  }
  /** out[M, N] (+)= x[M, K] · W[N, K]ᵀ (+ bias[N] when bias.data). */
  void matmul_forward(T* out, const T* x, const sf_tensor& w, const sf_tensor& bias, int M, int N, int K,
                      bool accumulate) {
    sf::matmul_forward(out, x, w.data, w.dtype, bias.data, bias.dtype, M, N, K, accumulate, threads_);
  }
  /** dx[M, K] (+)= dout[M, N] · W[N, K] (W frozen). */
  void matmul_backward_input(T* dx, const T* dout, const sf_tensor& w, int M, int N, int K, bool accumulate) {
    sf::matmul_backward_input(dx, dout, w.data, w.dtype, M, N, K, accumulate, threads_);
  }
  /** dw[N, K] += alpha · a[M, N]ᵀ · b[M, K] (the LoRA A/B gradients). */
  void matmul_backward_weight(T* dw, const T* a, const T* b, int M, int N, int K, double alpha) {
    sf::matmul_backward_weight(dw, a, b, M, N, K, T(alpha), threads_);
  }
  /** out[i] = x[i] · alpha (out may be x). */
  void scale(T* out, const T* x, double alpha, size_t n) {
    T s = T(alpha);
    for (size_t i = 0; i < n; i++) out[i] = x[i] * s;
  }
  /** out = x · keep / (1 − p); dropout_backward: dx += dout · keep / (1 − p) (keep from core/shared.h's hash). */
  void dropout_forward(T* out, const T* x, size_t n, float p, uint64_t key) {
    sf::dropout_forward(out, x, n, p, key, threads_);
  }
  void dropout_backward(T* dx, const T* dout, size_t n, float p, uint64_t key) {
    sf::dropout_backward(dx, dout, n, p, key, threads_);
  }
  /** Rotate-half RoPE in place on x[B, T, heads, D] at positions 0..T−1; cs [T, D/2] (cos, sin) pairs.
   *  rope_backward applies the inverse rotation. */
  void rope_forward(T* x, const T* cs, int B, int Tn, int heads, int D) {
    sf::rope_forward(x, cs, B, Tn, heads, D, threads_);
  }
  void rope_backward(T* dx, const T* cs, int B, int Tn, int heads, int D) {
    sf::rope_backward(dx, cs, B, Tn, heads, D, threads_);
  }
  /** Causal GQA: out[B, T, NH·D] from q[B, T, NH·D], k/v[B, T, KV·D]; lse[B, NH, T] kept for the backward. */
  void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, int B, int Tn, int NH, int KV, int D) {
    sf::attention_forward(out, lse, q, k, v, B, Tn, NH, KV, D, threads_);
  }
  /** dq, dk, dv written from dout, P recomputed from q, k, lse. `out` (the forward's output) is what the CUDA twin
   *  takes rowsum(dout∘out) from; the CPU gets the same sum from P and dP and does not read it. */
  void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* /*out*/, const T* lse, const T* q, const T* k,
                          const T* v, int B, int Tn, int NH, int KV, int D) {
    sf::attention_backward(dq, dk, dv, dout, lse, q, k, v, B, Tn, NH, KV, D, threads_);
  }
  /** out = silu(g) · u; swiglu_backward: dg = dout·u·σ(g)(1 + g(1 − σ(g))), du = dout·silu(g) (may be in place
   *  over g and u). */
  void swiglu_forward(T* out, const T* g, const T* u, size_t n) { sf::swiglu_forward(out, g, u, n, threads_); }
  void swiglu_backward(T* dg, T* du, const T* dout, const T* g, const T* u, size_t n) {
    sf::swiglu_backward(dg, du, dout, g, u, n, threads_);
  }
  /** out = a + b (out may be a or b). */
  void residual_forward(T* out, const T* a, const T* b, size_t n) { sf::residual_forward(out, a, b, n, threads_); }
  /** dst[i, :] = src[rows[i], :]; scatter_rows: dst[rows[i], :] = src[i, :] (rows distinct). */
  void gather_rows(T* dst, const T* src, const int32_t* rows, int n, int C) {
    for (int i = 0; i < n; i++) std::memcpy(dst + size_t(i) * C, src + size_t(rows[i]) * C, sizeof(T) * C);
  }
  void scatter_rows(T* dst, const T* src, const int32_t* rows, int n, int C) {
    for (int i = 0; i < n; i++) std::memcpy(dst + size_t(rows[i]) * C, src + size_t(i) * C, sizeof(T) * C);
  }
  /** One chunk of the fused lm_head + cross-entropy: logits[Nc, V] = h·Wᵀ (scratch), returns Σ (logsumexp −
   *  logit[target]); with grad, dh[Nc, C] = (softmax − onehot)·scale · W. */
  double classifier_forward_backward(T* dh, const T* h, const int32_t* targets, const sf_tensor& w, int Nc, int V,
                                     int C, double scale, T* logits, bool grad) {
    return sf::classifier_forward_backward(dh, h, targets, w.data, w.dtype, Nc, V, C, T(scale), logits, grad, threads_);
  }
  /** logits[Nc, V] = h[Nc, C] · Wᵀ (the logits() read-out). */
  void logits_forward(T* logits, const T* h, const sf_tensor& w, int Nc, int V, int C) {
    sf::matmul_forward(logits, h, w.data, w.dtype, nullptr, 0, Nc, V, C, false, threads_);
  }
  /** Σ g² in double, in a fixed order. */
  double global_norm_squared(const T* g, size_t n) { return sf::global_norm_squared(g, n); }
  /** PyTorch AdamW step t on the flat buffers, with g scaled by grad_scale (the clip factor). */
  void adamw_update(T* p, const T* g, T* m, T* v, size_t n, float lr, float beta1, float beta2, float eps,
                    float weight_decay, int64_t t, double grad_scale) {
    sf::adamw_update(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, t, T(grad_scale), threads_);
  }
  /** dst[i] = src[i] in the activation type (the LoRA working copy; P = T here, so the step never calls it). */
  void convert(T* dst, const T* src, size_t n) { std::memcpy(dst, src, n * sizeof(T)); }

 private:
  int threads_;
};

}  // namespace sf::cpu
