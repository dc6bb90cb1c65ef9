// Tensor-core (WMMA, BF16 in / F32 accumulate) versions of attention_forward / attention_backward for the
// BF16 engine; attention.cu dispatches here for T = BF16 and keeps its SIMT kernels for the F32 parity
// config (and for SQLFOCUS_CUDA_ATTENTION=simt). Same algorithm and outputs as attention.cu: causal GQA,
// flash-style (no [T, T] matrix), lse saved by the forward, FlashAttention-2 backward split into a dK/dV
// kernel (per 64-key tile and KV head, looping over the group's query heads) and a dQ kernel (per
// 64-query tile and head), both recomputing P, deterministic (no atomics).
// Block = 4 warps; each warp owns 16 rows of the 64-row tile. Scores and probabilities go through a
// small per-warp shared-memory tile (the WMMA fragment layout is opaque), two lanes per row do the
// softmax, and the output accumulator of the forward lives in shared memory (F32) so it can be rescaled
// per row; the backward's dK/dV/dQ accumulators stay in registers.
#include <mma.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "kernels.h"

namespace sf::cuda {

namespace {
using namespace nvcuda;
constexpr int TR = 64;    // rows per tile (queries or keys)
constexpr int WARPS = 4;  // 16 rows each
constexpr int THREADS = WARPS * 32;
constexpr int LDS = TR + 4;  // F32 score tile pitch
constexpr int LDP = TR + 8;  // BF16 probability tile pitch
template <int D>
__host__ __device__ constexpr int ldh() {
  return D + 8;
}  // BF16 Q/K/V/dO tile pitch
template <int D>
__host__ __device__ constexpr int ldo() {
  return D + 4;
}  // F32 [16, D] accumulator pitch

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, nv_bf16, wmma::row_major>;
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, 16, nv_bf16, wmma::row_major>;
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, 16, nv_bf16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// rows [t0, t0 + TR) of one head (row stride `stride`) into s[TR][D + 8], 16-byte copies, zeros past Tn
template <int D>
__device__ __forceinline__ void load_tile_tc(nv_bf16* s, const nv_bf16* x, long long base, int stride, int t0, int Tn) {
  constexpr int CH = D / 8;
  for (int e = threadIdx.x; e < TR * CH; e += THREADS) {
    const int i = e / CH, c = (e % CH) * 8, t = t0 + i;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (t < Tn) v = *reinterpret_cast<const uint4*>(x + base + static_cast<long long>(t) * stride + c);
    *reinterpret_cast<uint4*>(s + i * ldh<D>() + c) = v;
  }
}

// out[16, 64] (F32, pitch LDS) = A[16 rows of a, D] . B[64 rows of b, D]^T
template <int D>
__device__ __forceinline__ void scores_16x64(float* out, const nv_bf16* a, const nv_bf16* b) {
#pragma unroll
  for (int n = 0; n < TR / 16; n++) {
    FragC acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      FragA fa;
      FragBCol fb;
      wmma::load_matrix_sync(fa, a + kk * 16, ldh<D>());
      wmma::load_matrix_sync(fb, b + n * 16 * ldh<D>() + kk * 16, ldh<D>());
      wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(out + n * 16, acc, LDS, wmma::mem_row_major);
  }
}

// acc[n] (16 x D as D/16 fragments) += P[16, 64] (BF16, pitch LDP) . X[64, D] (BF16, pitch ldh)
template <int D>
__device__ __forceinline__ void accumulate_16xD(FragC (&acc)[D / 16], const nv_bf16* p, const nv_bf16* x) {
#pragma unroll
  for (int kk = 0; kk < TR / 16; kk++) {
    FragA fa;
    wmma::load_matrix_sync(fa, p + kk * 16, LDP);
#pragma unroll
    for (int n = 0; n < D / 16; n++) {
      FragBRow fb;
      wmma::load_matrix_sync(fb, x + kk * 16 * ldh<D>() + n * 16, ldh<D>());
      wmma::mma_sync(acc[n], fa, fb, acc[n]);
    }
  }
}

// rows of a warp's [16, D] F32 accumulator -> global BF16 (row r at dst + r * stride), rows with valid[r]
template <int D>
__device__ __forceinline__ void store_rows(FragC (&acc)[D / 16], float* stage, nv_bf16* dst, long long stride,
                                           int rows_left, float mul) {
#pragma unroll
  for (int n = 0; n < D / 16; n++) wmma::store_matrix_sync(stage + n * 16, acc[n], ldo<D>(), wmma::mem_row_major);
  __syncwarp();
  const int lane = threadIdx.x % 32;
  for (int e = lane; e < 16 * D; e += 32) {
    const int r = e / D, d = e % D;
    if (r < rows_left) dst[r * stride + d] = from_f32<nv_bf16>(stage[r * ldo<D>() + d] * mul);
  }
}
}  // namespace

template <int D>
__global__ void __launch_bounds__(THREADS)
    attention_forward_tc_kernel(nv_bf16* out, float* lse, const nv_bf16* q, const nv_bf16* k, const nv_bf16* v, int Tn,
                                int H, int Hkv, float scale) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  nv_bf16* Qs = reinterpret_cast<nv_bf16*>(smem_raw);
  nv_bf16* Ks = Qs + TR * ldh<D>();
  nv_bf16* Vs = Ks + TR * ldh<D>();
  float* Sall = reinterpret_cast<float*>(Vs + TR * ldh<D>());
  nv_bf16* Pall = reinterpret_cast<nv_bf16*>(Sall + WARPS * 16 * LDS);
  float* Oall = reinterpret_cast<float*>(Pall + WARPS * 16 * LDP);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z, hk = h / (H / Hkv);
  const int q0 = qt * TR;
  const long long qbase = static_cast<long long>(b) * Tn * H * D + static_cast<long long>(h) * D;
  const long long kbase = static_cast<long long>(b) * Tn * Hkv * D + static_cast<long long>(hk) * D;
  float* S = Sall + warp * 16 * LDS;
  nv_bf16* P = Pall + warp * 16 * LDP;
  float* O = Oall + warp * 16 * ldo<D>();
  load_tile_tc<D>(Qs, q, qbase, H * D, q0, Tn);
  for (int e = lane; e < 16 * D; e += 32) O[(e / D) * ldo<D>() + e % D] = 0.0f;
  const int r = lane >> 1, half = lane & 1;  // two lanes per row, 32 columns each
  const int tq = q0 + warp * 16 + r;
  float m = -INFINITY, l = 0.0f;
  const int kend = min(q0 + TR, Tn);
  for (int k0 = 0; k0 < kend; k0 += TR) {
    __syncthreads();
    load_tile_tc<D>(Ks, k, kbase, Hkv * D, k0, Tn);
    load_tile_tc<D>(Vs, v, kbase, Hkv * D, k0, Tn);
    __syncthreads();
    scores_16x64<D>(S, Qs + warp * 16 * ldh<D>(), Ks);
    __syncwarp();
    float* srow = S + r * LDS + half * 32;
    float mx = -INFINITY;
#pragma unroll 8
    for (int j = 0; j < 32; j++) {
      const int tk = k0 + half * 32 + j;
      const float sv = (tk <= tq && tk < Tn) ? srow[j] * scale : -INFINITY;
      srow[j] = sv;
      mx = fmaxf(mx, sv);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_new = fmaxf(m, mx);  // finite: key k0 <= q0 <= tq is visible
    const float alpha = expf(m - m_new);
    float ps = 0.0f;
    nv_bf16* prow = P + r * LDP + half * 32;
#pragma unroll 8
    for (int j = 0; j < 32; j++) {
      const float pv = expf(srow[j] - m_new);
      prow[j] = from_f32<nv_bf16>(pv);
      ps += pv;
    }
    ps += __shfl_xor_sync(0xffffffffu, ps, 1);
    l = l * alpha + ps;
    m = m_new;
    float* orow = O + r * ldo<D>();
    for (int d = half; d < D; d += 2) orow[d] *= alpha;
    __syncwarp();
#pragma unroll
    for (int n = 0; n < D / 16; n++) {
      FragC acc;
      wmma::load_matrix_sync(acc, O + n * 16, ldo<D>(), wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < TR / 16; kk++) {
        FragA fa;
        FragBRow fb;
        wmma::load_matrix_sync(fa, P + kk * 16, LDP);
        wmma::load_matrix_sync(fb, Vs + kk * 16 * ldh<D>() + n * 16, ldh<D>());
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(O + n * 16, acc, ldo<D>(), wmma::mem_row_major);
    }
    __syncwarp();
  }
  if (tq < Tn) {
    const float inv = 1.0f / l;
    nv_bf16* o = out + qbase + static_cast<long long>(tq) * H * D;
    for (int d = half; d < D; d += 2) o[d] = from_f32<nv_bf16>(O[r * ldo<D>() + d] * inv);
    if (half == 0) lse[(static_cast<long long>(b) * H + h) * Tn + tq] = m + logf(l);
  }
}

template <int D>
__global__ void __launch_bounds__(THREADS)
    attention_backward_dkv_tc_kernel(nv_bf16* dk, nv_bf16* dv, const nv_bf16* dout, const nv_bf16* q, const nv_bf16* k,
                                     const nv_bf16* v, const float* lse, const float* dsum, int Tn, int H, int Hkv,
                                     float scale) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  nv_bf16* Ks = reinterpret_cast<nv_bf16*>(smem_raw);
  nv_bf16* Vs = Ks + TR * ldh<D>();
  nv_bf16* Qs = Vs + TR * ldh<D>();
  nv_bf16* dOs = Qs + TR * ldh<D>();
  float* Fall = reinterpret_cast<float*>(dOs + TR * ldh<D>());          // per warp: S^T [16][LDS], dP^T [16][LDS]
  nv_bf16* Ball = reinterpret_cast<nv_bf16*>(Fall + WARPS * 32 * LDS);  // per warp: P^T [16][LDP], dS^T [16][LDP]
  float* lse_s = reinterpret_cast<float*>(Ball + WARPS * 32 * LDP);
  float* dsum_s = lse_s + TR;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int kt = blockIdx.x, hk = blockIdx.y, b = blockIdx.z, G = H / Hkv;
  const int k0 = kt * TR;
  const long long kbase = static_cast<long long>(b) * Tn * Hkv * D + static_cast<long long>(hk) * D;
  float* St = Fall + warp * 32 * LDS;
  float* dPt = St + 16 * LDS;
  nv_bf16* Pt = Ball + warp * 32 * LDP;
  nv_bf16* dSt = Pt + 16 * LDP;
  load_tile_tc<D>(Ks, k, kbase, Hkv * D, k0, Tn);
  load_tile_tc<D>(Vs, v, kbase, Hkv * D, k0, Tn);
  FragC dka[D / 16], dva[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; n++) {
    wmma::fill_fragment(dka[n], 0.0f);
    wmma::fill_fragment(dva[n], 0.0f);
  }
  const int r = lane >> 1, half = lane & 1;
  const int tk = k0 + warp * 16 + r;
  for (int g = 0; g < G; g++) {
    const int h = hk * G + g;
    const long long qbase = static_cast<long long>(b) * Tn * H * D + static_cast<long long>(h) * D;
    const float* lse_h = lse + (static_cast<long long>(b) * H + h) * Tn;
    const float* dsum_h = dsum + (static_cast<long long>(b) * H + h) * Tn;
    for (int q0 = k0; q0 < Tn; q0 += TR) {
      __syncthreads();
      load_tile_tc<D>(Qs, q, qbase, H * D, q0, Tn);
      load_tile_tc<D>(dOs, dout, qbase, H * D, q0, Tn);
      if (threadIdx.x < TR) {
        const int t = q0 + threadIdx.x;
        lse_s[threadIdx.x] = t < Tn ? lse_h[t] : 0.0f;
        dsum_s[threadIdx.x] = t < Tn ? dsum_h[t] : 0.0f;
      }
      __syncthreads();
      scores_16x64<D>(St, Ks + warp * 16 * ldh<D>(), Qs);    // S^T: keys x queries
      scores_16x64<D>(dPt, Vs + warp * 16 * ldh<D>(), dOs);  // dP^T = V dO^T
      __syncwarp();
#pragma unroll 8
      for (int j = 0; j < 32; j++) {
        const int c = half * 32 + j, tq = q0 + c;
        const bool valid = tq < Tn && tk < Tn && tk <= tq;
        const float p = valid ? expf(St[r * LDS + c] * scale - lse_s[c]) : 0.0f;
        Pt[r * LDP + c] = from_f32<nv_bf16>(p);
        dSt[r * LDP + c] = from_f32<nv_bf16>(p * (dPt[r * LDS + c] - dsum_s[c]));
      }
      __syncwarp();
      accumulate_16xD<D>(dva, Pt, dOs);  // dV += P^T dO
      accumulate_16xD<D>(dka, dSt, Qs);  // dK += dS^T Q (times scale at the end)
    }
  }
  const int rows_left = min(16, Tn - (k0 + warp * 16));
  if (rows_left > 0) {
    const long long stride = static_cast<long long>(Hkv) * D;
    const long long first = kbase + static_cast<long long>(k0 + warp * 16) * stride;
    store_rows<D>(dka, St, dk + first, stride, rows_left, scale);  // St/dPt reused as the staging tile
    __syncwarp();
    store_rows<D>(dva, St, dv + first, stride, rows_left, 1.0f);
  }
}

template <int D>
__global__ void __launch_bounds__(THREADS)
    attention_backward_dq_tc_kernel(nv_bf16* dq, const nv_bf16* dout, const nv_bf16* q, const nv_bf16* k,
                                    const nv_bf16* v, const float* lse, const float* dsum, int Tn, int H, int Hkv,
                                    float scale) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  nv_bf16* Qs = reinterpret_cast<nv_bf16*>(smem_raw);
  nv_bf16* dOs = Qs + TR * ldh<D>();
  nv_bf16* Ks = dOs + TR * ldh<D>();
  nv_bf16* Vs = Ks + TR * ldh<D>();
  float* Fall = reinterpret_cast<float*>(Vs + TR * ldh<D>());           // per warp: S [16][LDS], dP [16][LDS]
  nv_bf16* Ball = reinterpret_cast<nv_bf16*>(Fall + WARPS * 32 * LDS);  // per warp: dS [16][LDP]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z, hk = h / (H / Hkv);
  const int q0 = qt * TR;
  const long long qbase = static_cast<long long>(b) * Tn * H * D + static_cast<long long>(h) * D;
  const long long kbase = static_cast<long long>(b) * Tn * Hkv * D + static_cast<long long>(hk) * D;
  float* S = Fall + warp * 32 * LDS;
  float* dP = S + 16 * LDS;
  nv_bf16* dS = Ball + warp * 16 * LDP;
  load_tile_tc<D>(Qs, q, qbase, H * D, q0, Tn);
  load_tile_tc<D>(dOs, dout, qbase, H * D, q0, Tn);
  const int r = lane >> 1, half = lane & 1;
  const int tq = q0 + warp * 16 + r;
  const long long stat = (static_cast<long long>(b) * H + h) * Tn + tq;
  const float lse_r = tq < Tn ? lse[stat] : 0.0f, dsum_r = tq < Tn ? dsum[stat] : 0.0f;
  FragC dqa[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; n++) wmma::fill_fragment(dqa[n], 0.0f);
  const int kend = min(q0 + TR, Tn);
  for (int k0 = 0; k0 < kend; k0 += TR) {
    __syncthreads();
    load_tile_tc<D>(Ks, k, kbase, Hkv * D, k0, Tn);
    load_tile_tc<D>(Vs, v, kbase, Hkv * D, k0, Tn);
    __syncthreads();
    scores_16x64<D>(S, Qs + warp * 16 * ldh<D>(), Ks);
    scores_16x64<D>(dP, dOs + warp * 16 * ldh<D>(), Vs);
    __syncwarp();
#pragma unroll 8
    for (int j = 0; j < 32; j++) {
      const int c = half * 32 + j, tk = k0 + c;
      const bool valid = tq < Tn && tk < Tn && tk <= tq;
      const float p = valid ? expf(S[r * LDS + c] * scale - lse_r) : 0.0f;
      dS[r * LDP + c] = from_f32<nv_bf16>(p * (dP[r * LDS + c] - dsum_r));
    }
    __syncwarp();
    accumulate_16xD<D>(dqa, dS, Ks);  // dQ += dS K (times scale at the end)
  }
  const int rows_left = min(16, Tn - (q0 + warp * 16));
  if (rows_left > 0) {
    const long long stride = static_cast<long long>(H) * D;
    store_rows<D>(dqa, S, dq + qbase + static_cast<long long>(q0 + warp * 16) * stride, stride, rows_left, scale);
  }
}

namespace {
template <typename Kernel>
void allow_smem_tc(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    SF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

template <int D>
void forward_tc(nv_bf16* out, float* lse, const nv_bf16* q, const nv_bf16* k, const nv_bf16* v, int B, int Tn, int H,
                int Hkv, cudaStream_t s) {
  const size_t bytes = 3 * TR * ldh<D>() * sizeof(nv_bf16) + WARPS * 16 * LDS * sizeof(float) +
                       WARPS * 16 * LDP * sizeof(nv_bf16) + WARPS * 16 * ldo<D>() * sizeof(float);
  allow_smem_tc(attention_forward_tc_kernel<D>, bytes);
  attention_forward_tc_kernel<D>
      <<<dim3(ceil_div(Tn, TR), H, B), THREADS, bytes, s>>>(out, lse, q, k, v, Tn, H, Hkv, 1.0f / sqrtf(float(D)));
  SF_CUDA_LAUNCHED();
}

template <int D>
void backward_tc(nv_bf16* dq, nv_bf16* dk, nv_bf16* dv, const float* dsum, const nv_bf16* dout, const nv_bf16* q,
                 const nv_bf16* k, const nv_bf16* v, const float* lse, int B, int Tn, int H, int Hkv, cudaStream_t s) {
  static_assert(16 * ldo<D>() <= 32 * LDS, "the staging tile must fit in the score tiles it reuses");
  const float scale = 1.0f / sqrtf(float(D));
  const size_t kv_bytes = 4 * TR * ldh<D>() * sizeof(nv_bf16) + WARPS * 32 * LDS * sizeof(float) +
                          WARPS * 32 * LDP * sizeof(nv_bf16) + 2 * TR * sizeof(float);
  allow_smem_tc(attention_backward_dkv_tc_kernel<D>, kv_bytes);
  attention_backward_dkv_tc_kernel<D>
      <<<dim3(ceil_div(Tn, TR), Hkv, B), THREADS, kv_bytes, s>>>(dk, dv, dout, q, k, v, lse, dsum, Tn, H, Hkv, scale);
  SF_CUDA_LAUNCHED();
  const size_t q_bytes =
      4 * TR * ldh<D>() * sizeof(nv_bf16) + WARPS * 32 * LDS * sizeof(float) + WARPS * 16 * LDP * sizeof(nv_bf16);
  allow_smem_tc(attention_backward_dq_tc_kernel<D>, q_bytes);
  attention_backward_dq_tc_kernel<D>
      <<<dim3(ceil_div(Tn, TR), H, B), THREADS, q_bytes, s>>>(dq, dout, q, k, v, lse, dsum, Tn, H, Hkv, scale);
  SF_CUDA_LAUNCHED();
}
}  // namespace

size_t attention_tc_smem_bytes(int D) {
  auto fwd = [](int ld_h, int ld_o) {
    return 3 * TR * ld_h * sizeof(nv_bf16) + WARPS * 16 * LDS * sizeof(float) + WARPS * 16 * LDP * sizeof(nv_bf16) +
           WARPS * 16 * ld_o * sizeof(float);
  };
  auto dkv = [](int ld_h) {
    return 4 * TR * ld_h * sizeof(nv_bf16) + WARPS * 32 * LDS * sizeof(float) + WARPS * 32 * LDP * sizeof(nv_bf16) +
           2 * TR * sizeof(float);
  };
  return std::max(fwd(D + 8, D + 4), dkv(D + 8));  // the dQ kernel needs less than the dK/dV one
}

void attention_forward_tc(nv_bf16* out, float* lse, const nv_bf16* q, const nv_bf16* k, const nv_bf16* v, int B, int Tn,
                          int H, int Hkv, int D, cudaStream_t s) {
  switch (D) {
    case 16:
      forward_tc<16>(out, lse, q, k, v, B, Tn, H, Hkv, s);
      break;
    case 32:
      forward_tc<32>(out, lse, q, k, v, B, Tn, H, Hkv, s);
      break;
    case 64:
      forward_tc<64>(out, lse, q, k, v, B, Tn, H, Hkv, s);
      break;
    default:
      forward_tc<128>(out, lse, q, k, v, B, Tn, H, Hkv, s);
      break;
  }
}

void attention_backward_tc(nv_bf16* dq, nv_bf16* dk, nv_bf16* dv, const float* dsum, const nv_bf16* dout,
                           const nv_bf16* q, const nv_bf16* k, const nv_bf16* v, const float* lse, int B, int Tn, int H,
                           int Hkv, int D, cudaStream_t s) {
  switch (D) {
    case 16:
      backward_tc<16>(dq, dk, dv, dsum, dout, q, k, v, lse, B, Tn, H, Hkv, s);
      break;
    case 32:
      backward_tc<32>(dq, dk, dv, dsum, dout, q, k, v, lse, B, Tn, H, Hkv, s);
      break;
    case 64:
      backward_tc<64>(dq, dk, dv, dsum, dout, q, k, v, lse, B, Tn, H, Hkv, s);
      break;
    default:
      backward_tc<128>(dq, dk, dv, dsum, dout, q, k, v, lse, B, Tn, H, Hkv, s);
      break;
  }
}

}  // namespace sf::cuda
