// Shared helpers of the CUDA engine (device side): error checks, the activation type T
// (float for the F32 parity config, __nv_bfloat16 for training), F32 conversions, 16-byte packed
// loads/stores, warp/block reductions and the stateless dropout hash.
// Every kernel file includes this; nothing here launches work.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace sqlfocus::cuda {

inline void check_cuda(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(e) + " (" + what + " at " +
                             file + ":" + std::to_string(line) + ")");
}
#define SF_CUDA_CHECK(expr) ::sqlfocus::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
#define SF_CUDA_LAUNCHED() ::sqlfocus::cuda::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

using bf16 = __nv_bfloat16;

inline unsigned ceil_div(long long a, long long b) { return static_cast<unsigned>((a + b - 1) / b); }

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }

template <typename T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float x) { return __float2bfloat16_rn(x); }

// 16 bytes of T, for vectorised loads and stores (8 BF16 or 4 F32 per access).
template <typename T> struct alignas(16) Packed {
  static constexpr int size = 16 / sizeof(T);
  T v[size];
};
template <typename T> __device__ __forceinline__ Packed<T> load_packed(const T* p) {
  return *reinterpret_cast<const Packed<T>*>(p);
}
template <typename T> __device__ __forceinline__ void store_packed(T* p, const Packed<T>& v) {
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

// Stateless dropout, the same counter-based hash as the CPU engine (native/cpu/kernels.h dropout_uniform),
// so both engines drop the same elements for the same (seed, counter, stream, i): element i of LoRA
// input `stream` (layer * 7 + module) at micro-step `counter` is dropped when its uniform is < p. The
// forward, the backward and a recomputed forward rebuild the mask, so it is never stored.
__host__ __device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// The per-(seed, counter, stream) part of the hash, computed once on the host per LoRA input.
__host__ __device__ __forceinline__ uint64_t dropout_stream_key(uint64_t seed, uint64_t counter, uint64_t stream) {
  return seed ^ mix64(counter * 0x100000001b3ull + stream);
}
__device__ __forceinline__ bool dropout_keep(uint64_t key, uint64_t i, float p) {
  const uint64_t h = mix64(key ^ mix64(i + 0x632be59bd9b4e019ull));
  return !(static_cast<float>(h >> 40) * (1.0f / 16777216.0f) < p);
}

// Load/store V consecutive elements of T as F32 (V = Packed<T>::size uses one 16-byte access; V = 1 is
// the fallback for rows whose length is not a multiple of the packet).
template <int V, typename T> __device__ __forceinline__ void load_f32(float (&out)[V], const T* p) {
  if constexpr (V == Packed<T>::size) {
    const Packed<T> pk = load_packed(p);
#pragma unroll
    for (int i = 0; i < V; i++) out[i] = to_f32(pk.v[i]);
  } else {
#pragma unroll
    for (int i = 0; i < V; i++) out[i] = to_f32(p[i]);
  }
}
template <int V, typename T> __device__ __forceinline__ void store_f32(T* p, const float (&in)[V]) {
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

}  // namespace sqlfocus::cuda
