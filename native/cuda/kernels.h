// Host-side launchers of the CUDA engine's kernels (one .cu per family, each the twin of the CPU
// kernel of the same name in native/cpu). T is the activation/weight type: float (F32 parity config)
// or __nv_bfloat16 (training); every launcher is instantiated for both. All launches are asynchronous
// on `stream`; accumulation is F32 inside every kernel. Layouts are row-major: activations [N = B*T, C],
// q [N, H, D], k/v [N, Hkv, D] (no permutes: attention reads heads in place).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace sqlfocus::cuda {

enum class HostDType { F32, F16, BF16 };

// encoder.cu -------------------------------------------------------------------------------------
// out[n, :] = wte[ids[n], :]. Embeddings are frozen (no LoRA on them), so there is no backward.
template <typename T> void encoder_forward(T* out, const int32_t* ids, const T* wte, int N, int C, cudaStream_t s);
// dst[i] = T(src[i]) for weights uploaded as raw F32/F16/BF16 bytes.
template <typename T> void convert_to(T* dst, const void* src, HostDType dtype, size_t n, cudaStream_t s);
// dst[i] = float(src[i]) (logits and parity read-back).
template <typename T> void convert_to_f32(float* dst, const T* src, size_t n, cudaStream_t s);

// rmsnorm.cu -------------------------------------------------------------------------------------
// out = w * x * rstd, rstd = 1/sqrt(mean(x^2) + eps) saved per row for the backward.
template <typename T>
void rmsnorm_forward(T* out, float* rstd, const T* in, const T* w, int N, int C, float eps, cudaStream_t s);
// Fused residual add + RMSNorm: resid_out = a + b; out = rmsnorm(resid_out).
template <typename T>
void fused_residual_rmsnorm_forward(T* resid_out, T* out, float* rstd, const T* a, const T* b, const T* w, int N,
                                    int C, float eps, cudaStream_t s);
// dinp += d rmsnorm / d in (weight frozen: no weight gradient). dinp is the residual-stream gradient.
template <typename T>
void rmsnorm_backward(T* dinp, const T* dout, const T* inp, const T* w, const float* rstd, int N, int C,
                      cudaStream_t s);

// residual.cu ------------------------------------------------------------------------------------
template <typename T> void residual_forward(T* out, const T* a, const T* b, size_t n, cudaStream_t s);
// The residual's backward is the identity into both branches: dst += src.
template <typename T> void residual_backward(T* dst, const T* src, size_t n, cudaStream_t s);
// out[n, o] += bias[o]
template <typename T> void bias_forward(T* out, const T* bias, int N, int O, cudaStream_t s);

// rope.cu ----------------------------------------------------------------------------------------
// In place on x [B, T, heads, D], rotate-half convention (Hugging Face Qwen2). table [maxT, D]: cos of the
// angle in [0, D/2), sin in [D/2, D) (the trainer computes it in double on the host, as the CPU engine).
template <typename T> void rope_forward(T* x, const float* table, int B, int Tn, int heads, int D, cudaStream_t s);
template <typename T> void rope_backward(T* dx, const float* table, int B, int Tn, int heads, int D, cudaStream_t s);

// attention.cu -----------------------------------------------------------------------------------
// Flash-style causal GQA attention: never materialises [T, T]; saves lse [B, H, T] (F32).
// D in {16, 32, 64, 128}.
template <typename T>
void attention_forward(T* out, float* lse, const T* q, const T* k, const T* v, int B, int Tn, int H, int Hkv, int D,
                       cudaStream_t s);
// dq, dk, dv written (not accumulated). dsum: scratch [B, H, T] F32. Deterministic (no atomics).
// T = BF16 runs the tensor-core kernels of attention_tc.cu unless SQLFOCUS_CUDA_ATTENTION=simt.
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, float* dsum, const T* dout, const T* out, const T* q, const T* k,
                        const T* v, const float* lse, int B, int Tn, int H, int Hkv, int D, cudaStream_t s);
// Shared memory the tensor-core kernels need at head_dim D (the dispatcher falls back to SIMT when the
// device's opt-in limit is lower, e.g. 99 KB on sm_86/sm_89 at D = 128).
size_t attention_tc_smem_bytes(int D);
// attention_tc.cu: the WMMA (tensor-core) kernels behind the BF16 attention_forward / attention_backward
// (dsum already computed).
void attention_forward_tc(__nv_bfloat16* out, float* lse, const __nv_bfloat16* q, const __nv_bfloat16* k,
                          const __nv_bfloat16* v, int B, int Tn, int H, int Hkv, int D, cudaStream_t s);
void attention_backward_tc(__nv_bfloat16* dq, __nv_bfloat16* dk, __nv_bfloat16* dv, const float* dsum,
                           const __nv_bfloat16* dout, const __nv_bfloat16* q, const __nv_bfloat16* k,
                           const __nv_bfloat16* v, const float* lse, int B, int Tn, int H, int Hkv, int D,
                           cudaStream_t s);

// swiglu.cu --------------------------------------------------------------------------------------
// h = silu(g) * u
template <typename T> void swiglu_forward(T* h, const T* g, const T* u, size_t n, cudaStream_t s);
// dg = dh * u * silu'(g), du = dh * silu(g); dg/du may alias g/u (element-wise in place).
template <typename T> void swiglu_backward(T* dg, T* du, const T* dh, const T* g, const T* u, size_t n, cudaStream_t s);

// lora.cu (element-wise parts of LoRA; the LoRA matmuls are in matmul.cu) -----------------------------
// xd = x * keep(key, i) / (1 - p)
template <typename T> void dropout_forward(T* xd, const T* x, size_t n, float p, uint64_t key, cudaStream_t s);
// dx += dxd * keep(key, i) / (1 - p)
template <typename T>
void dropout_backward(T* dx, const T* dxd, size_t n, float p, uint64_t key, cudaStream_t s);

// cross_entropy.cu (the lm_head matmuls around it are in train_cuda.cu) ------------------------------
// dst[i, :] = src[rows[i], :]
template <typename T> void gather_rows(T* dst, const T* src, const int32_t* rows, int n, int C, cudaStream_t s);
// dst[rows[i], :] += src[i, :]
template <typename T> void scatter_add_rows(T* dst, const T* src, const int32_t* rows, int n, int C, cudaStream_t s);
// Per row: losses[i] = logsumexp(logits[i]) - logits[i, targets[i]]; when dlogits is set,
// dlogits[i] = scale * (softmax(logits[i]) - onehot(targets[i])). Rows with target < 0 give 0.
template <typename T>
void cross_entropy_forward_backward(float* losses, T* dlogits, const float* logits, const int32_t* targets, int n,
                                    int V, float scale, cudaStream_t s);
// out[0] = sum(in[0:n]) in a fixed order (one block).
void sum_f32(float* out, const float* in, int n, cudaStream_t s);

// adamw.cu ---------------------------------------------------------------------------------------
// out[0] = sum(g^2) over the flat gradient buffer, deterministic (partials: at least 1024 floats).
void global_norm_squared(float* out, float* partials, const float* g, size_t n, cudaStream_t s);
// PyTorch AdamW on the flat F32 LoRA buffer with the clip factor applied to g; writes the T copy of
// the parameters the matmuls read and zeroes g.
template <typename T>
void adamw_update(float* p, T* p_copy, float* g, float* m, float* v, size_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, float grad_scale, int step, cudaStream_t s);
template <typename T> void cast_copy(T* dst, const float* src, size_t n, cudaStream_t s);

}  // namespace sqlfocus::cuda
