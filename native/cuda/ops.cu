// sf::cuda::Ops<T>: the CUDA device of native/core/train.cpp (declared in ops.h, twin of native/cpu/ops.h). Each
// method is a launcher of native/cuda/kernels.h or a cuBLAS GEMM (matmul.h) on the device's one stream. The state
// kept here: the stream, the cuBLAS handle and a small kernel workspace (row losses and dlogits of a classifier
// chunk, attention's rowsum(dO∘O), the norm's partial sums), grown on first use; the trainer's buffers are the
// step's (alloc()).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <string>
#include <type_traits>

#include "common.cuh"
#include "kernels.h"
#include "matmul.h"
#include "ops.h"

namespace sf::cuda {

namespace {
/** The kernels' type for an Ops<T>: sf::bf16 (plain C++) is __nv_bfloat16 (same bits). */
template <typename T>
struct nv {
  using type = T;
};
template <>
struct nv<::sf::bf16> {
  using type = __nv_bfloat16;
};
template <typename T>
using nv_t = typename nv<T>::type;
template <typename T>
nv_t<T>* K(T* p) {
  return reinterpret_cast<nv_t<T>*>(p);
}
template <typename T>
const nv_t<T>* K(const T* p) {
  return reinterpret_cast<const nv_t<T>*>(p);
}

/** A device weight view as the kernels' T (the step only hands over weights it placed, in T). */
template <typename T>
const nv_t<T>* W(const sf_tensor& w) {
  if (w.data && int(w.dtype) != dtype_of<T>())
    throw Error(SF_ERR_INVALID_ARGUMENT, "cuda: a weight is not in the device's dtype");
  return static_cast<const nv_t<T>*>(w.data);
}
}  // namespace

template <typename T>
struct Ops<T>::State {
  cudaStream_t stream = nullptr;
  std::unique_ptr<Blas> blas;
  void* work = nullptr;
  size_t work_bytes = 0;
  /** At least `bytes` of kernel workspace (reallocated, never shrunk). */
  void* workspace(size_t bytes) {
    if (bytes > work_bytes) {
      SF_CUDA_CHECK(cudaStreamSynchronize(stream));
      if (work) cudaFree(work);
      work = nullptr, work_bytes = 0;
      SF_CUDA_CHECK(cudaMalloc(&work, bytes));
      work_bytes = bytes;
    }
    return work;
  }
  ~State() {
    blas.reset();
    if (work) cudaFree(work);
    if (stream) cudaStreamDestroy(stream);
  }
};

template <typename T>
Ops<T>::Ops(const sf_trainer_params&) : s_(std::make_unique<State>()) {
  std::string why;
  if (!device_available(&why)) throw Error(SF_ERR_UNSUPPORTED, "device 'cuda': no usable CUDA device (" + why + ")");
  // a blocking stream: it orders with the legacy default stream that cudaMemcpy/cudaMemset use
  SF_CUDA_CHECK(cudaStreamCreate(&s_->stream));
  s_->blas = std::make_unique<Blas>(s_->stream);
}
template <typename T>
Ops<T>::~Ops() = default;

// ---- memory --------------------------------------------------------------------------------------------------------
template <typename T>
void* Ops<T>::alloc(size_t bytes) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes ? bytes : 64) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free allocation error
    return nullptr;
  }
  SF_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, s_->stream));
  return p;
}
template <typename T>
void Ops<T>::release(void* p) {
  if (!p) return;
  cudaStreamSynchronize(s_->stream);
  cudaFree(p);
}
template <typename T>
void Ops<T>::zero(void* p, size_t bytes) {
  SF_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, s_->stream));
}
template <typename T>
void Ops<T>::upload(void* dst, const void* src, size_t bytes) {
  // synchronous: the host data may change as soon as this returns
  SF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s_->stream));
  SF_CUDA_CHECK(cudaStreamSynchronize(s_->stream));
}
template <typename T>
void Ops<T>::download(void* dst, const void* src, size_t bytes) {
  SF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s_->stream));
  SF_CUDA_CHECK(cudaStreamSynchronize(s_->stream));
}
template <typename T>
void Ops<T>::upload_weight(T* dst, const sf_tensor& w, size_t n) {
  const size_t elem = w.dtype == SF_F32 ? 4 : 2;
  const HostDType dt = w.dtype == SF_F32 ? HostDType::F32 : w.dtype == SF_F16 ? HostDType::F16 : HostDType::BF16;
  if (w.dtype != SF_F32 && w.dtype != SF_F16 && w.dtype != SF_BF16)
    throw Error(SF_ERR_UNSUPPORTED, "cuda: base weights must be F32, F16 or BF16");
  // staged through the workspace in slices of at most 64 MiB
  const size_t slice = (size_t(64) << 20) / elem;
  for (size_t i = 0; i < n; i += slice) {
    const size_t m = std::min(slice, n - i);
    void* staging = s_->workspace(m * elem);
    SF_CUDA_CHECK(cudaMemcpyAsync(staging, static_cast<const char*>(w.data) + i * elem, m * elem,
                                  cudaMemcpyHostToDevice, s_->stream));
    convert_to<nv_t<T>>(K(dst) + i, staging, dt, m, s_->stream);
    SF_CUDA_CHECK(cudaStreamSynchronize(s_->stream));
  }
}

// ---- the step's operations
// -------------------------------------------------------------------------------------------
template <typename T>
void Ops<T>::encoder_forward(T* out, const int32_t* ids, const sf_tensor& wte, int N, int C) {
  cuda::encoder_forward(K(out), ids, N, W<T>(wte), C, s_->stream);
}
template <typename T>
void Ops<T>::rmsnorm_forward(T* out, float* rstd, const T* x, const sf_tensor& w, int N, int C, float eps) {
  cuda::rmsnorm_forward(K(out), rstd, K(x), W<T>(w), N, C, eps, s_->stream);
}
template <typename T>
void Ops<T>::rmsnorm_backward(T* dx, const T* dout, const T* x, const float* rstd, const sf_tensor& w, int N, int C,
                              bool accumulate) {
  cuda::rmsnorm_backward(K(dx), K(dout), K(x), rstd, W<T>(w), N, C, accumulate, s_->stream);
}
template <typename T>
void Ops<T>::matmul_forward(T* out, const T* x, const sf_tensor& w, const sf_tensor& bias, int M, int N, int K_,
                            bool accumulate) {
  cuda::matmul_forward(K(out), K(x), W<T>(w), W<T>(bias), M, N, K_, accumulate, *s_->blas, s_->stream);
}
template <typename T>
void Ops<T>::matmul_backward_input(T* dx, const T* dout, const sf_tensor& w, int M, int N, int K_, bool accumulate) {
  cuda::matmul_backward_input(K(dx), K(dout), W<T>(w), M, N, K_, accumulate, *s_->blas);
}
template <typename T>
void Ops<T>::matmul_backward_weight(float* dw, const T* a, const T* b, int M, int N, int K_, double alpha) {
  cuda::matmul_backward_weight(dw, K(a), K(b), M, N, K_, float(alpha), *s_->blas);
}
template <typename T>
void Ops<T>::scale(T* out, const T* x, double alpha, size_t n) {
  cuda::scale(K(out), K(x), float(alpha), n, s_->stream);
}
template <typename T>
void Ops<T>::dropout_forward(T* out, const T* x, size_t n, float p, uint64_t key) {
  cuda::dropout_forward(K(out), K(x), n, p, key, s_->stream);
}
template <typename T>
void Ops<T>::dropout_backward(T* dx, const T* dout, size_t n, float p, uint64_t key) {
  cuda::dropout_backward(K(dx), K(dout), n, p, key, s_->stream);
}
template <typename T>
void Ops<T>::rope_forward(T* x, const float* cs, int B, int Tn, int heads, int D) {
  cuda::rope_forward(K(x), cs, B, Tn, heads, D, s_->stream);
}
template <typename T>
void Ops<T>::rope_backward(T* dx, const float* cs, int B, int Tn, int heads, int D) {
  cuda::rope_backward(K(dx), cs, B, Tn, heads, D, s_->stream);
}
template <typename T>
void Ops<T>::attention_forward(T* out, float* lse, const T* q, const T* k, const T* v, int B, int Tn, int NH, int KV,
                               int D) {
  cuda::attention_forward(K(out), lse, K(q), K(k), K(v), B, Tn, NH, KV, D, s_->stream);
}
template <typename T>
void Ops<T>::attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* out, const float* lse, const T* q,
                                const T* k, const T* v, int B, int Tn, int NH, int KV, int D) {
  float* dsum = static_cast<float*>(s_->workspace(sizeof(float) * size_t(B) * NH * Tn));
  cuda::attention_backward(K(dq), K(dk), K(dv), K(dout), K(out), lse, K(q), K(k), K(v), B, Tn, NH, KV, D, dsum,
                           s_->stream);
}
template <typename T>
void Ops<T>::swiglu_forward(T* out, const T* g, const T* u, size_t n) {
  cuda::swiglu_forward(K(out), K(g), K(u), n, s_->stream);
}
template <typename T>
void Ops<T>::swiglu_backward(T* dg, T* du, const T* dout, const T* g, const T* u, size_t n) {
  cuda::swiglu_backward(K(dg), K(du), K(dout), K(g), K(u), n, s_->stream);
}
template <typename T>
void Ops<T>::residual_forward(T* out, const T* a, const T* b, size_t n) {
  cuda::residual_forward(K(out), K(a), K(b), n, s_->stream);
}
template <typename T>
void Ops<T>::gather_rows(T* dst, const T* src, const int32_t* rows, int n, int C) {
  cuda::gather_rows(K(dst), K(src), rows, n, C, s_->stream);
}
template <typename T>
void Ops<T>::scatter_rows(T* dst, const T* src, const int32_t* rows, int n, int C) {
  cuda::scatter_rows(K(dst), K(src), rows, n, C, s_->stream);
}
template <typename T>
double Ops<T>::classifier_forward_backward(T* dh, const T* h, const int32_t* targets, const sf_tensor& w, int Nc, int V,
                                           int C, double scale, float* logits, bool grad) {
  // workspace: losses [Nc] + their sum, then dlogits [Nc, V] in T
  const size_t head = (sizeof(float) * (size_t(Nc) + 1) + 255) / 256 * 256;
  char* work = static_cast<char*>(s_->workspace(head + (grad ? sizeof(T) * size_t(Nc) * V : 0)));
  float* losses = reinterpret_cast<float*>(work);
  cuda::classifier_forward_backward(grad ? K(dh) : nullptr, K(h), targets, W<T>(w), Nc, V, C, float(scale), logits,
                                    grad ? reinterpret_cast<nv_t<T>*>(work + head) : nullptr, losses, *s_->blas,
                                    s_->stream);
  sum_f32(losses + Nc, losses, Nc, s_->stream);
  float sum = 0;
  download(&sum, losses + Nc, sizeof(float));
  return sum;
}
template <typename T>
void Ops<T>::logits_forward(float* logits, const T* h, const sf_tensor& w, int Nc, int V, int C) {
  cuda::logits_forward(logits, K(h), W<T>(w), Nc, V, C, *s_->blas);
}
template <typename T>
double Ops<T>::global_norm_squared(const float* g, size_t n) {
  float* partials = static_cast<float*>(s_->workspace(sizeof(float) * 1025));
  cuda::global_norm_squared(partials + 1024, partials, g, n, s_->stream);
  float sum = 0;
  download(&sum, partials + 1024, sizeof(float));
  return sum;
}
template <typename T>
void Ops<T>::adamw_update(float* p, const float* g, float* m, float* v, size_t n, float lr, float beta1, float beta2,
                          float eps, float weight_decay, int64_t t, double grad_scale) {
  cuda::adamw_update(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, t, float(grad_scale), s_->stream);
}
template <typename T>
void Ops<T>::convert(T* dst, const float* src, size_t n) {
  cuda::convert(K(dst), src, n, s_->stream);
}

template class Ops<float>;
template class Ops<::sf::bf16>;

bool device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
    cudaGetLastError();
    return false;
  }
  return true;
}

}  // namespace sf::cuda
