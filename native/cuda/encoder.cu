// encoder_forward: token embedding gather, the twin of the CPU encoder_forward. One thread per 16-byte
// packet of a row (8 BF16 / 4 F32). No backward: embeddings are frozen under LoRA.
// Also the element-wise conversions (weights uploaded as raw F32/F16/BF16 bytes -> T, T -> F32) and scale.
#include <cuda_fp16.h>

#include "common.cuh"
#include "kernels.h"

namespace sf::cuda {

template <typename T>
__global__ void encoder_forward_kernel(T* out, const int32_t* ids, const T* wte, int N, int C) {
  constexpr int P = Packed<T>::size;
  const long long idx = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) * P;
  if (idx >= static_cast<long long>(N) * C) return;
  const int n = static_cast<int>(idx / C), c = static_cast<int>(idx % C);
  const T* src = wte + static_cast<long long>(ids[n]) * C + c;
  store_packed(out + idx, load_packed(src));
}

template <typename T>
__global__ void encoder_forward_scalar_kernel(T* out, const int32_t* ids, const T* wte, int N, int C) {
  const long long idx = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<long long>(N) * C) return;
  const int n = static_cast<int>(idx / C), c = static_cast<int>(idx % C);
  out[idx] = wte[static_cast<long long>(ids[n]) * C + c];
}

template <typename T>
void encoder_forward(T* out, const int32_t* ids, int N, const T* wte, int C, cudaStream_t s) {
  constexpr int P = Packed<T>::size;
  const long long total = static_cast<long long>(N) * C;
  if (C % P == 0) {
    encoder_forward_kernel<T><<<ceil_div(total / P, 256), 256, 0, s>>>(out, ids, wte, N, C);
  } else {
    encoder_forward_scalar_kernel<T><<<ceil_div(total, 256), 256, 0, s>>>(out, ids, wte, N, C);
  }
  SF_CUDA_LAUNCHED();
}

template <typename T, typename S>
__global__ void convert_kernel(T* dst, const S* src, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = from_f32<T>(to_f32(src[i]));
}

template <typename T>
void convert_to(T* dst, const void* src, HostDType dtype, size_t n, cudaStream_t s) {
  if (n == 0) return;
  const unsigned grid = ceil_div(static_cast<long long>(n), 256);
  switch (dtype) {
    case HostDType::F32:
      convert_kernel<T, float><<<grid, 256, 0, s>>>(dst, static_cast<const float*>(src), n);
      break;
    case HostDType::F16:
      convert_kernel<T, __half><<<grid, 256, 0, s>>>(dst, static_cast<const __half*>(src), n);
      break;
    case HostDType::BF16:
      convert_kernel<T, nv_bf16><<<grid, 256, 0, s>>>(dst, static_cast<const nv_bf16*>(src), n);
      break;
  }
  SF_CUDA_LAUNCHED();
}

template <typename T>
void convert_to_f32(float* dst, const T* src, size_t n, cudaStream_t s) {
  if (n == 0) return;
  convert_kernel<float, T><<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(dst, src, n);
  SF_CUDA_LAUNCHED();
}

template <typename T>
__global__ void scale_kernel(T* out, const T* x, float alpha, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = from_f32<T>(to_f32(x[i]) * alpha);
}
template <typename T>
void scale(T* out, const T* x, float alpha, size_t n, cudaStream_t s) {
  if (n == 0) return;
  scale_kernel<T><<<ceil_div(static_cast<long long>(n), 256), 256, 0, s>>>(out, x, alpha, n);
  SF_CUDA_LAUNCHED();
}

#define SF_INSTANTIATE(T)                                                                 \
  template void encoder_forward<T>(T*, const int32_t*, int, const T*, int, cudaStream_t); \
  template void scale<T>(T*, const T*, float, size_t, cudaStream_t);                      \
  template void convert_to<T>(T*, const void*, HostDType, size_t, cudaStream_t);          \
  template void convert_to_f32<T>(float*, const T*, size_t, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(nv_bf16)
#undef SF_INSTANTIATE

}  // namespace sf::cuda
