// matmul_forward / matmul_backward_input / matmul_backward_weight and the classifier chunk: the CUDA twins of the
// CPU matmul kernels, on cuBLAS (compiled only when CMake found cuBLAS). No cuBLAS type leaks into this header, so
// ops.cu and the tests include it without the cuBLAS headers' paths.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace sf::cuda {

enum class ElemType { F32, BF16 };
template <typename T>
constexpr ElemType elem_type_of();
template <>
constexpr ElemType elem_type_of<float>() {
  return ElemType::F32;
}
template <>
constexpr ElemType elem_type_of<__nv_bfloat16>() {
  return ElemType::BF16;
}

// One cuBLAS handle bound to a stream, with its workspace; default (exact F32) math, F32 accumulation.
class Blas {
 public:
  explicit Blas(cudaStream_t stream);
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;
  // Row-major C[M, N] = alpha * op(A) op(B) + beta * C; A is [M, K] ([K, M] when transA), B is [K, N]
  // ([N, K] when transB). A and B share one element type; C is that type or F32.
  void gemm(bool transA, bool transB, int M, int N, int K, float alpha, const void* A, const void* B, ElemType ab,
            float beta, void* C, ElemType c);
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  void* handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

// The CPU matmul twins (native/cpu/kernels.h), same argument order, cuBLAS behind them (blas is bound to the stream).
// out[M, N] (+)= x[M, K] W[N, K]^T (+ bias[N])
template <typename T>
void matmul_forward(T* out, const T* x, const T* w, const T* bias, int M, int N, int K, bool accumulate, Blas& blas,
                    cudaStream_t s);
// dx[M, K] (+)= dout[M, N] W[N, K]; frozen W: no weight gradient.
template <typename T>
void matmul_backward_input(T* dx, const T* dout, const T* w, int M, int N, int K, bool accumulate, Blas& blas);
// dw[N, K] += alpha a[M, N]^T b[M, K] with dw F32 (the LoRA A/B gradients).
template <typename T>
void matmul_backward_weight(float* dw, const T* a, const T* b, int M, int N, int K, float alpha, Blas& blas);

// One chunk of the fused lm_head + cross-entropy (twin of the CPU classifier_forward_backward): logits [Nc, V]
// (F32 scratch) = h[Nc, C] W[V, C]^T; losses[i] = logsumexp - logit[target]; with dh set,
// dh[Nc, C] = scale * (softmax - onehot) W (dlogits: T scratch [Nc, V]).
template <typename T>
void classifier_forward_backward(T* dh, const T* h, const int32_t* targets, const T* w, int Nc, int V, int C,
                                 float scale, float* logits, T* dlogits, float* losses, Blas& blas, cudaStream_t s);
// logits[Nc, V] (F32) = h[Nc, C] W[V, C]^T
template <typename T>
void logits_forward(float* logits, const T* h, const T* w, int Nc, int V, int C, Blas& blas);

}  // namespace sf::cuda
