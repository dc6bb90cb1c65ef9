// rope_forward / rope_backward, twins of the CPU rope pair: rotary position embedding in the
// rotate-half convention of Hugging Face Qwen2, in place on q [B, T, H, D] and k [B, T, Hkv, D].
// Positions restart at 0 for each sequence (batches are right-padded). The table cs [maxT, D/2] of (cos, sin)
// pairs is the CPU's, computed once per trainer by the step (in double) and read here in F32.
// The backward applies the transposed rotation to the gradient (in place).
#include "common.cuh"
#include "kernels.h"

namespace sf::cuda {

// BACKWARD = false: (x1, x2) -> (x1 c - x2 s, x2 c + x1 s); true: the transpose, (g1 c + g2 s, g2 c - g1 s).
template <typename T, bool BACKWARD>
__global__ void rope_kernel(T* x, const float* cs, int B, int Tn, int heads, int D) {
  const int half = D / 2;
  const long long idx = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long total = static_cast<long long>(B) * Tn * heads * half;
  if (idx >= total) return;
  const int i = static_cast<int>(idx % half);
  const long long nh = idx / half;  // (n, h) pair
  const int t = static_cast<int>((nh / heads) % Tn);
  T* p = x + nh * D;
  const float* ct = cs + (static_cast<long long>(t) * half + i) * 2;
  const float c = ct[0], sn = ct[1];
  const float a = to_f32(p[i]), b = to_f32(p[i + half]);
  if constexpr (!BACKWARD) {
    p[i] = from_f32<T>(a * c - b * sn);
    p[i + half] = from_f32<T>(b * c + a * sn);
  } else {
    p[i] = from_f32<T>(a * c + b * sn);
    p[i + half] = from_f32<T>(b * c - a * sn);
  }
}

template <typename T>
void rope_forward(T* x, const float* cs, int B, int Tn, int heads, int D, cudaStream_t s) {
  const long long total = static_cast<long long>(B) * Tn * heads * (D / 2);
  rope_kernel<T, false><<<ceil_div(total, 256), 256, 0, s>>>(x, cs, B, Tn, heads, D);
  SF_CUDA_LAUNCHED();
}
template <typename T>
void rope_backward(T* dx, const float* cs, int B, int Tn, int heads, int D, cudaStream_t s) {
  const long long total = static_cast<long long>(B) * Tn * heads * (D / 2);
  rope_kernel<T, true><<<ceil_div(total, 256), 256, 0, s>>>(dx, cs, B, Tn, heads, D);
  SF_CUDA_LAUNCHED();
}

#define SF_INSTANTIATE(T)                                                            \
  template void rope_forward<T>(T*, const float*, int, int, int, int, cudaStream_t); \
  template void rope_backward<T>(T*, const float*, int, int, int, int, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(nv_bf16)
#undef SF_INSTANTIATE

}  // namespace sf::cuda
