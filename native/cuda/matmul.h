// matmul_forward / matmul_backward_input and lora_forward / lora_backward: the CUDA twins of the CPU
// matmul+lora kernels, on cuBLAS (compiled only when CMake found cuBLAS). No cuBLAS type leaks into
// this header, so train_cuda.cu and the tests include it without the cuBLAS headers' paths.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace sqlfocus::cuda {

enum class ElemType { F32, BF16 };
template <typename T> constexpr ElemType elem_type_of();
template <> constexpr ElemType elem_type_of<float>() { return ElemType::F32; }
template <> constexpr ElemType elem_type_of<__nv_bfloat16>() { return ElemType::BF16; }

// One cuBLAS handle bound to a stream, with its workspace; default (exact F32) math, F32 accumulation.
class Blas {
 public:
  explicit Blas(cudaStream_t stream);
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;
  // Row-major C[M, N] = alpha * op(A) op(B) + beta * C; A is [M, K] ([K, M] when transA), B is [K, N]
  // ([N, K] when transB). A and B share one element type; C is that type or F32.
  void gemm(bool transA, bool transB, int M, int N, int K, float alpha, const void* A, const void* B,
            ElemType ab, float beta, void* C, ElemType c);
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  void* handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

// out[N, O] = in[N, I] W[O, I]^T (+ bias[O])
template <typename T>
void matmul_forward(Blas& blas, T* out, const T* in, const T* W, const T* bias, int N, int I, int O, cudaStream_t s);
// dinp[N, I] (+)= dout[N, O] W[O, I]; frozen W: no weight gradient.
template <typename T>
void matmul_backward_input(Blas& blas, T* dinp, const T* dout, const T* W, int N, int I, int O, bool accumulate);
// u[N, r] = xd A^T (saved for the backward), out[N, O] += scale * u B^T. A [r, I], B [O, r] in T
// (the copies of the F32 master weights).
template <typename T>
void lora_forward(Blas& blas, T* out, T* u, const T* xd, const T* A, const T* B, int N, int I, int O, int r,
                  float scale);
// dB += scale * dout^T u, du = scale * dout B, dA += du^T xd (dA, dB F32), dxd (+)= du A.
template <typename T>
void lora_backward(Blas& blas, float* dA, float* dB, T* dxd, T* du, const T* dout, const T* xd, const T* u, const T* A,
                   const T* B, int N, int I, int O, int r, float scale, bool accumulate_dx);

// One chunk of the fused lm_head + cross-entropy (twin of the CPU classifier_forward_backward): logits
// [n, V] (F32 scratch) = h[n, H] W[V, H]^T; losses[i] = logsumexp - logit[target]; with dh set,
// dh[n, H] = scale * (softmax - onehot) W (dlogits: T scratch [n, V]).
template <typename T>
void classifier_forward_backward(Blas& blas, float* losses, T* dh, const T* h, const int32_t* targets, const T* W, int n,
                                 int V, int H, float scale, float* logits, T* dlogits, cudaStream_t s);

}  // namespace sqlfocus::cuda
