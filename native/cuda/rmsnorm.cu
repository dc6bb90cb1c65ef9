// rmsnorm_forward / rmsnorm_backward, twins of the CPU rmsnorm pair, plus the fused
// residual-add + RMSNorm forward (resid_out = a + b, out = rmsnorm(resid_out)) used between the
// attention and MLP blocks, which saves one read and one write of the residual stream.
// One warp per row, 16-byte accesses when C allows, F32 sums; rstd saved per row for the backward.
// The norm weights are frozen (LoRA), so the backward only produces the input gradient, and it adds it
// into the residual-stream gradient (fusing the residual backward).
#include "common.cuh"
#include "kernels.h"

namespace sqlfocus::cuda {

template <typename T, int V, bool RESID>
__global__ void rmsnorm_forward_kernel(T* resid_out, T* out, float* rstd, const T* a, const T* b, const T* w, int N,
                                       int C, float eps) {
  const int warps = blockDim.x / 32, lane = threadIdx.x % 32;
  const int row = blockIdx.x * warps + threadIdx.x / 32;
  if (row >= N) return;
  const long long off = static_cast<long long>(row) * C;
  float ss = 0.0f;
  for (int c = lane * V; c < C; c += 32 * V) {
    float x[V];
    load_f32<V>(x, a + off + c);
    if constexpr (RESID) {
      float y[V];
      load_f32<V>(y, b + off + c);
#pragma unroll
      for (int i = 0; i < V; i++) x[i] = to_f32(from_f32<T>(x[i] + y[i]));  // the value the stream stores
      store_f32<V>(resid_out + off + c, x);
    }
#pragma unroll
    for (int i = 0; i < V; i++) ss += x[i] * x[i];
  }
  ss = warp_sum(ss);
  const float r = rsqrtf(ss / C + eps);
  if (lane == 0) rstd[row] = r;
  const T* src = RESID ? resid_out : a;
  for (int c = lane * V; c < C; c += 32 * V) {
    float x[V], g[V];
    load_f32<V>(x, src + off + c);
    load_f32<V>(g, w + c);
#pragma unroll
    for (int i = 0; i < V; i++) x[i] = g[i] * x[i] * r;
    store_f32<V>(out + off + c, x);
  }
}

template <typename T, int V>
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
    load_f32<V>(d, dinp + off + c);
#pragma unroll
    for (int i = 0; i < V; i++) d[i] += r * g[i] * dy[i] - k * x[i];
    store_f32<V>(dinp + off + c, d);
  }
}

template <typename T, bool RESID>
static void launch_forward(T* resid_out, T* out, float* rstd, const T* a, const T* b, const T* w, int N, int C,
                           float eps, cudaStream_t s) {
  constexpr int P = Packed<T>::size;
  const unsigned grid = ceil_div(N, 8);
  if (C % P == 0)
    rmsnorm_forward_kernel<T, P, RESID><<<grid, 256, 0, s>>>(resid_out, out, rstd, a, b, w, N, C, eps);
  else
    rmsnorm_forward_kernel<T, 1, RESID><<<grid, 256, 0, s>>>(resid_out, out, rstd, a, b, w, N, C, eps);
  SF_CUDA_LAUNCHED();
}

template <typename T>
void rmsnorm_forward(T* out, float* rstd, const T* in, const T* w, int N, int C, float eps, cudaStream_t s) {
  launch_forward<T, false>(nullptr, out, rstd, in, nullptr, w, N, C, eps, s);
}

template <typename T>
void fused_residual_rmsnorm_forward(T* resid_out, T* out, float* rstd, const T* a, const T* b, const T* w, int N,
                                    int C, float eps, cudaStream_t s) {
  launch_forward<T, true>(resid_out, out, rstd, a, b, w, N, C, eps, s);
}

template <typename T>
void rmsnorm_backward(T* dinp, const T* dout, const T* inp, const T* w, const float* rstd, int N, int C,
                      cudaStream_t s) {
  constexpr int P = Packed<T>::size;
  const unsigned grid = ceil_div(N, 8);
  if (C % P == 0)
    rmsnorm_backward_kernel<T, P><<<grid, 256, 0, s>>>(dinp, dout, inp, w, rstd, N, C);
  else
    rmsnorm_backward_kernel<T, 1><<<grid, 256, 0, s>>>(dinp, dout, inp, w, rstd, N, C);
  SF_CUDA_LAUNCHED();
}

#define SF_INSTANTIATE(T)                                                                                  \
  template void rmsnorm_forward<T>(T*, float*, const T*, const T*, int, int, float, cudaStream_t);        \
  template void fused_residual_rmsnorm_forward<T>(T*, T*, float*, const T*, const T*, const T*, int, int, \
                                                  float, cudaStream_t);                                   \
  template void rmsnorm_backward<T>(T*, const T*, const T*, const T*, const float*, int, int, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(bf16)
#undef SF_INSTANTIATE

}  // namespace sqlfocus::cuda
