// matmul_forward / matmul_backward_input / matmul_backward_weight and the classifier chunk on cuBLAS
// (cublasGemmEx, BF16 or F32 inputs, F32 compute). Only compiled when CMake found cuBLAS (SQLFOCUS_WITH_CUDA).
// The base projections are frozen, so their backward is one GEMM (dX = dY W); the LoRA branch (written once, in
// native/core/train.cpp) is four skinny GEMMs of rank r whose weight gradients land in the F32 gradient buffer.
// Row-major matrices are handed to column-major cuBLAS as their transposes: C^T = op(B)^T op(A)^T.
#include <cublas_v2.h>

#include <stdexcept>
#include <string>

#include "common.cuh"
#include "kernels.h"
#include "matmul.h"

namespace sf::cuda {

namespace {
void check_blas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw Error(st == CUBLAS_STATUS_ALLOC_FAILED ? SF_ERR_OUT_OF_MEMORY : SF_ERR_DEVICE,
                std::string("cuBLAS error ") + std::to_string(static_cast<int>(st)) + " in " + what);
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
  check_blas(cublasGemmEx(as_handle(handle_), transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, N,
                          M, K, &alpha, B, cuda_type(ab), ldb, A, cuda_type(ab), lda, &beta, C, cuda_type(c), N,
                          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
             "cublasGemmEx");
}

template <typename T>
void matmul_forward(T* out, const T* x, const T* w, const T* bias, int M, int N, int K, bool accumulate, Blas& blas,
                    cudaStream_t s) {
  constexpr ElemType t = elem_type_of<T>();
  blas.gemm(false, true, M, N, K, 1.0f, x, w, t, accumulate ? 1.0f : 0.0f, out, t);
  if (bias) bias_forward(out, bias, M, N, s);
}

template <typename T>
void matmul_backward_input(T* dx, const T* dout, const T* w, int M, int N, int K, bool accumulate, Blas& blas) {
  constexpr ElemType t = elem_type_of<T>();
  blas.gemm(false, false, M, K, N, 1.0f, dout, w, t, accumulate ? 1.0f : 0.0f, dx, t);
}

template <typename T>
void matmul_backward_weight(float* dw, const T* a, const T* b, int M, int N, int K, float alpha, Blas& blas) {
  blas.gemm(true, false, N, K, M, alpha, a, b, elem_type_of<T>(), 1.0f, dw, ElemType::F32);
}

template <typename T>
void classifier_forward_backward(T* dh, const T* h, const int32_t* targets, const T* w, int Nc, int V, int C,
                                 float scale, float* logits, T* dlogits, float* losses, Blas& blas, cudaStream_t s) {
  constexpr ElemType t = elem_type_of<T>();
  blas.gemm(false, true, Nc, V, C, 1.0f, h, w, t, 0.0f, logits, ElemType::F32);
  cross_entropy_forward_backward<T>(losses, dh ? dlogits : nullptr, logits, targets, Nc, V, scale, s);
  if (dh) matmul_backward_input<T>(dh, dlogits, w, Nc, V, C, false, blas);
}

template <typename T>
void logits_forward(float* logits, const T* h, const T* w, int Nc, int V, int C, Blas& blas) {
  blas.gemm(false, true, Nc, V, C, 1.0f, h, w, elem_type_of<T>(), 0.0f, logits, ElemType::F32);
}

#define SF_INSTANTIATE(T)                                                                                            \
  template void matmul_forward<T>(T*, const T*, const T*, const T*, int, int, int, bool, Blas&, cudaStream_t);       \
  template void matmul_backward_input<T>(T*, const T*, const T*, int, int, int, bool, Blas&);                        \
  template void matmul_backward_weight<T>(float*, const T*, const T*, int, int, int, float, Blas&);                  \
  template void classifier_forward_backward<T>(T*, const T*, const int32_t*, const T*, int, int, int, float, float*, \
                                               T*, float*, Blas&, cudaStream_t);                                     \
  template void logits_forward<T>(float*, const T*, const T*, int, int, int, Blas&);
SF_INSTANTIATE(float)
SF_INSTANTIATE(nv_bf16)
#undef SF_INSTANTIATE

}  // namespace sf::cuda
