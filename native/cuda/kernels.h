// Host-side launchers of the CUDA kernels, one .cu per family, each the twin of the CPU kernel of the same name in
// native/cpu/kernels.h: the same arguments in the same order, with the CPU's trailing `threads` replaced by the
// stream (and weights already converted to T on the device, so a typed pointer instead of (data, dtype)). T is the
// activation/weight type: float (F32 parity runs) or __nv_bfloat16 (training); every launcher is instantiated for
// both. Accumulation is F32 inside every kernel. Layouts are row-major: activations [N = B*T, C], q [N, H, D],
// k/v [N, Hkv, D] (no permutes: attention reads heads in place). native/cuda/ops.cu calls these.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace sf::cuda {

enum class HostDType { F32, F16, BF16 };

// encoder.cu -------------------------------------------------------------------------------------
// out[n, :] = wte[ids[n], :]. Embeddings are frozen (no LoRA on them), so there is no backward.
template <typename T>
void encoder_forward(T* out, const int32_t* ids, int N, const T* wte, int C, cudaStream_t s);
// dst[i] = T(src[i]) for weights uploaded as raw F32/F16/BF16 bytes.
template <typename T>
void convert_to(T* dst, const void* src, HostDType dtype, size_t n, cudaStream_t s);
// dst[i] = float(src[i]) (logits and parity read-back).
template <typename T>
void convert_to_f32(float* dst, const T* src, size_t n, cudaStream_t s);
// out[i] = x[i] * alpha (out may be x).
template <typename T>
void scale(T* out, const T* x, float alpha, size_t n, cudaStream_t s);

// rmsnorm.cu -------------------------------------------------------------------------------------
// out = w * x * rstd, rstd = 1/sqrt(mean(x^2) + eps) saved per row for the backward.
template <typename T>
void rmsnorm_forward(T* out, float* rstd, const T* x, const T* w, int N, int C, float eps, cudaStream_t s);
// dx (+)= d rmsnorm / d x (weight frozen: no weight gradient).
template <typename T>
void rmsnorm_backward(T* dx, const T* dout, const T* x, const float* rstd, const T* w, int N, int C, bool accumulate,
                      cudaStream_t s);

// residual.cu ------------------------------------------------------------------------------------
template <typename T>
void residual_forward(T* out, const T* a, const T* b, size_t n, cudaStream_t s);
// out[n, o] += bias[o]
template <typename T>
void bias_forward(T* out, const T* bias, int N, int O, cudaStream_t s);

// rope.cu ----------------------------------------------------------------------------------------
// In place on x [B, T, heads, D], rotate-half convention (Hugging Face Qwen2). cs [maxT, D/2] (cos, sin) pairs, the
// CPU's table (computed in double by the step, stored as F32).
template <typename T>
void rope_forward(T* x, const float* cs, int B, int Tn, int heads, int D, cudaStream_t s);
template <typename T>
void rope_backward(T* dx, const float* cs, int B, int Tn, int heads, int D, cudaStream_t s);

// attention.cu -----------------------------------------------------------------------------------
// Flash-style causal GQA attention: never materialises [T, T]; saves lse [B, H, T] (F32).
// D in {16, 32, 64, 128}.
template <typename T>
void attention_forward(T* out, float* lse, const T* q, const T* k, const T* v, int B, int Tn, int H, int Hkv, int D,
                       cudaStream_t s);
// dq, dk, dv written (not accumulated). dsum: scratch [B, H, T] F32 (rowsum(dout∘out)). Deterministic (no atomics).
// T = BF16 runs the tensor-core kernels of attention_tc.cu unless SQLFOCUS_CUDA_ATTENTION=simt.
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* out, const float* lse, const T* q, const T* k,
                        const T* v, int B, int Tn, int H, int Hkv, int D, float* dsum, cudaStream_t s);
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
// out = silu(g) * u
template <typename T>
void swiglu_forward(T* out, const T* g, const T* u, size_t n, cudaStream_t s);
// dg = dout * u * silu'(g), du = dout * silu(g); dg/du may alias g/u (element-wise in place).
template <typename T>
void swiglu_backward(T* dg, T* du, const T* dout, const T* g, const T* u, size_t n, cudaStream_t s);

// lora.cu: the LoRA input's dropout (the LoRA matmuls are matmul.cu's) ------------------------------
// out = x * keep(key, i) / (1 - p)
template <typename T>
void dropout_forward(T* out, const T* x, size_t n, float p, uint64_t key, cudaStream_t s);
// dx += dout * keep(key, i) / (1 - p)
template <typename T>
void dropout_backward(T* dx, const T* dout, size_t n, float p, uint64_t key, cudaStream_t s);

// cross_entropy.cu (the lm_head matmuls around it are matmul.cu's) ----------------------------------
// dst[i, :] = src[rows[i], :]
template <typename T>
void gather_rows(T* dst, const T* src, const int32_t* rows, int n, int C, cudaStream_t s);
// dst[rows[i], :] = src[i, :] (rows distinct)
template <typename T>
void scatter_rows(T* dst, const T* src, const int32_t* rows, int n, int C, cudaStream_t s);
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
// PyTorch AdamW step t on the flat F32 LoRA buffers with g scaled by grad_scale (the clip factor), the same
// formula and order as the CPU's adamw_update.
void adamw_update(float* p, const float* g, float* m, float* v, size_t n, float lr, float beta1, float beta2, float eps,
                  float weight_decay, int64_t t, float grad_scale, cudaStream_t s);
// dst[i] = T(src[i]) (the LoRA working copy the matmuls read).
template <typename T>
void convert(T* dst, const float* src, size_t n, cudaStream_t s);

}  // namespace sf::cuda
