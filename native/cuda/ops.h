// The CUDA device: the twin of native/cpu/ops.h, with the same method names and the same arguments in the same
// order, so native/core/train.cpp runs one step on either. Plain C++ (no CUDA or cuBLAS types): train.cpp is
// compiled by the host compiler and calls these; native/cuda/ops.cu implements them with the kernel launchers of
// native/cuda/kernels.h and cuBLAS (matmul.cu). All pointers are device memory, work is queued on the device's
// one stream; download() and the calls that return a host value (classifier_forward_backward,
// global_norm_squared) synchronise. Types: T activations and the device copy of the base weights (sf::bf16 for
// training, float for parity runs), S = float for statistics, RoPE table and logits, P = float for the LoRA master
// parameters, gradients and AdamW moments. Built only when CMake finds CUDA + cuBLAS (SQLFOCUS_WITH_CUDA).
#pragma once
#include <sqlfocus.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/shared.h"

namespace sf::cuda {

template <typename T>
class Ops {
 public:
  using act_t = T;
  using stat_t = float;
  using param_t = float;
  static constexpr const char* kName = "cuda";
  static constexpr int kDefaultCeChunk = 512;
  /** Base weights are converted to T and uploaded once into the trainer's weight buffer. */
  static constexpr bool kWeightsInPlace = false;

  /** Selects the current CUDA device, creates the stream and the cuBLAS handle (throws Error SF_ERR_DEVICE). */
  explicit Ops(const sf_trainer_params& p);
  ~Ops();
  Ops(const Ops&) = delete;
  Ops& operator=(const Ops&) = delete;

  // ---- memory ----------------------------------------------------------------------------------------------------
  void* alloc(size_t bytes);  // zeroed; nullptr when the device is out of memory
  void release(void* p);
  void zero(void* p, size_t bytes);
  void upload(void* dst, const void* src, size_t bytes);    // host → device
  void download(void* dst, const void* src, size_t bytes);  // device → host (synchronises)
  /** dst[0, n) = host weight w (F32/F16/BF16) converted to T. */
  void upload_weight(T* dst, const sf_tensor& w, size_t n);

  // ---- the step's operations: see native/cpu/ops.h for what each computes --------------------------------------
  void encoder_forward(T* out, const int32_t* ids, const sf_tensor& wte, int N, int C);
  void rmsnorm_forward(T* out, float* rstd, const T* x, const sf_tensor& w, int N, int C, float eps);
  void rmsnorm_backward(T* dx, const T* dout, const T* x, const float* rstd, const sf_tensor& w, int N, int C,
                        bool accumulate);
  void matmul_forward(T* out, const T* x, const sf_tensor& w, const sf_tensor& bias, int M, int N, int K,
                      bool accumulate);
  void matmul_backward_input(T* dx, const T* dout, const sf_tensor& w, int M, int N, int K, bool accumulate);
  void matmul_backward_weight(float* dw, const T* a, const T* b, int M, int N, int K, double alpha);
  void scale(T* out, const T* x, double alpha, size_t n);
  void dropout_forward(T* out, const T* x, size_t n, float p, uint64_t key);
  void dropout_backward(T* dx, const T* dout, size_t n, float p, uint64_t key);
  void rope_forward(T* x, const float* cs, int B, int Tn, int heads, int D);
  void rope_backward(T* dx, const float* cs, int B, int Tn, int heads, int D);
  void attention_forward(T* out, float* lse, const T* q, const T* k, const T* v, int B, int Tn, int NH, int KV, int D);
  void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* out, const float* lse, const T* q, const T* k,
                          const T* v, int B, int Tn, int NH, int KV, int D);
  void swiglu_forward(T* out, const T* g, const T* u, size_t n);
  void swiglu_backward(T* dg, T* du, const T* dout, const T* g, const T* u, size_t n);
  void residual_forward(T* out, const T* a, const T* b, size_t n);
  void gather_rows(T* dst, const T* src, const int32_t* rows, int n, int C);
  void scatter_rows(T* dst, const T* src, const int32_t* rows, int n, int C);
  double classifier_forward_backward(T* dh, const T* h, const int32_t* targets, const sf_tensor& w, int Nc, int V,
                                     int C, double scale, float* logits, bool grad);
  void logits_forward(float* logits, const T* h, const sf_tensor& w, int Nc, int V, int C);
  double global_norm_squared(const float* g, size_t n);
  void adamw_update(float* p, const float* g, float* m, float* v, size_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int64_t t, double grad_scale);
  void convert(T* dst, const float* src, size_t n);

 private:
  struct State;  // stream, cuBLAS handle, kernel workspace (ops.cu)
  std::unique_ptr<State> s_;
};

extern template class Ops<float>;
extern template class Ops<bf16>;

/** True when a CUDA device can be used; otherwise false and *why says why (no device, driver, …). */
bool device_available(std::string* why);

}  // namespace sf::cuda
