// adamw_update and global_norm_squared: twins of the CPU adamw_update and global_norm_squared, over the one flat
// F32 buffer that holds every LoRA A and B. global_norm_squared is a two-stage, fixed-order reduction (same norm
// on every run). adamw_update applies the clip factor (max_norm / (norm + 1e-6), PyTorch's clip_grad_norm_, given
// by the step) and PyTorch AdamW (decoupled weight decay, bias-corrected moments). convert writes the T copy of
// the parameters the matmuls read.
#include <cmath>

#include "common.cuh"
#include "kernels.h"

namespace sf::cuda {

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

// The CPU's adamw_update, element for element: p *= 1 - lr*wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// p -= step_size * m / (sqrt(v) / bc2s + eps), with step_size = lr / (1 - b1^t) and bc2s = sqrt(1 - b2^t)
// computed in double on the host.
__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, size_t n, float b1, float b2, float eps,
                             float decay, float step_size, float bc2s, float grad_scale) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float grad = g[i] * grad_scale;
  float w = p[i] * decay;
  const float mi = b1 * m[i] + (1.0f - b1) * grad;
  const float vi = b2 * v[i] + (1.0f - b2) * grad * grad;
  w -= step_size * mi / (sqrtf(vi) / bc2s + eps);
  m[i] = mi;
  v[i] = vi;
  p[i] = w;
}

void adamw_update(float* p, const float* g, float* m, float* v, size_t n, float lr, float beta1, float beta2, float eps,
                  float weight_decay, int64_t t, float grad_scale, cudaStream_t s) {
  if (n == 0) return;
  const double bc1 = 1.0 - std::pow(double(beta1), double(t)), bc2 = 1.0 - std::pow(double(beta2), double(t));
  const float step_size = float(lr / bc1), bc2s = float(std::sqrt(bc2)), decay = 1.0f - lr * weight_decay;
  adamw_kernel<<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(p, g, m, v, n, beta1, beta2, eps, decay,
                                                                        step_size, bc2s, grad_scale);
  SF_CUDA_LAUNCHED();
}

template <typename T>
__global__ void convert_kernel(T* dst, const float* src, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = from_f32<T>(src[i]);
}
template <typename T>
void convert(T* dst, const float* src, size_t n, cudaStream_t s) {
  if (n == 0) return;
  convert_kernel<T><<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(dst, src, n);
  SF_CUDA_LAUNCHED();
}

template void convert<float>(float*, const float*, size_t, cudaStream_t);
template void convert<nv_bf16>(nv_bf16*, const float*, size_t, cudaStream_t);

}  // namespace sf::cuda
