// attention_forward / attention_backward, twins of the CPU attention pair: causal grouped-query
// attention (H query heads share Hkv key/value heads), flash-style: the [T, T] score matrix is never
// stored. Forward: one block per (32-query tile, head, sequence) streams 32-key tiles through shared
// memory with an online softmax (running max and sum in F32) and saves only lse = max + log(sum) per
// row. Backward (FlashAttention-2 order, deterministic, no atomics): dsum = rowsum(dO * O); one kernel
// per (32-key tile, kv head) accumulates dK and dV over every query head of its group and every later
// query tile; one kernel per (query tile, head) accumulates dQ; both recompute P = exp(S - lse).
// Heads are read in place from the projection outputs (q [B, T, H, D], k/v [B, T, Hkv, D]).
// The kernels here are SIMT (F32 FMA from shared memory, 4 threads per row) and serve the F32 parity
// config; BF16 goes to the tensor-core twins in attention_tc.cu (SQLFOCUS_CUDA_ATTENTION=simt forces SIMT).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "common.cuh"
#include "kernels.h"

namespace sf::cuda {

namespace {
constexpr int BR = 32;        // query rows per tile
constexpr int BC = 32;        // key rows per tile (the causal tile walk relies on BR == BC)
constexpr int THREADS = 128;  // 4 threads per row
static_assert(BR == BC && BR * 4 == THREADS, "tile shape");

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// rows [t0, t0 + R) of one head of x (row stride `stride` elements) into s[R][D + 1] as F32 * mul.
template <typename T, int D, int R>
__device__ __forceinline__ void load_tile(float* s, const T* x, long long base, int stride, int t0, int Tn, float mul) {
  for (int e = threadIdx.x; e < R * D; e += THREADS) {
    const int i = e / D, d = e % D, t = t0 + i;
    s[i * (D + 1) + d] = t < Tn ? to_f32(x[base + static_cast<long long>(t) * stride + d]) * mul : 0.0f;
  }
}
}  // namespace

template <typename T, int D>
__global__ void __launch_bounds__(THREADS) attention_forward_kernel(T* out, float* lse, const T* q, const T* k,
                                                                    const T* v, int Tn, int H, int Hkv, float scale) {
  extern __shared__ float smem[];
  float* Qs = smem;                           // [BR][D+1], pre-scaled by 1/sqrt(D)
  float* Ks = Qs + BR * (D + 1);              // [BC][D+1]
  float* Vs = Ks + BC * (D + 1);              // [BC][D+1]
  float* Ps = Vs + BC * (D + 1);              // [BR][BC+1]
  const int qt = gridDim.x - 1 - blockIdx.x;  // longest (latest) tiles first
  const int h = blockIdx.y, b = blockIdx.z, hk = h / (H / Hkv);
  const int r = threadIdx.x / 4, ql = threadIdx.x % 4;
  const int q0 = qt * BR, tq = q0 + r;
  const long long qbase = static_cast<long long>(b) * Tn * H * D + static_cast<long long>(h) * D;
  const long long kbase = static_cast<long long>(b) * Tn * Hkv * D + static_cast<long long>(hk) * D;
  load_tile<T, D, BR>(Qs, q, qbase, H * D, q0, Tn, scale);

  float m = -INFINITY, l = 0.0f, acc[D / 4];
#pragma unroll
  for (int kk = 0; kk < D / 4; kk++) acc[kk] = 0.0f;
  const int kend = min(q0 + BR, Tn);
  for (int k0 = 0; k0 < kend; k0 += BC) {
    __syncthreads();
    load_tile<T, D, BC>(Ks, k, kbase, Hkv * D, k0, Tn, 1.0f);
    load_tile<T, D, BC>(Vs, v, kbase, Hkv * D, k0, Tn, 1.0f);
    __syncthreads();
    float sc[BC / 4], tmax = -INFINITY;
#pragma unroll
    for (int mm = 0; mm < BC / 4; mm++) {
      const int j = ql + 4 * mm, tk = k0 + j;
      float sacc = 0.0f;
#pragma unroll 16
      for (int d = 0; d < D; d++) sacc += Qs[r * (D + 1) + d] * Ks[j * (D + 1) + d];
      sc[mm] = (tk <= tq && tk < Tn) ? sacc : -INFINITY;
      tmax = fmaxf(tmax, sc[mm]);
    }
    tmax = quad_max(tmax);
    const float m_new = fmaxf(m, tmax);  // finite: key k0 <= q0 <= tq is always visible
    const float alpha = expf(m - m_new);
    float psum = 0.0f;
#pragma unroll
    for (int mm = 0; mm < BC / 4; mm++) {
      const float p = expf(sc[mm] - m_new);
      Ps[r * (BC + 1) + ql + 4 * mm] = p;
      psum += p;
    }
    l = l * alpha + quad_sum(psum);
    m = m_new;
    __syncwarp();
#pragma unroll
    for (int kk = 0; kk < D / 4; kk++) {
      const int d = ql + 4 * kk;
      float a = acc[kk] * alpha;
#pragma unroll 8
      for (int j = 0; j < BC; j++) a += Ps[r * (BC + 1) + j] * Vs[j * (D + 1) + d];
      acc[kk] = a;
    }
  }
  if (tq < Tn) {
    const float inv = 1.0f / l;
    T* o = out + qbase + static_cast<long long>(tq) * H * D;
#pragma unroll
    for (int kk = 0; kk < D / 4; kk++) o[ql + 4 * kk] = from_f32<T>(acc[kk] * inv);
    if (ql == 0) lse[(static_cast<long long>(b) * H + h) * Tn + tq] = m + logf(l);
  }
}

// dsum[b, h, t] = sum_d dO * O (one warp per (b, t, h) row).
template <typename T>
__global__ void attention_dsum_kernel(float* dsum, const T* dout, const T* out, int B, int Tn, int H, int D) {
  const long long row = static_cast<long long>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= static_cast<long long>(B) * Tn * H) return;
  const int lane = threadIdx.x % 32;
  float a = 0.0f;
  for (int d = lane; d < D; d += 32) a += to_f32(dout[row * D + d]) * to_f32(out[row * D + d]);
  a = warp_sum(a);
  if (lane == 0) {
    const int h = static_cast<int>(row % H);
    const long long n = row / H;  // b * Tn + t
    const int t = static_cast<int>(n % Tn), b = static_cast<int>(n / Tn);
    dsum[(static_cast<long long>(b) * H + h) * Tn + t] = a;
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(THREADS)
    attention_backward_dkv_kernel(T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const float* lse,
                                  const float* dsum, int Tn, int H, int Hkv, float scale) {
  extern __shared__ float smem[];
  float* Ks = smem;                    // [BC][D+1]
  float* Vs = Ks + BC * (D + 1);       // [BC][D+1]
  float* Qs = Vs + BC * (D + 1);       // [BR][D+1], pre-scaled
  float* dOs = Qs + BR * (D + 1);      // [BR][D+1]
  float* Ps = dOs + BR * (D + 1);      // [BC][BR+1]
  float* dSs = Ps + BC * (BR + 1);     // [BC][BR+1]
  float* lse_s = dSs + BC * (BR + 1);  // [BR]
  float* dsum_s = lse_s + BR;          // [BR]
  const int kt = blockIdx.x, hk = blockIdx.y, b = blockIdx.z, G = H / Hkv;
  const int j = threadIdx.x / 4, ql = threadIdx.x % 4;
  const int k0 = kt * BC, tk = k0 + j;
  const long long kbase = static_cast<long long>(b) * Tn * Hkv * D + static_cast<long long>(hk) * D;
  load_tile<T, D, BC>(Ks, k, kbase, Hkv * D, k0, Tn, 1.0f);
  load_tile<T, D, BC>(Vs, v, kbase, Hkv * D, k0, Tn, 1.0f);
  float dka[D / 4], dva[D / 4];
#pragma unroll
  for (int kk = 0; kk < D / 4; kk++) dka[kk] = dva[kk] = 0.0f;

  for (int g = 0; g < G; g++) {
    const int h = hk * G + g;
    const long long qbase = static_cast<long long>(b) * Tn * H * D + static_cast<long long>(h) * D;
    const float* lse_h = lse + (static_cast<long long>(b) * H + h) * Tn;
    const float* dsum_h = dsum + (static_cast<long long>(b) * H + h) * Tn;
    for (int q0 = k0; q0 < Tn; q0 += BR) {
      __syncthreads();
      load_tile<T, D, BR>(Qs, q, qbase, H * D, q0, Tn, scale);
      load_tile<T, D, BR>(dOs, dout, qbase, H * D, q0, Tn, 1.0f);
      if (threadIdx.x < BR) {
        const int t = q0 + threadIdx.x;
        lse_s[threadIdx.x] = t < Tn ? lse_h[t] : 0.0f;
        dsum_s[threadIdx.x] = t < Tn ? dsum_h[t] : 0.0f;
      }
      __syncthreads();
#pragma unroll
      for (int mm = 0; mm < BR / 4; mm++) {
        const int i = ql + 4 * mm, tq = q0 + i;
        float s = 0.0f, dp = 0.0f;
#pragma unroll 16
        for (int d = 0; d < D; d++) {
          s += Qs[i * (D + 1) + d] * Ks[j * (D + 1) + d];
          dp += dOs[i * (D + 1) + d] * Vs[j * (D + 1) + d];
        }
        const bool valid = tq < Tn && tk < Tn && tk <= tq;
        const float p = valid ? expf(s - lse_s[i]) : 0.0f;
        Ps[j * (BR + 1) + i] = p;
        dSs[j * (BR + 1) + i] = p * (dp - dsum_s[i]);
      }
      __syncwarp();
#pragma unroll
      for (int kk = 0; kk < D / 4; kk++) {
        const int d = ql + 4 * kk;
        float a = dva[kk], c = dka[kk];
#pragma unroll 8
        for (int i = 0; i < BR; i++) {
          a += Ps[j * (BR + 1) + i] * dOs[i * (D + 1) + d];
          c += dSs[j * (BR + 1) + i] * Qs[i * (D + 1) + d];
        }
        dva[kk] = a;
        dka[kk] = c;
      }
    }
  }
  if (tk < Tn) {
    const long long o = kbase + static_cast<long long>(tk) * Hkv * D;
#pragma unroll
    for (int kk = 0; kk < D / 4; kk++) {
      dk[o + ql + 4 * kk] = from_f32<T>(dka[kk]);
      dv[o + ql + 4 * kk] = from_f32<T>(dva[kk]);
    }
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(THREADS)
    attention_backward_dq_kernel(T* dq, const T* dout, const T* q, const T* k, const T* v, const float* lse,
                                 const float* dsum, int Tn, int H, int Hkv, float scale) {
  extern __shared__ float smem[];
  float* Qs = smem;                // [BR][D+1], pre-scaled
  float* dOs = Qs + BR * (D + 1);  // [BR][D+1]
  float* Ks = dOs + BR * (D + 1);  // [BC][D+1]
  float* Vs = Ks + BC * (D + 1);   // [BC][D+1]
  float* dSs = Vs + BC * (D + 1);  // [BR][BC+1]
  const int qt = gridDim.x - 1 - blockIdx.x;
  const int h = blockIdx.y, b = blockIdx.z, hk = h / (H / Hkv);
  const int i = threadIdx.x / 4, ql = threadIdx.x % 4;
  const int q0 = qt * BR, tq = q0 + i;
  const long long qbase = static_cast<long long>(b) * Tn * H * D + static_cast<long long>(h) * D;
  const long long kbase = static_cast<long long>(b) * Tn * Hkv * D + static_cast<long long>(hk) * D;
  load_tile<T, D, BR>(Qs, q, qbase, H * D, q0, Tn, scale);
  load_tile<T, D, BR>(dOs, dout, qbase, H * D, q0, Tn, 1.0f);
  const long long stat = (static_cast<long long>(b) * H + h) * Tn + tq;
  const float lse_i = tq < Tn ? lse[stat] : 0.0f, dsum_i = tq < Tn ? dsum[stat] : 0.0f;
  float acc[D / 4];
#pragma unroll
  for (int kk = 0; kk < D / 4; kk++) acc[kk] = 0.0f;
  const int kend = min(q0 + BR, Tn);
  for (int k0 = 0; k0 < kend; k0 += BC) {
    __syncthreads();
    load_tile<T, D, BC>(Ks, k, kbase, Hkv * D, k0, Tn, 1.0f);
    load_tile<T, D, BC>(Vs, v, kbase, Hkv * D, k0, Tn, 1.0f);
    __syncthreads();
#pragma unroll
    for (int mm = 0; mm < BC / 4; mm++) {
      const int j = ql + 4 * mm, tk = k0 + j;
      float s = 0.0f, dp = 0.0f;
#pragma unroll 16
      for (int d = 0; d < D; d++) {
        s += Qs[i * (D + 1) + d] * Ks[j * (D + 1) + d];
        dp += dOs[i * (D + 1) + d] * Vs[j * (D + 1) + d];
      }
      const bool valid = tq < Tn && tk < Tn && tk <= tq;
      const float p = valid ? expf(s - lse_i) : 0.0f;
      dSs[i * (BC + 1) + j] = p * (dp - dsum_i);
    }
    __syncwarp();
#pragma unroll
    for (int kk = 0; kk < D / 4; kk++) {
      const int d = ql + 4 * kk;
      float a = acc[kk];
#pragma unroll 8
      for (int j = 0; j < BC; j++) a += dSs[i * (BC + 1) + j] * Ks[j * (D + 1) + d];
      acc[kk] = a;
    }
  }
  if (tq < Tn) {
    T* o = dq + qbase + static_cast<long long>(tq) * H * D;
#pragma unroll
    for (int kk = 0; kk < D / 4; kk++) o[ql + 4 * kk] = from_f32<T>(acc[kk] * scale);
  }
}

namespace {
template <typename Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    SF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}
void check_shape(int H, int Hkv, int D) {
  if (Hkv <= 0 || H % Hkv != 0)
    throw Error(SF_ERR_INVALID_ARGUMENT, "attention: numHeads must be a multiple of numKvHeads");
  if (D != 16 && D != 32 && D != 64 && D != 128)
    throw Error(SF_ERR_UNSUPPORTED,
                "attention: the CUDA engine supports head_dim 16, 32, 64 or 128, got " + std::to_string(D));
}

template <typename T, int D>
void forward_d(T* out, float* lse, const T* q, const T* k, const T* v, int B, int Tn, int H, int Hkv, cudaStream_t s) {
  const size_t bytes = (3 * BR * (D + 1) + BR * (BC + 1)) * sizeof(float);
  allow_smem(attention_forward_kernel<T, D>, bytes);
  const dim3 grid(ceil_div(Tn, BR), H, B);
  attention_forward_kernel<T, D><<<grid, THREADS, bytes, s>>>(out, lse, q, k, v, Tn, H, Hkv, 1.0f / sqrtf(D));
  SF_CUDA_LAUNCHED();
}

template <typename T, int D>
void backward_d(T* dq, T* dk, T* dv, float* dsum, const T* dout, const T* out, const T* q, const T* k, const T* v,
                const float* lse, int B, int Tn, int H, int Hkv, cudaStream_t s) {
  const float scale = 1.0f / sqrtf(D);
  const size_t kv_bytes = (4 * BR * (D + 1) + 2 * BC * (BR + 1) + 2 * BR) * sizeof(float);
  allow_smem(attention_backward_dkv_kernel<T, D>, kv_bytes);
  attention_backward_dkv_kernel<T, D>
      <<<dim3(ceil_div(Tn, BC), Hkv, B), THREADS, kv_bytes, s>>>(dk, dv, dout, q, k, v, lse, dsum, Tn, H, Hkv, scale);
  SF_CUDA_LAUNCHED();
  const size_t q_bytes = (4 * BR * (D + 1) + BR * (BC + 1)) * sizeof(float);
  allow_smem(attention_backward_dq_kernel<T, D>, q_bytes);
  attention_backward_dq_kernel<T, D>
      <<<dim3(ceil_div(Tn, BR), H, B), THREADS, q_bytes, s>>>(dq, dout, q, k, v, lse, dsum, Tn, H, Hkv, scale);
  SF_CUDA_LAUNCHED();
}
}  // namespace

static bool use_tensor_cores(int D) {
  static const bool forced_simt = [] {
    const char* e = std::getenv("SQLFOCUS_CUDA_ATTENTION");
    return e && std::strcmp(e, "simt") == 0;
  }();
  if (forced_simt) return false;
  int device = 0, optin = 0;
  SF_CUDA_CHECK(cudaGetDevice(&device));
  SF_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return attention_tc_smem_bytes(D) <= static_cast<size_t>(optin);
}

template <typename T>
void attention_forward(T* out, float* lse, const T* q, const T* k, const T* v, int B, int Tn, int H, int Hkv, int D,
                       cudaStream_t s) {
  check_shape(H, Hkv, D);
  if constexpr (std::is_same_v<T, nv_bf16>) {
    if (use_tensor_cores(D)) return attention_forward_tc(out, lse, q, k, v, B, Tn, H, Hkv, D, s);
  }
  switch (D) {
    case 16:
      forward_d<T, 16>(out, lse, q, k, v, B, Tn, H, Hkv, s);
      break;
    case 32:
      forward_d<T, 32>(out, lse, q, k, v, B, Tn, H, Hkv, s);
      break;
    case 64:
      forward_d<T, 64>(out, lse, q, k, v, B, Tn, H, Hkv, s);
      break;
    default:
      forward_d<T, 128>(out, lse, q, k, v, B, Tn, H, Hkv, s);
      break;
  }
}

template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* out, const float* lse, const T* q, const T* k,
                        const T* v, int B, int Tn, int H, int Hkv, int D, float* dsum, cudaStream_t s) {
  check_shape(H, Hkv, D);
  const long long rows = static_cast<long long>(B) * Tn * H;
  attention_dsum_kernel<T><<<ceil_div(rows, 8), 256, 0, s>>>(dsum, dout, out, B, Tn, H, D);
  SF_CUDA_LAUNCHED();
  if constexpr (std::is_same_v<T, nv_bf16>) {
    if (use_tensor_cores(D)) return attention_backward_tc(dq, dk, dv, dsum, dout, q, k, v, lse, B, Tn, H, Hkv, D, s);
  }
  switch (D) {
    case 16:
      backward_d<T, 16>(dq, dk, dv, dsum, dout, out, q, k, v, lse, B, Tn, H, Hkv, s);
      break;
    case 32:
      backward_d<T, 32>(dq, dk, dv, dsum, dout, out, q, k, v, lse, B, Tn, H, Hkv, s);
      break;
    case 64:
      backward_d<T, 64>(dq, dk, dv, dsum, dout, out, q, k, v, lse, B, Tn, H, Hkv, s);
      break;
    default:
      backward_d<T, 128>(dq, dk, dv, dsum, dout, out, q, k, v, lse, B, Tn, H, Hkv, s);
      break;
  }
}

#define SF_INSTANTIATE(T)                                                                                              \
  template void attention_forward<T>(T*, float*, const T*, const T*, const T*, int, int, int, int, int, cudaStream_t); \
  template void attention_backward<T>(T*, T*, T*, const T*, const T*, const float*, const T*, const T*, const T*, int, \
                                      int, int, int, int, float*, cudaStream_t);
SF_INSTANTIATE(float)
SF_INSTANTIATE(nv_bf16)
#undef SF_INSTANTIATE

}  // namespace sf::cuda
