// Shared helpers of the CUDA kernels (device side): error checks, the activation type T (float for the F32
// parity config, __nv_bfloat16 for training), F32 conversions, 16-byte packed loads/stores, warp/block reductions.
// Every kernel file includes this; nothing here launches work.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/shared.h"  // sf::Error, the dropout hash

namespace sf::cuda {

inline void check_cuda(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess)
    throw Error(e == cudaErrorMemoryAllocation ? SF_ERR_OUT_OF_MEMORY : SF_ERR_DEVICE,
                std::string("CUDA error: ") + cudaGetErrorString(e) + " (" + what + " at " + file + ":" +
                    std::to_string(line) + ")");
}
#define SF_CUDA_CHECK(expr) ::sf::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
#define SF_CUDA_LAUNCHED() ::sf::cuda::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

using nv_bf16 = __nv_bfloat16;

inline unsigned ceil_div(long long a, long long b) { return static_cast<unsigned>((a + b - 1) / b); }

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(nv_bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }

template <typename T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ nv_bf16 from_f32<nv_bf16>(float x) {
  return __float2bfloat16_rn(x);
}

// 16 bytes of T, for vectorised loads and stores (8 BF16 or 4 F32 per access).
template <typename T>
struct alignas(16) Packed {
  static constexpr int size = 16 / sizeof(T);
  T v[size];
};
template <typename T>
__device__ __forceinline__ Packed<T> load_packed(const T* p) {
  return *reinterpret_cast<const Packed<T>*>(p);
}
template <typename T>
__device__ __forceinline__ void store_packed(T* p, const Packed<T>& v) {
  *reinterpret_cast<Packed<T>*>(p) = v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // partial[] may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.0f;
  return warp_sum(v);
}

// The dropout hash (mix64, dropout_key, dropout_keep) is core/shared.h's, shared with the CPU: both devices
// drop the same elements for the same (seed, counter, stream, i).

// Load/store V consecutive elements of T as F32 (V = Packed<T>::size uses one 16-byte access; V = 1 is
// the fallback for rows whose length is not a multiple of the packet).
template <int V, typename T>
__device__ __forceinline__ void load_f32(float (&out)[V], const T* p) {
  if constexpr (V == Packed<T>::size) {
    const Packed<T> pk = load_packed(p);
#pragma unroll
    for (int i = 0; i < V; i++) out[i] = to_f32(pk.v[i]);
  } else {
#pragma unroll
    for (int i = 0; i < V; i++) out[i] = to_f32(p[i]);
  }
}
template <int V, typename T>
__device__ __forceinline__ void store_f32(T* p, const float (&in)[V]) {
  if constexpr (V == Packed<T>::size) {
    Packed<T> pk;
#pragma unroll
    for (int i = 0; i < V; i++) pk.v[i] = from_f32<T>(in[i]);
    store_packed(p, pk);
  } else {
#pragma unroll
    for (int i = 0; i < V; i++) p[i] = from_f32<T>(in[i]);
  }
}

}  // namespace sf::cuda
