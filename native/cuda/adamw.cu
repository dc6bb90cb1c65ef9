// adamw_update and global_norm_squared: twins of the CPU adamw and grad-norm-clip kernels, over the one flat
// F32 buffer that holds every LoRA A and B (so a whole optimizer step is three launches). global_norm_squared
// is a two-stage, fixed-order reduction (same norm on every run). adamw_update fuses the clip factor
// (max_norm / (norm + 1e-6), PyTorch's clip_grad_norm_), PyTorch AdamW (decoupled weight decay,
// bias-corrected moments), the write of the T copy of the parameters the matmuls read, and zeroing
// the gradient for the next accumulation window.
#include <cmath>

#include "common.cuh"
#include "kernels.h"

namespace sqlfocus::cuda {

namespace {
constexpr int SUMSQ_BLOCKS = 1024;
}

__global__ void grad_sumsq_partial_kernel(float* partials, const float* g, size_t n) {
  float a = 0.0f;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    a += g[i] * g[i];
  a = block_sum(a);
  if (threadIdx.x == 0) partials[blockIdx.x] = a;
}
__global__ void grad_sumsq_final_kernel(float* out, const float* partials, int n) {
  float a = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) a += partials[i];
  a = block_sum(a);
  if (threadIdx.x == 0) *out = a;
}

void global_norm_squared(float* out, float* partials, const float* g, size_t n, cudaStream_t s) {
  grad_sumsq_partial_kernel<<<SUMSQ_BLOCKS, 256, 0, s>>>(partials, g, n);
  SF_CUDA_LAUNCHED();
  grad_sumsq_final_kernel<<<1, 1024, 0, s>>>(out, partials, SUMSQ_BLOCKS);
  SF_CUDA_LAUNCHED();
}

template <typename T>
__global__ void adamw_kernel(float* p, T* p_copy, float* g, float* m, float* v, size_t n, float lr, float beta1,
                             float beta2, float eps, float weight_decay, float grad_scale, float bc1, float bc2) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float grad = g[i] * grad_scale;
  float w = p[i] * (1.0f - lr * weight_decay);
  const float mi = beta1 * m[i] + (1.0f - beta1) * grad;
  const float vi = beta2 * v[i] + (1.0f - beta2) * grad * grad;
  w -= lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
  m[i] = mi;
  v[i] = vi;
  p[i] = w;
  p_copy[i] = from_f32<T>(w);
  g[i] = 0.0f;
}

template <typename T>
void adamw_update(float* p, T* p_copy, float* g, float* m, float* v, size_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, float grad_scale, int step, cudaStream_t s) {
  if (n == 0) return;
  const float bc1 = 1.0f - std::pow(beta1, static_cast<float>(step));
  const float bc2 = 1.0f - std::pow(beta2, static_cast<float>(step));
  adamw_kernel<T><<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(p, p_copy, g, m, v, n, lr, beta1, beta2,
                                                                           eps, weight_decay, grad_scale, bc1, bc2);
  SF_CUDA_LAUNCHED();
}

template <typename T> __global__ void cast_copy_kernel(T* dst, const float* src, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = from_f32<T>(src[i]);
}
template <typename T> void cast_copy(T* dst, const float* src, size_t n, cudaStream_t s) {
  if (n == 0) return;
  cast_copy_kernel<T><<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(dst, src, n);
  SF_CUDA_LAUNCHED();
}

#define SF_INSTANTIATE(T)                                                                                    \
  template void adamw_update<T>(float*, T*, float*, float*, float*, size_t, float, float, float, float, float, \
                                float, int, cudaStream_t);                                                   \
  template void cast_copy<T>(T*, const float*, size_t, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(bf16)
#undef SF_INSTANTIATE

}  // namespace sqlfocus::cuda
