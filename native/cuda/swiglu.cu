// swiglu_forward / swiglu_backward, twins of the CPU swiglu pair: h = silu(gate) * up for the Qwen2
// MLP, element-wise with 16-byte accesses. The backward writes d gate and d up in place over gate and
// up (each element is read before it is written), so the MLP needs no extra [N, I] buffers; the
// forward output h is not saved for the backward: the step recomputes it from gate and up when the
// down-projection's LoRA needs it.
#include "common.cuh"
#include "kernels.h"

namespace sf::cuda {

__device__ __forceinline__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

template <typename T, int V>
__global__ void swiglu_forward_kernel(T* h, const T* g, const T* u, size_t n) {
  const size_t i = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (i >= n) return;
  float a[V], b[V];
  load_f32<V>(a, g + i);
  load_f32<V>(b, u + i);
#pragma unroll
  for (int k = 0; k < V; k++) a[k] = a[k] * sigmoidf(a[k]) * b[k];
  store_f32<V>(h + i, a);
}

template <typename T, int V>
__global__ void swiglu_backward_kernel(T* dg, T* du, const T* dh, const T* g, const T* u, size_t n) {
  const size_t i = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (i >= n) return;
  float a[V], b[V], d[V], oa[V], ob[V];
  load_f32<V>(a, g + i);
  load_f32<V>(b, u + i);
  load_f32<V>(d, dh + i);
#pragma unroll
  for (int k = 0; k < V; k++) {
    const float sg = sigmoidf(a[k]);
    const float silu = a[k] * sg;
    oa[k] = d[k] * b[k] * sg * (1.0f + a[k] * (1.0f - sg));
    ob[k] = d[k] * silu;
  }
  store_f32<V>(dg + i, oa);
  store_f32<V>(du + i, ob);
}

template <typename T>
void swiglu_forward(T* h, const T* g, const T* u, size_t n, cudaStream_t s) {
  if (n == 0) return;
  constexpr int P = Packed<T>::size;
  if (n % P == 0)
    swiglu_forward_kernel<T, P><<<ceil_div(static_cast<long long>(n / P), 256), 256, 0, s>>>(h, g, u, n);
  else
    swiglu_forward_kernel<T, 1><<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(h, g, u, n);
  SF_CUDA_LAUNCHED();
}

template <typename T>
void swiglu_backward(T* dg, T* du, const T* dh, const T* g, const T* u, size_t n, cudaStream_t s) {
  if (n == 0) return;
  constexpr int P = Packed<T>::size;
  if (n % P == 0)
    swiglu_backward_kernel<T, P><<<ceil_div(static_cast<long long>(n / P), 256), 256, 0, s>>>(dg, du, dh, g, u, n);
  else
    swiglu_backward_kernel<T, 1><<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(dg, du, dh, g, u, n);
  SF_CUDA_LAUNCHED();
}

#define SF_INSTANTIATE(T)                                                        \
  template void swiglu_forward<T>(T*, const T*, const T*, size_t, cudaStream_t); \
  template void swiglu_backward<T>(T*, T*, const T*, const T*, const T*, size_t, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(nv_bf16)
#undef SF_INSTANTIATE

}  // namespace sf::cuda
