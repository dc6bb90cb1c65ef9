// rmsnorm_forward / rmsnorm_backward, twins of the CPU rmsnorm pair. One warp per row, 16-byte accesses when C
// allows, F32 sums; rstd saved per row for the backward. The norm weights are frozen (LoRA), so the backward only
// produces the input gradient; with accumulate it adds it into dx (the residual-stream gradient: the residual
// backward fused), else it writes it.
#include "common.cuh"
#include "kernels.h"

namespace sf::cuda {

template <typename T, int V>
__global__ void rmsnorm_forward_kernel(T* out, float* rstd, const T* x, const T* w, int N, int C, float eps) {
  const int warps = blockDim.x / 32, lane = threadIdx.x % 32;
  const int row = blockIdx.x * warps + threadIdx.x / 32;
  if (row >= N) return;
  const long long off = static_cast<long long>(row) * C;
  float ss = 0.0f;
  for (int c = lane * V; c < C; c += 32 * V) {
    float a[V];
    load_f32<V>(a, x + off + c);
#pragma unroll
    for (int i = 0; i < V; i++) ss += a[i] * a[i];
  }
  ss = warp_sum(ss);
  const float r = rsqrtf(ss / C + eps);
  if (lane == 0) rstd[row] = r;
  for (int c = lane * V; c < C; c += 32 * V) {
    float a[V], g[V];
    load_f32<V>(a, x + off + c);
    load_f32<V>(g, w + c);
#pragma unroll
    for (int i = 0; i < V; i++) a[i] = g[i] * a[i] * r;
    store_f32<V>(out + off + c, a);
  }
}

template <typename T, int V, bool ACC>
__global__ void rmsnorm_backward_kernel(T* dinp, const T* dout, const T* inp, const T* w, const float* rstd, int N,
                                        int C) {
  const int warps = blockDim.x / 32, lane = threadIdx.x % 32;
  const int row = blockIdx.x * warps + threadIdx.x / 32;
  if (row >= N) return;
  const long long off = static_cast<long long>(row) * C;
  const float r = rstd[row];
  float dot = 0.0f;  // sum_i w_i dy_i x_i
  for (int c = lane * V; c < C; c += 32 * V) {
    float x[V], dy[V], g[V];
    load_f32<V>(x, inp + off + c);
    load_f32<V>(dy, dout + off + c);
    load_f32<V>(g, w + c);
#pragma unroll
    for (int i = 0; i < V; i++) dot += g[i] * dy[i] * x[i];
  }
  dot = warp_sum(dot);
  const float k = r * r * r * dot / C;
  for (int c = lane * V; c < C; c += 32 * V) {
    float x[V], dy[V], g[V], d[V];
    load_f32<V>(x, inp + off + c);
    load_f32<V>(dy, dout + off + c);
    load_f32<V>(g, w + c);
    if constexpr (ACC) load_f32<V>(d, dinp + off + c);
#pragma unroll
    for (int i = 0; i < V; i++) d[i] = (ACC ? d[i] : 0.0f) + r * g[i] * dy[i] - k * x[i];
    store_f32<V>(dinp + off + c, d);
  }
}

template <typename T>
void rmsnorm_forward(T* out, float* rstd, const T* x, const T* w, int N, int C, float eps, cudaStream_t s) {
  constexpr int P = Packed<T>::size;
  const unsigned grid = ceil_div(N, 8);
  if (C % P == 0)
    rmsnorm_forward_kernel<T, P><<<grid, 256, 0, s>>>(out, rstd, x, w, N, C, eps);
  else
    rmsnorm_forward_kernel<T, 1><<<grid, 256, 0, s>>>(out, rstd, x, w, N, C, eps);
  SF_CUDA_LAUNCHED();
}

template <typename T, bool ACC>
static void launch_backward(T* dx, const T* dout, const T* x, const float* rstd, const T* w, int N, int C,
                            cudaStream_t s) {
  constexpr int P = Packed<T>::size;
  const unsigned grid = ceil_div(N, 8);
  if (C % P == 0)
    rmsnorm_backward_kernel<T, P, ACC><<<grid, 256, 0, s>>>(dx, dout, x, w, rstd, N, C);
  else
    rmsnorm_backward_kernel<T, 1, ACC><<<grid, 256, 0, s>>>(dx, dout, x, w, rstd, N, C);
  SF_CUDA_LAUNCHED();
}

template <typename T>
void rmsnorm_backward(T* dx, const T* dout, const T* x, const float* rstd, const T* w, int N, int C, bool accumulate,
                      cudaStream_t s) {
  if (accumulate)
    launch_backward<T, true>(dx, dout, x, rstd, w, N, C, s);
  else
    launch_backward<T, false>(dx, dout, x, rstd, w, N, C, s);
}

#define SF_INSTANTIATE(T)                                                                          \
  template void rmsnorm_forward<T>(T*, float*, const T*, const T*, int, int, float, cudaStream_t); \
  template void rmsnorm_backward<T>(T*, const T*, const T*, const float*, const T*, int, int, bool, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(nv_bf16)
#undef SF_INSTANTIATE

}  // namespace sf::cuda
