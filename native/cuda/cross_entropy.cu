// cross_entropy_forward_backward: the kernel half of the fused lm_head + chunked cross-entropy (twin
// of the CPU fused classifier). The step gathers only the rows that carry a label (prompt tokens are
// -100 and cost nothing), multiplies a chunk of them by lm_head into F32 logits [n, V] (matmul.cu),
// then this kernel does, per row and in one block: max, sum of exp, the token loss, and - in the same
// pass over the logits - the logits gradient scale * (softmax - onehot) in T, ready for the dX matmul.
// The full [B*T, V] logits never exist. Also the row gather/scatter around it and a fixed-order
// F32 sum (so the loss is reproducible run to run).
#include <cmath>

#include "common.cuh"
#include "kernels.h"

namespace sf::cuda {

template <typename T>
__global__ void cross_entropy_kernel(float* losses, T* dlogits, const float* logits, const int32_t* targets, int V,
                                     float scale) {
  const int row = blockIdx.x;
  const float* x = logits + static_cast<long long>(row) * V;
  const int target = targets[row];
  // pass 1: online max / sum of exp per thread, then merged across the block
  float m = -INFINITY, sum = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const float v = x[i];
    if (v > m) {
      sum = sum * expf(m - v) + 1.0f;
      m = v;
    } else {
      sum += expf(v - m);
    }
  }
  __shared__ float sm[32], ss[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float om = __shfl_xor_sync(0xffffffffu, m, o), os = __shfl_xor_sync(0xffffffffu, sum, o);
    const float nm = fmaxf(m, om);
    sum = (m == -INFINITY ? 0.0f : sum * expf(m - nm)) + (om == -INFINITY ? 0.0f : os * expf(om - nm));
    m = nm;
  }
  if (lane == 0) {
    sm[warp] = m;
    ss[warp] = sum;
  }
  __syncthreads();
  float gm = -INFINITY;
  for (int w = 0; w < warps; w++) gm = fmaxf(gm, sm[w]);
  float gs = 0.0f;
  for (int w = 0; w < warps; w++) gs += sm[w] == -INFINITY ? 0.0f : ss[w] * expf(sm[w] - gm);
  const float lse = gm + logf(gs);
  if (threadIdx.x == 0) losses[row] = target >= 0 ? lse - x[target] : 0.0f;
  if (dlogits == nullptr) return;
  // (dlogits is its own buffer, never the logits: x[target] above must not be overwritten first)
  T* dx = dlogits + static_cast<long long>(row) * V;
  if (target < 0) {
    for (int i = threadIdx.x; i < V; i += blockDim.x) dx[i] = from_f32<T>(0.0f);
    return;
  }
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const float p = expf(x[i] - lse);
    dx[i] = from_f32<T>(scale * (p - (i == target ? 1.0f : 0.0f)));
  }
}

template <typename T>
void cross_entropy_forward_backward(float* losses, T* dlogits, const float* logits, const int32_t* targets, int n,
                                    int V, float scale, cudaStream_t s) {
  if (n == 0) return;
  cross_entropy_kernel<T><<<n, 1024, 0, s>>>(losses, dlogits, logits, targets, V, scale);
  SF_CUDA_LAUNCHED();
}

template <typename T>
__global__ void gather_rows_kernel(T* dst, const T* src, const int32_t* rows, int n, int C) {
  const long long idx = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<long long>(n) * C) return;
  const int i = static_cast<int>(idx / C), c = static_cast<int>(idx % C);
  dst[idx] = src[static_cast<long long>(rows[i]) * C + c];
}
template <typename T>
void gather_rows(T* dst, const T* src, const int32_t* rows, int n, int C, cudaStream_t s) {
  if (n == 0) return;
  gather_rows_kernel<T><<<ceil_div(static_cast<long long>(n) * C, 256), 256, 0, s>>>(dst, src, rows, n, C);
  SF_CUDA_LAUNCHED();
}

// rows are distinct (each labelled position appears once), so there are no write conflicts.
template <typename T>
__global__ void scatter_rows_kernel(T* dst, const T* src, const int32_t* rows, int n, int C) {
  const long long idx = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<long long>(n) * C) return;
  const int i = static_cast<int>(idx / C), c = static_cast<int>(idx % C);
  dst[static_cast<long long>(rows[i]) * C + c] = src[idx];
}
template <typename T>
void scatter_rows(T* dst, const T* src, const int32_t* rows, int n, int C, cudaStream_t s) {
  if (n == 0) return;
  scatter_rows_kernel<T><<<ceil_div(static_cast<long long>(n) * C, 256), 256, 0, s>>>(dst, src, rows, n, C);
  SF_CUDA_LAUNCHED();
}

__global__ void sum_f32_kernel(float* out, const float* in, int n) {
  float a = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) a += in[i];
  a = block_sum(a);
  if (threadIdx.x == 0) *out = a;
}
void sum_f32(float* out, const float* in, int n, cudaStream_t s) {
  sum_f32_kernel<<<1, 1024, 0, s>>>(out, in, n);
  SF_CUDA_LAUNCHED();
}

#define SF_INSTANTIATE(T)                                                                                    \
  template void cross_entropy_forward_backward<T>(float*, T*, const float*, const int32_t*, int, int, float, \
                                                  cudaStream_t);                                             \
  template void gather_rows<T>(T*, const T*, const int32_t*, int, int, cudaStream_t);                        \
  template void scatter_rows<T>(T*, const T*, const int32_t*, int, int, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(nv_bf16)
#undef SF_INSTANTIATE

}  // namespace sf::cuda
