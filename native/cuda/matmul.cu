// matmul_forward / matmul_backward_input / lora_forward / lora_backward on cuBLAS (cublasGemmEx, BF16 or
// F32 inputs, F32 compute). Only compiled when CMake found cuBLAS (CMakeLists.txt: SQLFOCUS_WITH_CUDA).
// The base projections are frozen, so the backward is one GEMM (dX = dY W); the LoRA branch is four
// skinny GEMMs (rank r) whose weight gradients land in F32 master-gradient buffers.
// Row-major matrices are handed to column-major cuBLAS as their transposes: C^T = op(B)^T op(A)^T.
#include <cublas_v2.h>

#include <stdexcept>
#include <string>

#include "common.cuh"
#include "kernels.h"
#include "matmul.h"

namespace sqlfocus::cuda {

namespace {
void check_blas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLAS error ") + std::to_string(static_cast<int>(st)) + " in " + what);
}
cudaDataType_t cuda_type(ElemType t) { return t == ElemType::F32 ? CUDA_R_32F : CUDA_R_16BF; }
cublasHandle_t as_handle(void* h) { return static_cast<cublasHandle_t>(h); }
constexpr size_t kWorkspaceBytes = 32u << 20;  // Hopper kernels want 32 MiB
}  // namespace

Blas::Blas(cudaStream_t stream) {
  cublasHandle_t h = nullptr;
  check_blas(cublasCreate(&h), "cublasCreate");
  handle_ = h;
  check_blas(cublasSetStream(h, stream), "cublasSetStream");
  check_blas(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  SF_CUDA_CHECK(cudaMalloc(&workspace_, kWorkspaceBytes));
  workspace_bytes_ = kWorkspaceBytes;
  check_blas(cublasSetWorkspace(h, workspace_, kWorkspaceBytes), "cublasSetWorkspace");
}

Blas::~Blas() {
  if (handle_) cublasDestroy(as_handle(handle_));
  if (workspace_) cudaFree(workspace_);
}

void Blas::gemm(bool transA, bool transB, int M, int N, int K, float alpha, const void* A, const void* B, ElemType ab,
                float beta, void* C, ElemType c) {
  if (M == 0 || N == 0) return;
  const int lda = transA ? M : K;
  const int ldb = transB ? K : N;
  check_blas(cublasGemmEx(as_handle(handle_), transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                          N, M, K, &alpha, B, cuda_type(ab), ldb, A, cuda_type(ab), lda, &beta, C, cuda_type(c), N,
                          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
             "cublasGemmEx");
}

template <typename T>
void matmul_forward(Blas& blas, T* out, const T* in, const T* W, const T* bias, int N, int I, int O, cudaStream_t s) {
  constexpr ElemType t = elem_type_of<T>();
  blas.gemm(false, true, N, O, I, 1.0f, in, W, t, 0.0f, out, t);
  if (bias) bias_forward(out, bias, N, O, s);
}

template <typename T>
void matmul_backward_input(Blas& blas, T* dinp, const T* dout, const T* W, int N, int I, int O, bool accumulate) {
  constexpr ElemType t = elem_type_of<T>();
  blas.gemm(false, false, N, I, O, 1.0f, dout, W, t, accumulate ? 1.0f : 0.0f, dinp, t);
}

template <typename T>
void lora_forward(Blas& blas, T* out, T* u, const T* xd, const T* A, const T* B, int N, int I, int O, int r,
                  float scale) {
  constexpr ElemType t = elem_type_of<T>();
  blas.gemm(false, true, N, r, I, 1.0f, xd, A, t, 0.0f, u, t);
  blas.gemm(false, true, N, O, r, scale, u, B, t, 1.0f, out, t);
}

template <typename T>
void lora_backward(Blas& blas, float* dA, float* dB, T* dxd, T* du, const T* dout, const T* xd, const T* u, const T* A,
                   const T* B, int N, int I, int O, int r, float scale, bool accumulate_dx) {
  constexpr ElemType t = elem_type_of<T>();
  blas.gemm(true, false, O, r, N, scale, dout, u, t, 1.0f, dB, ElemType::F32);
  blas.gemm(false, false, N, r, O, scale, dout, B, t, 0.0f, du, t);
  blas.gemm(true, false, r, I, N, 1.0f, du, xd, t, 1.0f, dA, ElemType::F32);
  blas.gemm(false, false, N, I, r, 1.0f, du, A, t, accumulate_dx ? 1.0f : 0.0f, dxd, t);
}

template <typename T>
void classifier_forward_backward(Blas& blas, float* losses, T* dh, const T* h, const int32_t* targets, const T* W, int n,
                                 int V, int H, float scale, float* logits, T* dlogits, cudaStream_t s) {
  constexpr ElemType t = elem_type_of<T>();
  blas.gemm(false, true, n, V, H, 1.0f, h, W, t, 0.0f, logits, ElemType::F32);
  cross_entropy_forward_backward<T>(losses, dh ? dlogits : nullptr, logits, targets, n, V, scale, s);
  if (dh) matmul_backward_input<T>(blas, dh, dlogits, W, n, H, V, false);
}

#define SF_INSTANTIATE(T)                                                                                         \
  template void matmul_forward<T>(Blas&, T*, const T*, const T*, const T*, int, int, int, cudaStream_t);         \
  template void matmul_backward_input<T>(Blas&, T*, const T*, const T*, int, int, int, bool);                          \
  template void lora_forward<T>(Blas&, T*, T*, const T*, const T*, const T*, int, int, int, int, float);         \
  template void lora_backward<T>(Blas&, float*, float*, T*, T*, const T*, const T*, const T*, const T*, const T*, \
                                 int, int, int, int, float, bool);                                            \
  template void classifier_forward_backward<T>(Blas&, float*, T*, const T*, const int32_t*, const T*, int, int, int, \
                                               float, float*, T*, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(bf16)
#undef SF_INSTANTIATE

}  // namespace sqlfocus::cuda
