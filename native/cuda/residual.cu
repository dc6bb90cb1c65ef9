// residual_forward, twin of the CPU residual_forward (its backward is the identity into both branches: the step
// fuses it into rmsnorm_backward and the matmul accumulations), and the bias add of the q/k/v projections.
// Element-wise, 16-byte accesses when the length allows.
#include "common.cuh"
#include "kernels.h"

namespace sf::cuda {

template <typename T, int V, bool ACC>
__global__ void add_kernel(T* out, const T* a, const T* b, size_t n) {
  const size_t i = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (i >= n) return;
  float x[V], y[V];
  load_f32<V>(x, ACC ? out + i : a + i);
  load_f32<V>(y, b + i);
#pragma unroll
  for (int k = 0; k < V; k++) x[k] += y[k];
  store_f32<V>(out + i, x);
}

template <typename T, bool ACC>
static void launch_add(T* out, const T* a, const T* b, size_t n, cudaStream_t s) {
  if (n == 0) return;
  constexpr int P = Packed<T>::size;
  if (n % P == 0)
    add_kernel<T, P, ACC><<<ceil_div(static_cast<long long>(n / P), 256), 256, 0, s>>>(out, a, b, n);
  else
    add_kernel<T, 1, ACC><<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(out, a, b, n);
  SF_CUDA_LAUNCHED();
}

template <typename T>
void residual_forward(T* out, const T* a, const T* b, size_t n, cudaStream_t s) {
  launch_add<T, false>(out, a, b, n, s);
}

template <typename T>
__global__ void bias_kernel(T* out, const T* bias, int N, int O) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long long>(N) * O) return;
  out[i] = from_f32<T>(to_f32(out[i]) + to_f32(bias[i % O]));
}
template <typename T>
void bias_forward(T* out, const T* bias, int N, int O, cudaStream_t s) {
  bias_kernel<T><<<ceil_div(static_cast<long long>(N) * O, 256), 256, 0, s>>>(out, bias, N, O);
  SF_CUDA_LAUNCHED();
}

#define SF_INSTANTIATE(T)                                                          \
  template void residual_forward<T>(T*, const T*, const T*, size_t, cudaStream_t); \
  template void bias_forward<T>(T*, const T*, int, int, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(nv_bf16)
#undef SF_INSTANTIATE

}  // namespace sf::cuda
