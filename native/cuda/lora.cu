// dropout_forward / dropout_backward: the element-wise half of the LoRA branch y += s * dropout(x) A^T B^T
// (native/core/train.cpp writes the branch; its matmuls are matmul.cu's), twins of the CPU pair. PEFT gives each
// adapted projection its own dropout; here each (step, layer, projection) gets its own key and the mask comes
// from core/shared.h's stateless hash of (key, element), so it is never stored: the backward and a recomputed
// forward rebuild it, identical to the CPU's. With p = 0 the step skips these kernels.
#include "common.cuh"
#include "kernels.h"

namespace sf::cuda {

template <typename T>
__global__ void lora_dropout_forward_kernel(T* xd, const T* x, size_t n, float p, uint64_t key) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  xd[i] = dropout_keep(key, i, p) ? from_f32<T>(to_f32(x[i]) / (1.0f - p)) : from_f32<T>(0.0f);
}

template <typename T>
__global__ void lora_dropout_backward_kernel(T* dx, const T* dxd, size_t n, float p, uint64_t key) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (dropout_keep(key, i, p)) dx[i] = from_f32<T>(to_f32(dx[i]) + to_f32(dxd[i]) / (1.0f - p));
}

template <typename T>
void dropout_forward(T* xd, const T* x, size_t n, float p, uint64_t key, cudaStream_t s) {
  if (n == 0) return;
  lora_dropout_forward_kernel<T><<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(xd, x, n, p, key);
  SF_CUDA_LAUNCHED();
}
template <typename T>
void dropout_backward(T* dx, const T* dxd, size_t n, float p, uint64_t key, cudaStream_t s) {
  if (n == 0) return;
  lora_dropout_backward_kernel<T><<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(dx, dxd, n, p, key);
  SF_CUDA_LAUNCHED();
}

#define SF_INSTANTIATE(T)                                                                \
  template void dropout_forward<T>(T*, const T*, size_t, float, uint64_t, cudaStream_t); \
  template void dropout_backward<T>(T*, const T*, size_t, float, uint64_t, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(nv_bf16)
#undef SF_INSTANTIATE

}  // namespace sf::cuda
