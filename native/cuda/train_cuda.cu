// CudaTrainer: the CUDA training step, mirroring the CPU step in native/core top to bottom:
//   encoder -> per layer [rmsnorm -> q/k/v (+bias, +LoRA) -> rope -> flash GQA attention -> o (+LoRA)
//   -> fused residual+rmsnorm -> gate/up (+LoRA) -> swiglu -> down (+LoRA) -> residual] -> rmsnorm
//   -> labelled rows only: lm_head + cross-entropy in chunks (loss and dlogits in one kernel)
//   -> the same layers backwards (input gradients only; the base model is frozen), LoRA A/B gradients
//      accumulated in F32.
// Weights and activations in T (BF16, or F32 for the parity config), LoRA master weights, gradients
// and AdamW moments in F32 in one flat buffer each (A and B of every adapted projection back to back).
// Every buffer is allocated once at construction for max_batch x max_seq_len, so a step allocates
// nothing; with recompute only the residual stream is kept per layer and each layer's activations are
// rebuilt from it in the backward (dropout masks come from a stateless hash, so they are identical).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.cuh"
#include "kernels.h"
#include "matmul.h"
#include "train_cuda.h"

namespace sqlfocus::cuda {

namespace {

enum Module { Q = 0, K, V, O, GATE, UP, DOWN, NUM_MODULES };
const char* const kModuleNames[NUM_MODULES] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
const char* const kModuleParent[NUM_MODULES] = {"self_attn", "self_attn", "self_attn", "self_attn", "mlp", "mlp", "mlp"};

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Uniform(-a, a) from the stateless hash: random benchmark weights, generated on the device.
template <typename T> __global__ void random_fill_kernel(T* w, size_t n, uint64_t key, float a, float constant) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (a == 0.0f) {
    w[i] = from_f32<T>(constant);
    return;
  }
  const float u = static_cast<float>(mix64(key ^ mix64(i)) >> 40) * (1.0f / 16777216.0f);
  w[i] = from_f32<T>((2.0f * u - 1.0f) * a);
}

// Device memory owned by the trainer, counted per category for memory().
class DeviceArena {
 public:
  enum Category { WEIGHTS = 0, LORA, OPTIMIZER, ACTIVATIONS };
  ~DeviceArena() {
    for (void* p : ptrs_) cudaFree(p);
  }
  template <typename U> U* alloc(Category c, size_t count) {
    if (count == 0) return nullptr;
    void* p = nullptr;
    const size_t bytes = count * sizeof(U);
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess)
      throw std::runtime_error("CUDA trainer: out of device memory allocating " + std::to_string(bytes >> 20) +
                               " MiB (" + cudaGetErrorString(e) + "); lower maxBatch/maxSeqLen or enable recompute");
    ptrs_.push_back(p);
    bytes_[c] += bytes;
    return static_cast<U*>(p);
  }
  size_t bytes(Category c) const { return bytes_[c]; }

 private:
  std::vector<void*> ptrs_;
  size_t bytes_[4] = {0, 0, 0, 0};
};

template <typename T> struct LayerWeights {
  T *wq = nullptr, *bq = nullptr, *wk = nullptr, *bk = nullptr, *wv = nullptr, *bv = nullptr, *wo = nullptr;
  T *wg = nullptr, *wu = nullptr, *wd = nullptr, *ln1 = nullptr, *ln2 = nullptr;
};

template <typename T> struct LayerActs {
  T *xn1, *q, *k, *v, *att, *resid_mid, *xn2, *g, *u;
  float *rstd1, *rstd2, *lse;
  T* lora_u[NUM_MODULES];
};

struct LoraSlot {
  bool on = false;
  int in = 0, out = 0;
  size_t a_off = 0, b_off = 0;  // offsets (elements) of A [r, in] and B [out, r] in the flat buffers
};

template <typename T> class TrainerImpl final : public CudaTrainer {
 public:
  TrainerImpl(const CudaTrainerParams& params, const WeightSource& weights) : p_(params), cfg_(params.config) {
    validate();
    SF_CUDA_CHECK(cudaSetDevice(p_.device));
    // a blocking stream: it orders with the legacy default stream that cudaMemcpy/cudaMemset use
    SF_CUDA_CHECK(cudaStreamCreate(&stream_));
    blas_ = std::make_unique<Blas>(stream_);
    H_ = cfg_.hidden_size;
    I_ = cfg_.intermediate_size;
    D_ = cfg_.head_dim > 0 ? cfg_.head_dim : H_ / cfg_.num_heads;
    QD_ = D_ * cfg_.num_heads;
    KV_ = D_ * cfg_.num_kv_heads;
    V_ = cfg_.vocab_size;
    L_ = cfg_.num_layers;
    rng_seed_ = p_.seed;
    allocate_weights();
    if (weights) load_weights(weights); else random_weights();
    setup_lora();
    allocate_activations();
    upload_rope_table();
    SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  ~TrainerImpl() override {
    blas_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  CudaLossResult forward_backward(const int32_t* ids, const int32_t* labels, int B, int Tn, float loss_scale) override {
    sync_host_writes();
    const auto t0 = Clock::now();
    const int n = prepare(ids, labels, B, Tn);
    forward(B, Tn, /*train=*/true);
    float* loss_dev = scalars_;
    classifier(B * Tn, n, loss_scale, /*backward=*/true, loss_dev);
    backward(B, Tn);
    float loss = 0;
    SF_CUDA_CHECK(cudaMemcpyAsync(&loss, loss_dev, sizeof(float), cudaMemcpyDeviceToHost, stream_));
    SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    rng_counter_++;
    return {loss, n, ms_since(t0)};
  }

  CudaLossResult evaluate(const int32_t* ids, const int32_t* labels, int B, int Tn) override {
    sync_host_writes();
    const auto t0 = Clock::now();
    const int n = prepare(ids, labels, B, Tn);
    forward(B, Tn, /*train=*/false);
    classifier(B * Tn, n, 1.0f, /*backward=*/false, scalars_);
    float loss = 0;
    SF_CUDA_CHECK(cudaMemcpyAsync(&loss, scalars_, sizeof(float), cudaMemcpyDeviceToHost, stream_));
    SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return {loss, n, ms_since(t0)};
  }

  std::vector<float> logits(const int32_t* ids, int B, int Tn) override {
    sync_host_writes();
    check_batch(ids, nullptr, B, Tn);
    const int N = B * Tn;
    SF_CUDA_CHECK(cudaMemcpyAsync(ids_, ids, sizeof(int32_t) * N, cudaMemcpyHostToDevice, stream_));
    forward(B, Tn, false);
    std::vector<float> out(static_cast<size_t>(N) * V_);
    for (int c0 = 0; c0 < N; c0 += p_.ce_chunk_rows) {
      const int nc = std::min(p_.ce_chunk_rows, N - c0);
      blas_->gemm(false, true, nc, V_, H_, 1.0f, xf_ + static_cast<size_t>(c0) * H_, lm_head_, elem_type_of<T>(), 0.0f,
                  logits_, ElemType::F32);
      SF_CUDA_CHECK(cudaMemcpyAsync(out.data() + static_cast<size_t>(c0) * V_, logits_, sizeof(float) * nc * V_,
                                    cudaMemcpyDeviceToHost, stream_));
      SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
    return out;
  }

  CudaOptimizerResult optimizer_step(float lr) override {
    sync_host_writes();
    const auto t0 = Clock::now();
    global_norm_squared(scalars_ + 1, partials_, lora_grad_, lora_count_, stream_);
    float sumsq = 0;
    SF_CUDA_CHECK(cudaMemcpyAsync(&sumsq, scalars_ + 1, sizeof(float), cudaMemcpyDeviceToHost, stream_));
    SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    const double norm = std::sqrt(static_cast<double>(sumsq));
    if (!std::isfinite(norm)) {
      SF_CUDA_CHECK(cudaMemsetAsync(lora_grad_, 0, sizeof(float) * lora_count_, stream_));
      SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
      return {norm, false, ms_since(t0)};
    }
    const float max_norm = p_.optimizer.max_grad_norm;
    const float clip = max_norm > 0 ? static_cast<float>(std::min(1.0, max_norm / (norm + 1e-6))) : 1.0f;
    opt_step_++;
    const auto& o = p_.optimizer;
    adamw_update<T>(lora_param_, lora_copy_, lora_grad_, lora_m_, lora_v_, lora_count_, lr, o.beta1, o.beta2, o.eps,
                    o.weight_decay, clip, static_cast<int>(opt_step_), stream_);
    SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return {norm, true, ms_since(t0)};
  }

  void zero_grad() override {
    sync_host_writes();
    SF_CUDA_CHECK(cudaMemsetAsync(lora_grad_, 0, sizeof(float) * lora_count_, stream_));
    SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  std::vector<CudaLoraTensor> lora_tensors() const override { return read_flat(0, lora_param_); }
  std::vector<CudaLoraTensor> lora_grads() const override { return read_flat(1, lora_grad_); }
  void set_lora_tensors(const std::vector<CudaLoraTensor>& tensors) override {
    sync_host_writes();
    write_flat(lora_param_, tensors);
    cast_copy<T>(lora_copy_, lora_param_, lora_count_, stream_);
    SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  CudaOptimizerState optimizer_state() const override {
    return {opt_step_, read_flat(2, lora_m_), read_flat(3, lora_v_)};
  }
  void set_optimizer_state(const CudaOptimizerState& s) override {
    sync_host_writes();
    write_flat(lora_m_, s.m);
    write_flat(lora_v_, s.v);
    opt_step_ = s.step;
  }
  int64_t step() const override { return opt_step_; }
  void set_step(int64_t step) override { opt_step_ = step; }
  void rng_state(uint64_t* seed, uint64_t* counter) const override {
    *seed = rng_seed_;
    *counter = rng_counter_;
  }
  void set_rng_state(uint64_t seed, uint64_t counter) override {
    rng_seed_ = seed;
    rng_counter_ = counter;
  }
  float* host_buffer(int which) override {
    if (which < 0 || which > 3) throw std::runtime_error("CUDA trainer: host_buffer(which) takes 0..3");
    if (!host_dirty_) {
      float* src[4] = {lora_param_, lora_grad_, lora_m_, lora_v_};
      for (int k = 0; k < 4; k++) {
        mirror_[k].resize(lora_count_);
        if (lora_count_)
          SF_CUDA_CHECK(cudaMemcpy(mirror_[k].data(), src[k], sizeof(float) * lora_count_, cudaMemcpyDeviceToHost));
      }
      host_dirty_ = true;
    }
    return mirror_[which].data();
  }
  size_t lora_size() const override { return lora_count_; }
  std::vector<CudaLoraSlot> lora_slots() const override {
    std::vector<CudaLoraSlot> out;
    const int r = p_.lora.rank;
    for (int l = 0; l < L_; l++)
      for (int m = 0; m < NUM_MODULES; m++) {
        const LoraSlot& s = slots_[l * NUM_MODULES + m];
        if (!s.on) continue;
        out.push_back({l, m, 0, r, s.in, s.a_off});
        out.push_back({l, m, 1, s.out, r, s.b_off});
      }
    return out;
  }

  CudaMemoryReport memory() const override {
    return {arena_.bytes(DeviceArena::WEIGHTS), arena_.bytes(DeviceArena::LORA), arena_.bytes(DeviceArena::OPTIMIZER),
            arena_.bytes(DeviceArena::ACTIVATIONS) + blas_->workspace_bytes()};
  }

 private:
  // Uploads the host mirrors if host_buffer() handed them out since the last computation.
  void sync_host_writes() {
    if (!host_dirty_) return;
    float* dst[4] = {lora_param_, lora_grad_, lora_m_, lora_v_};
    for (int k = 0; k < 4; k++)
      if (lora_count_)
        SF_CUDA_CHECK(cudaMemcpy(dst[k], mirror_[k].data(), sizeof(float) * lora_count_, cudaMemcpyHostToDevice));
    cast_copy<T>(lora_copy_, lora_param_, lora_count_, stream_);
    host_dirty_ = false;
  }

  // ---- setup --------------------------------------------------------------------------------------
  void validate() const {
    const auto& c = cfg_;
    auto need = [](bool ok, const std::string& what) {
      if (!ok) throw std::runtime_error("CUDA trainer: invalid params: " + what);
    };
    need(c.vocab_size > 0 && c.hidden_size > 0 && c.intermediate_size > 0 && c.num_layers > 0,
         "config.vocabSize/hiddenSize/intermediateSize/numLayers must be positive");
    need(c.num_heads > 0 && (c.head_dim > 0 || c.hidden_size % c.num_heads == 0),
         "config.hiddenSize must be a multiple of numHeads");
    need(c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0, "config.numHeads must be a multiple of numKvHeads");
    const int d = c.head_dim > 0 ? c.head_dim : c.hidden_size / c.num_heads;
    need(d == 16 || d == 32 || d == 64 || d == 128, "config.headDim must be 16, 32, 64 or 128 for the CUDA engine");
    need(p_.lora.rank > 0, "lora.rank must be positive");
    need(p_.lora.dropout >= 0 && p_.lora.dropout < 1, "lora.dropout must be in [0, 1)");
    need(p_.max_batch > 0 && p_.max_seq_len > 0, "maxBatch and maxSeqLen must be positive");
    need(p_.ce_chunk_rows > 0, "ce_chunk_rows must be positive");
    for (const auto& m : p_.lora.target_modules) {
      bool known = false;
      for (const char* name : kModuleNames) known = known || m == name;
      need(known, "lora.targetModules: unknown module '" + m + "'");
    }
  }

  T* weight(size_t count) { return arena_.alloc<T>(DeviceArena::WEIGHTS, count); }

  void allocate_weights() {
    const size_t H = H_, I = I_, QD = QD_, KV = KV_, V = V_;
    embed_ = weight(V * H);
    lm_head_ = cfg_.tie_word_embeddings ? embed_ : weight(V * H);
    norm_ = weight(H);
    layers_.resize(L_);
    for (auto& w : layers_) {
      w.wq = weight(QD * H); w.bq = weight(QD);
      w.wk = weight(KV * H); w.bk = weight(KV);
      w.wv = weight(KV * H); w.bv = weight(KV);
      w.wo = weight(H * QD);
      w.wg = weight(I * H); w.wu = weight(I * H); w.wd = weight(H * I);
      w.ln1 = weight(H); w.ln2 = weight(H);
    }
  }

  struct Named { std::string name; T* dst; std::vector<int64_t> shape; bool optional_zero; };
  std::vector<Named> weight_list() const {
    const int64_t H = H_, I = I_, QD = QD_, KV = KV_, V = V_;
    std::vector<Named> out = {{"model.embed_tokens.weight", embed_, {V, H}, false}, {"model.norm.weight", norm_, {H}, false}};
    if (!cfg_.tie_word_embeddings) out.push_back({"lm_head.weight", lm_head_, {V, H}, false});
    for (int l = 0; l < L_; l++) {
      const auto& w = layers_[l];
      const std::string a = "model.layers." + std::to_string(l) + ".self_attn.";
      const std::string m = "model.layers." + std::to_string(l) + ".mlp.";
      const std::string pre = "model.layers." + std::to_string(l) + ".";
      out.push_back({a + "q_proj.weight", w.wq, {QD, H}, false});
      out.push_back({a + "q_proj.bias", w.bq, {QD}, true});
      out.push_back({a + "k_proj.weight", w.wk, {KV, H}, false});
      out.push_back({a + "k_proj.bias", w.bk, {KV}, true});
      out.push_back({a + "v_proj.weight", w.wv, {KV, H}, false});
      out.push_back({a + "v_proj.bias", w.bv, {KV}, true});
      out.push_back({a + "o_proj.weight", w.wo, {H, QD}, false});
      out.push_back({m + "gate_proj.weight", w.wg, {I, H}, false});
      out.push_back({m + "up_proj.weight", w.wu, {I, H}, false});
      out.push_back({m + "down_proj.weight", w.wd, {H, I}, false});
      out.push_back({pre + "input_layernorm.weight", w.ln1, {H}, false});
      out.push_back({pre + "post_attention_layernorm.weight", w.ln2, {H}, false});
    }
    return out;
  }

  static std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); i++) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
  }

  void load_weights(const WeightSource& source) {
    void* staging = nullptr;
    size_t staging_bytes = 0;
    for (const auto& w : weight_list()) {
      const WeightView view = source(w.name);
      size_t count = 1;
      for (auto d : w.shape) count *= static_cast<size_t>(d);
      if (!view.data) {
        if (w.optional_zero) {
          SF_CUDA_CHECK(cudaMemsetAsync(w.dst, 0, count * sizeof(T), stream_));
          continue;
        }
        throw std::runtime_error("CUDA trainer: missing weight " + w.name);
      }
      if (view.shape != w.shape)
        throw std::runtime_error("CUDA trainer: weight " + w.name + " has shape " + shape_str(view.shape) +
                                 ", expected " + shape_str(w.shape));
      const size_t elem = view.dtype == WeightDType::F32 ? 4 : 2;
      if (count * elem > staging_bytes) {
        SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
        if (staging) cudaFree(staging);
        staging_bytes = count * elem;
        SF_CUDA_CHECK(cudaMalloc(&staging, staging_bytes));
      }
      SF_CUDA_CHECK(cudaMemcpyAsync(staging, view.data, count * elem, cudaMemcpyHostToDevice, stream_));
      const HostDType dt = view.dtype == WeightDType::F32 ? HostDType::F32
                           : view.dtype == WeightDType::F16 ? HostDType::F16 : HostDType::BF16;
      convert_to<T>(w.dst, staging, dt, count, stream_);
    }
    SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (staging) cudaFree(staging);
  }

  // Seeded uniform weights with the std of HF's initializer_range 0.02; norms 1, biases 0.
  void random_weights() {
    uint64_t key = p_.seed ^ 0xC0FFEEull;
    const float a = 0.02f * std::sqrt(3.0f);
    for (const auto& w : weight_list()) {
      size_t count = 1;
      for (auto d : w.shape) count *= static_cast<size_t>(d);
      const bool norm = w.shape.size() == 1 && !w.optional_zero;
      const bool bias = w.optional_zero;
      random_fill_kernel<T><<<ceil_div(static_cast<long long>(count), 256), 256, 0, stream_>>>(
          w.dst, count, splitmix64(key), norm || bias ? 0.0f : a, norm ? 1.0f : 0.0f);
      SF_CUDA_LAUNCHED();
    }
  }

  void setup_lora() {
    const int r = p_.lora.rank;
    scale_ = p_.lora.use_rslora ? p_.lora.alpha / std::sqrt(static_cast<float>(r)) : p_.lora.alpha / r;
    bool target[NUM_MODULES] = {};
    for (const auto& m : p_.lora.target_modules)
      for (int i = 0; i < NUM_MODULES; i++) target[i] = target[i] || m == kModuleNames[i];
    const int in[NUM_MODULES] = {H_, H_, H_, QD_, H_, H_, I_};
    const int out[NUM_MODULES] = {QD_, KV_, KV_, H_, I_, I_, H_};
    slots_.assign(static_cast<size_t>(L_) * NUM_MODULES, LoraSlot{});
    size_t off = 0;
    for (int l = 0; l < L_; l++)
      for (int m = 0; m < NUM_MODULES; m++) {
        LoraSlot& s = slots_[l * NUM_MODULES + m];
        if (!target[m]) continue;
        s.on = true;
        s.in = in[m];
        s.out = out[m];
        s.a_off = off;
        off += static_cast<size_t>(r) * s.in;
        s.b_off = off;
        off += static_cast<size_t>(s.out) * r;
      }
    lora_count_ = off;
    lora_param_ = arena_.alloc<float>(DeviceArena::LORA, lora_count_);
    lora_copy_ = arena_.alloc<T>(DeviceArena::LORA, lora_count_);
    lora_grad_ = arena_.alloc<float>(DeviceArena::LORA, lora_count_);
    lora_m_ = arena_.alloc<float>(DeviceArena::OPTIMIZER, lora_count_);
    lora_v_ = arena_.alloc<float>(DeviceArena::OPTIMIZER, lora_count_);
    // PEFT init: A Kaiming-uniform (a = sqrt(5)) -> U(-1/sqrt(in), 1/sqrt(in)); B zero. Same seeded hash
    // as the CPU engine (slot index s counts A and B tensors), so both engines start from the same adapter.
    std::vector<float> host(lora_count_, 0.0f);
    uint64_t s = 0;
    for (const auto& slot : slots_) {
      if (!slot.on) continue;
      const double bound = 1.0 / std::sqrt(static_cast<double>(slot.in));
      for (size_t i = 0; i < static_cast<size_t>(r) * slot.in; i++) {
        const uint64_t h = mix64(p_.seed ^ mix64(0xa11a0000ull + s) ^ mix64(i));
        const double u = static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
        host[slot.a_off + i] = static_cast<float>((2.0 * u - 1.0) * bound);
      }
      s += 2;
    }
    if (lora_count_) {
      SF_CUDA_CHECK(cudaMemcpy(lora_param_, host.data(), sizeof(float) * lora_count_, cudaMemcpyHostToDevice));
      SF_CUDA_CHECK(cudaMemset(lora_grad_, 0, sizeof(float) * lora_count_));
      SF_CUDA_CHECK(cudaMemset(lora_m_, 0, sizeof(float) * lora_count_));
      SF_CUDA_CHECK(cudaMemset(lora_v_, 0, sizeof(float) * lora_count_));
      cast_copy<T>(lora_copy_, lora_param_, lora_count_, stream_);
    }
  }

  // [maxT, D]: cos of t / theta^(2i/D) in [0, D/2), sin in [D/2, D), computed in double as the CPU
  // engine does, then stored as F32.
  void upload_rope_table() {
    const int half = D_ / 2;
    std::vector<float> host(static_cast<size_t>(p_.max_seq_len) * D_);
    for (int t = 0; t < p_.max_seq_len; t++)
      for (int i = 0; i < half; i++) {
        const double f = static_cast<double>(t) / std::pow(static_cast<double>(cfg_.rope_theta), 2.0 * i / D_);
        host[static_cast<size_t>(t) * D_ + i] = static_cast<float>(std::cos(f));
        host[static_cast<size_t>(t) * D_ + half + i] = static_cast<float>(std::sin(f));
      }
    SF_CUDA_CHECK(cudaMemcpy(rope_, host.data(), sizeof(float) * host.size(), cudaMemcpyHostToDevice));
  }

  T* act(size_t count) { return arena_.alloc<T>(DeviceArena::ACTIVATIONS, count); }
  float* actf(size_t count) { return arena_.alloc<float>(DeviceArena::ACTIVATIONS, count); }

  void allocate_activations() {
    const size_t N = static_cast<size_t>(p_.max_batch) * p_.max_seq_len, H = H_, I = I_, QD = QD_, KV = KV_;
    const int r = p_.lora.rank;
    resid_.resize(L_ + 1);
    for (auto& x : resid_) x = act(N * H);
    acts_.resize(p_.recompute ? 1 : L_);
    for (auto& a : acts_) {
      a.xn1 = act(N * H); a.q = act(N * QD); a.k = act(N * KV); a.v = act(N * KV); a.att = act(N * QD);
      a.resid_mid = act(N * H); a.xn2 = act(N * H); a.g = act(N * I); a.u = act(N * I);
      a.rstd1 = actf(N); a.rstd2 = actf(N); a.lse = actf(N * cfg_.num_heads);
      for (int m = 0; m < NUM_MODULES; m++) a.lora_u[m] = act(N * r);
    }
    const size_t wide = std::max({H, I, QD});
    proj_ = act(N * H);
    h_ = act(N * I);
    xd_ = act(N * wide);
    dxd_ = act(N * wide);
    du_ = act(N * r);
    dresid_ = act(N * H);
    dxn_ = act(N * H);
    datt_ = act(N * QD);
    dq_ = act(N * QD);
    dk_ = act(N * KV);
    dv_ = act(N * KV);
    dh_ = act(N * I);
    dsum_ = actf(N * cfg_.num_heads);
    xf_ = act(N * H);
    dxf_ = act(N * H);
    rstdf_ = actf(N);
    const size_t chunk = static_cast<size_t>(std::min<size_t>(p_.ce_chunk_rows, N));
    xc_ = act(chunk * H);
    dxc_ = act(chunk * H);
    logits_ = actf(chunk * V_);
    dlogits_ = act(chunk * V_);
    losses_ = actf(N);
    ids_ = arena_.alloc<int32_t>(DeviceArena::ACTIVATIONS, N);
    rows_ = arena_.alloc<int32_t>(DeviceArena::ACTIVATIONS, N);
    targets_ = arena_.alloc<int32_t>(DeviceArena::ACTIVATIONS, N);
    rope_ = actf(static_cast<size_t>(p_.max_seq_len) * D_);
    scalars_ = actf(2);
    partials_ = actf(1024);
  }

  // ---- host-side batch preparation ------------------------------------------------------------------
  void check_batch(const int32_t* ids, const int32_t* labels, int B, int Tn) const {
    if (B <= 0 || Tn <= 0 || B > p_.max_batch || Tn > p_.max_seq_len)
      throw std::runtime_error("CUDA trainer: batch " + std::to_string(B) + " x " + std::to_string(Tn) +
                               " exceeds maxBatch x maxSeqLen " + std::to_string(p_.max_batch) + " x " +
                               std::to_string(p_.max_seq_len));
    for (int i = 0; i < B * Tn; i++) {
      if (ids[i] < 0 || ids[i] >= V_)
        throw std::runtime_error("CUDA trainer: inputIds[" + std::to_string(i) + "] = " + std::to_string(ids[i]) +
                                 " is outside the vocabulary (" + std::to_string(V_) + ")");
      if (labels && labels[i] != -100 && (labels[i] < 0 || labels[i] >= V_))
        throw std::runtime_error("CUDA trainer: labels[" + std::to_string(i) + "] = " + std::to_string(labels[i]) +
                                 " is neither -100 nor a token id");
    }
  }

  // Uploads ids, the labelled rows (position t predicts labels[t + 1]) and their targets; returns their count.
  int prepare(const int32_t* ids, const int32_t* labels, int B, int Tn) {
    check_batch(ids, labels, B, Tn);
    const int N = B * Tn;
    host_rows_.clear();
    host_targets_.clear();
    for (int b = 0; b < B; b++)
      for (int t = 0; t + 1 < Tn; t++) {
        const int32_t y = labels[b * Tn + t + 1];
        if (y >= 0) {
          host_rows_.push_back(b * Tn + t);
          host_targets_.push_back(y);
        }
      }
    SF_CUDA_CHECK(cudaMemcpyAsync(ids_, ids, sizeof(int32_t) * N, cudaMemcpyHostToDevice, stream_));
    if (!host_rows_.empty()) {
      SF_CUDA_CHECK(cudaMemcpyAsync(rows_, host_rows_.data(), sizeof(int32_t) * host_rows_.size(),
                                    cudaMemcpyHostToDevice, stream_));
      SF_CUDA_CHECK(cudaMemcpyAsync(targets_, host_targets_.data(), sizeof(int32_t) * host_targets_.size(),
                                    cudaMemcpyHostToDevice, stream_));
    }
    // the host vectors must outlive the async copies: synchronise before they can change
    SF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return static_cast<int>(host_rows_.size());
  }

  // ---- forward ------------------------------------------------------------------------------------
  LayerActs<T>& slot(int l) { return acts_[p_.recompute ? 0 : l]; }
  uint64_t dropout_key(int l, int m) const {
    return dropout_stream_key(rng_seed_, rng_counter_, static_cast<uint64_t>(l) * NUM_MODULES + m);
  }
  bool dropout_on(bool train) const { return train && p_.lora.dropout > 0.0f; }

  void lora_fwd(int l, int m, LayerActs<T>& a, T* out, const T* x, int N, bool train) {
    const LoraSlot& s = slots_[l * NUM_MODULES + m];
    if (!s.on) return;
    const T* xd = x;
    if (dropout_on(train)) {
      dropout_forward<T>(xd_, x, static_cast<size_t>(N) * s.in, p_.lora.dropout, dropout_key(l, m), stream_);
      xd = xd_;
    }
    lora_forward<T>(*blas_, out, a.lora_u[m], xd, lora_copy_ + s.a_off, lora_copy_ + s.b_off, N, s.in, s.out,
                    p_.lora.rank, scale_);
  }

  void layer_forward(int l, int B, int Tn, bool train) {
    const int N = B * Tn;
    const auto& w = layers_[l];
    LayerActs<T>& a = slot(l);
    const float eps = cfg_.rms_norm_eps;
    rmsnorm_forward<T>(a.xn1, a.rstd1, resid_[l], w.ln1, N, H_, eps, stream_);
    matmul_forward<T>(*blas_, a.q, a.xn1, w.wq, w.bq, N, H_, QD_, stream_);
    lora_fwd(l, Q, a, a.q, a.xn1, N, train);
    matmul_forward<T>(*blas_, a.k, a.xn1, w.wk, w.bk, N, H_, KV_, stream_);
    lora_fwd(l, K, a, a.k, a.xn1, N, train);
    matmul_forward<T>(*blas_, a.v, a.xn1, w.wv, w.bv, N, H_, KV_, stream_);
    lora_fwd(l, V, a, a.v, a.xn1, N, train);
    rope_forward<T>(a.q, rope_, B, Tn, cfg_.num_heads, D_, stream_);
    rope_forward<T>(a.k, rope_, B, Tn, cfg_.num_kv_heads, D_, stream_);
    attention_forward<T>(a.att, a.lse, a.q, a.k, a.v, B, Tn, cfg_.num_heads, cfg_.num_kv_heads, D_, stream_);
    matmul_forward<T>(*blas_, proj_, a.att, w.wo, nullptr, N, QD_, H_, stream_);
    lora_fwd(l, O, a, proj_, a.att, N, train);
    fused_residual_rmsnorm_forward<T>(a.resid_mid, a.xn2, a.rstd2, resid_[l], proj_, w.ln2, N, H_, eps, stream_);
    matmul_forward<T>(*blas_, a.g, a.xn2, w.wg, nullptr, N, H_, I_, stream_);
    lora_fwd(l, GATE, a, a.g, a.xn2, N, train);
    matmul_forward<T>(*blas_, a.u, a.xn2, w.wu, nullptr, N, H_, I_, stream_);
    lora_fwd(l, UP, a, a.u, a.xn2, N, train);
    swiglu_forward<T>(h_, a.g, a.u, static_cast<size_t>(N) * I_, stream_);
    matmul_forward<T>(*blas_, proj_, h_, w.wd, nullptr, N, I_, H_, stream_);
    lora_fwd(l, DOWN, a, proj_, h_, N, train);
    residual_forward<T>(resid_[l + 1], a.resid_mid, proj_, static_cast<size_t>(N) * H_, stream_);
  }

  void forward(int B, int Tn, bool train) {
    const int N = B * Tn;
    encoder_forward<T>(resid_[0], ids_, embed_, N, H_, stream_);
    for (int l = 0; l < L_; l++) layer_forward(l, B, Tn, train);
    rmsnorm_forward<T>(xf_, rstdf_, resid_[L_], norm_, N, H_, cfg_.rms_norm_eps, stream_);
  }

  // lm_head + cross-entropy over the n labelled rows, in chunks; with backward, dxf_ = d loss / d xf.
  void classifier(int N, int n, float loss_scale, bool backward, float* loss_out) {
    if (backward) SF_CUDA_CHECK(cudaMemsetAsync(dxf_, 0, sizeof(T) * static_cast<size_t>(N) * H_, stream_));
    SF_CUDA_CHECK(cudaMemsetAsync(loss_out, 0, sizeof(float), stream_));
    for (int c0 = 0; c0 < n; c0 += p_.ce_chunk_rows) {
      const int nc = std::min(p_.ce_chunk_rows, n - c0);
      gather_rows<T>(xc_, xf_, rows_ + c0, nc, H_, stream_);
      classifier_forward_backward<T>(*blas_, losses_ + c0, backward ? dxc_ : nullptr, xc_, targets_ + c0, lm_head_, nc,
                                     V_, H_, loss_scale, logits_, dlogits_, stream_);
      if (backward) scatter_add_rows<T>(dxf_, dxc_, rows_ + c0, nc, H_, stream_);
    }
    if (n > 0) sum_f32(loss_out, losses_, n, stream_);
  }

  // ---- backward -----------------------------------------------------------------------------------
  // LoRA branch of projection m: dout [N, out] -> dA, dB (F32, accumulated) and dx [N, in] += ...
  void lora_bwd(int l, int m, LayerActs<T>& a, const T* dout, const T* x, T* dx, int N) {
    const LoraSlot& s = slots_[l * NUM_MODULES + m];
    if (!s.on) return;
    const int r = p_.lora.rank;
    float* dA = lora_grad_ + s.a_off;
    float* dB = lora_grad_ + s.b_off;
    const T* A = lora_copy_ + s.a_off;
    const T* Bm = lora_copy_ + s.b_off;
    if (dropout_on(true)) {
      const size_t count = static_cast<size_t>(N) * s.in;
      dropout_forward<T>(xd_, x, count, p_.lora.dropout, dropout_key(l, m), stream_);
      lora_backward<T>(*blas_, dA, dB, dxd_, du_, dout, xd_, a.lora_u[m], A, Bm, N, s.in, s.out, r, scale_, false);
      dropout_backward<T>(dx, dxd_, count, p_.lora.dropout, dropout_key(l, m), stream_);
    } else {
      lora_backward<T>(*blas_, dA, dB, dx, du_, dout, x, a.lora_u[m], A, Bm, N, s.in, s.out, r, scale_, true);
    }
  }

  void layer_backward(int l, int B, int Tn) {
    const int N = B * Tn;
    const auto& w = layers_[l];
    if (p_.recompute) layer_forward(l, B, Tn, true);
    LayerActs<T>& a = slot(l);
    const size_t NI = static_cast<size_t>(N) * I_;
    // MLP: dresid_ holds d loss / d resid[l + 1]
    swiglu_forward<T>(h_, a.g, a.u, NI, stream_);  // h is not kept: rebuild it for the down LoRA
    matmul_backward_input<T>(*blas_, dh_, dresid_, w.wd, N, I_, H_, false);
    lora_bwd(l, DOWN, a, dresid_, h_, dh_, N);
    swiglu_backward<T>(a.g, a.u, dh_, a.g, a.u, NI, stream_);  // a.g/a.u now hold d gate / d up
    matmul_backward_input<T>(*blas_, dxn_, a.g, w.wg, N, H_, I_, false);
    lora_bwd(l, GATE, a, a.g, a.xn2, dxn_, N);
    matmul_backward_input<T>(*blas_, dxn_, a.u, w.wu, N, H_, I_, true);
    lora_bwd(l, UP, a, a.u, a.xn2, dxn_, N);
    rmsnorm_backward<T>(dresid_, dxn_, a.resid_mid, w.ln2, a.rstd2, N, H_, stream_);
    // attention: dresid_ holds d loss / d resid_mid
    matmul_backward_input<T>(*blas_, datt_, dresid_, w.wo, N, QD_, H_, false);
    lora_bwd(l, O, a, dresid_, a.att, datt_, N);
    attention_backward<T>(dq_, dk_, dv_, dsum_, datt_, a.att, a.q, a.k, a.v, a.lse, B, Tn, cfg_.num_heads,
                          cfg_.num_kv_heads, D_, stream_);
    rope_backward<T>(dq_, rope_, B, Tn, cfg_.num_heads, D_, stream_);
    rope_backward<T>(dk_, rope_, B, Tn, cfg_.num_kv_heads, D_, stream_);
    matmul_backward_input<T>(*blas_, dxn_, dq_, w.wq, N, H_, QD_, false);
    lora_bwd(l, Q, a, dq_, a.xn1, dxn_, N);
    matmul_backward_input<T>(*blas_, dxn_, dk_, w.wk, N, H_, KV_, true);
    lora_bwd(l, K, a, dk_, a.xn1, dxn_, N);
    matmul_backward_input<T>(*blas_, dxn_, dv_, w.wv, N, H_, KV_, true);
    lora_bwd(l, V, a, dv_, a.xn1, dxn_, N);
    rmsnorm_backward<T>(dresid_, dxn_, resid_[l], w.ln1, a.rstd1, N, H_, stream_);
  }

  void backward(int B, int Tn) {
    const int N = B * Tn;
    SF_CUDA_CHECK(cudaMemsetAsync(dresid_, 0, sizeof(T) * static_cast<size_t>(N) * H_, stream_));
    rmsnorm_backward<T>(dresid_, dxf_, resid_[L_], norm_, rstdf_, N, H_, stream_);
    for (int l = L_ - 1; l >= 0; l--) layer_backward(l, B, Tn);
  }

  // ---- LoRA tensors <-> flat buffers --------------------------------------------------------------
  std::string lora_name(int l, int m, bool a) const {
    return "base_model.model.model.layers." + std::to_string(l) + "." + kModuleParent[m] + "." + kModuleNames[m] +
           (a ? ".lora_A.weight" : ".lora_B.weight");
  }
  std::vector<CudaLoraTensor> read_flat(int which, const float* flat) const {
    std::vector<float> host(lora_count_);
    if (host_dirty_) host = mirror_[which];  // pending host writes are the current values
    else if (lora_count_)
      SF_CUDA_CHECK(cudaMemcpy(host.data(), flat, sizeof(float) * lora_count_, cudaMemcpyDeviceToHost));
    std::vector<CudaLoraTensor> out;
    const int r = p_.lora.rank;
    for (int l = 0; l < L_; l++)
      for (int m = 0; m < NUM_MODULES; m++) {
        const LoraSlot& s = slots_[l * NUM_MODULES + m];
        if (!s.on) continue;
        const size_t na = static_cast<size_t>(r) * s.in, nb = static_cast<size_t>(s.out) * r;
        out.push_back({lora_name(l, m, true), {r, s.in}, {host.begin() + s.a_off, host.begin() + s.a_off + na}});
        out.push_back({lora_name(l, m, false), {s.out, r}, {host.begin() + s.b_off, host.begin() + s.b_off + nb}});
      }
    return out;
  }
  void write_flat(float* flat, const std::vector<CudaLoraTensor>& tensors) {
    std::vector<float> host(lora_count_);
    if (lora_count_) SF_CUDA_CHECK(cudaMemcpy(host.data(), flat, sizeof(float) * lora_count_, cudaMemcpyDeviceToHost));
    const int r = p_.lora.rank;
    for (const auto& t : tensors) {
      bool found = false;
      for (int l = 0; l < L_ && !found; l++)
        for (int m = 0; m < NUM_MODULES && !found; m++) {
          const LoraSlot& s = slots_[l * NUM_MODULES + m];
          if (!s.on) continue;
          for (int is_a = 0; is_a < 2 && !found; is_a++) {
            if (t.name != lora_name(l, m, is_a)) continue;
            const std::vector<int64_t> shape = is_a ? std::vector<int64_t>{r, s.in} : std::vector<int64_t>{s.out, r};
            if (t.shape != shape || t.data.size() != static_cast<size_t>(shape[0] * shape[1]))
              throw std::runtime_error("CUDA trainer: LoRA tensor " + t.name + " has shape " + shape_str(t.shape) +
                                       ", expected " + shape_str(shape));
            std::memcpy(host.data() + (is_a ? s.a_off : s.b_off), t.data.data(), sizeof(float) * t.data.size());
            found = true;
          }
        }
      if (!found) throw std::runtime_error("CUDA trainer: unknown LoRA tensor " + t.name);
    }
    if (lora_count_) SF_CUDA_CHECK(cudaMemcpy(flat, host.data(), sizeof(float) * lora_count_, cudaMemcpyHostToDevice));
  }

  // ---- state --------------------------------------------------------------------------------------
  CudaTrainerParams p_;
  CudaModelConfig cfg_;
  int H_ = 0, I_ = 0, D_ = 0, QD_ = 0, KV_ = 0, V_ = 0, L_ = 0;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Blas> blas_;
  DeviceArena arena_;
  uint64_t rng_seed_ = 0, rng_counter_ = 0;
  int64_t opt_step_ = 0;  // AdamW steps taken (bias correction)
  float scale_ = 1.0f;

  T *embed_ = nullptr, *lm_head_ = nullptr, *norm_ = nullptr;
  std::vector<LayerWeights<T>> layers_;
  std::vector<LoraSlot> slots_;
  size_t lora_count_ = 0;
  float *lora_param_ = nullptr, *lora_grad_ = nullptr, *lora_m_ = nullptr, *lora_v_ = nullptr;
  T* lora_copy_ = nullptr;

  std::vector<T*> resid_;
  std::vector<LayerActs<T>> acts_;
  T *proj_ = nullptr, *h_ = nullptr, *xd_ = nullptr, *dxd_ = nullptr, *du_ = nullptr;
  T *dresid_ = nullptr, *dxn_ = nullptr, *datt_ = nullptr, *dq_ = nullptr, *dk_ = nullptr, *dv_ = nullptr, *dh_ = nullptr;
  float *dsum_ = nullptr, *rstdf_ = nullptr, *logits_ = nullptr, *losses_ = nullptr, *rope_ = nullptr;
  float *scalars_ = nullptr, *partials_ = nullptr;
  T *xf_ = nullptr, *dxf_ = nullptr, *xc_ = nullptr, *dxc_ = nullptr, *dlogits_ = nullptr;
  int32_t *ids_ = nullptr, *rows_ = nullptr, *targets_ = nullptr;
  std::vector<int32_t> host_rows_, host_targets_;
  std::vector<float> mirror_[4];
  bool host_dirty_ = false;
};

}  // namespace

std::unique_ptr<CudaTrainer> CudaTrainer::create(const CudaTrainerParams& params, const WeightSource& weights) {
  if (params.precision == CudaPrecision::F32) return std::make_unique<TrainerImpl<float>>(params, weights);
  return std::make_unique<TrainerImpl<bf16>>(params, weights);
}

std::unique_ptr<CudaTrainer> create_cuda_trainer(const sf_model_config& c, const sf_model_weights& w,
                                                 const sf_trainer_params& p, CudaPrecision precision) {
  CudaTrainerParams cp;
  cp.config = {c.vocab_size, c.hidden_size, c.intermediate_size, c.num_layers, c.num_heads, c.num_kv_heads,
               c.head_dim,   c.rope_theta,  c.rms_norm_eps,      c.tie_word_embeddings != 0};
  cp.lora.rank = p.lora_rank;
  cp.lora.alpha = p.lora_alpha;
  cp.lora.dropout = p.lora_dropout;
  cp.lora.use_rslora = p.use_rslora != 0;
  const uint32_t mask = p.target_mask ? p.target_mask : (1u << NUM_MODULES) - 1;
  for (int m = 0; m < NUM_MODULES; m++)
    if (mask & (1u << m)) cp.lora.target_modules.push_back(kModuleNames[m]);
  cp.optimizer = {p.beta1, p.beta2, p.eps, p.weight_decay, p.max_grad_norm};
  cp.max_batch = p.max_batch;
  cp.max_seq_len = p.max_seq;
  cp.seed = p.seed;
  cp.recompute = p.recompute != 0;
  cp.precision = precision;
  cp.ce_chunk_rows = std::max(p.ce_chunk, 512);
  if (c.num_layers <= 0 || !w.layers) throw std::runtime_error("CUDA trainer: weights: no layer tensors");
  // HF name -> the C struct's tensor (shapes are the config's; the CPU engine checks the same)
  const std::string layer_names[SF_LAYER_TENSORS] = {
      "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
      "mlp.gate_proj.weight",    "mlp.up_proj.weight",      "mlp.down_proj.weight",    "self_attn.q_proj.bias",
      "self_attn.k_proj.bias",   "self_attn.v_proj.bias",   "input_layernorm.weight",  "post_attention_layernorm.weight"};
  const int D = c.head_dim > 0 ? c.head_dim : (c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  const int64_t H = c.hidden_size, I = c.intermediate_size, QD = int64_t(D) * c.num_heads,
                KV = int64_t(D) * c.num_kv_heads, V = c.vocab_size;
  const std::vector<int64_t> shapes[SF_LAYER_TENSORS] = {{QD, H}, {KV, H}, {KV, H}, {H, QD}, {I, H}, {I, H},
                                                         {H, I},  {QD},    {KV},    {KV},    {H},    {H}};
  auto view = [](const sf_tensor& t, std::vector<int64_t> shape) {
    WeightView v;
    v.data = t.data;
    v.dtype = t.dtype == SF_F16 ? WeightDType::F16 : t.dtype == SF_BF16 ? WeightDType::BF16 : WeightDType::F32;
    v.shape = std::move(shape);
    return v;
  };
  WeightSource source = [&](const std::string& name) -> WeightView {
    if (name == "model.embed_tokens.weight") return view(w.embed_tokens, {V, H});
    if (name == "lm_head.weight") return view(w.lm_head, {V, H});
    if (name == "model.norm.weight") return view(w.norm, {H});
    const std::string prefix = "model.layers.";
    if (name.compare(0, prefix.size(), prefix) == 0) {
      const size_t dot = name.find('.', prefix.size());
      const int l = std::stoi(name.substr(prefix.size(), dot - prefix.size()));
      const std::string rest = name.substr(dot + 1);
      for (int k = 0; k < SF_LAYER_TENSORS; k++)
        if (rest == layer_names[k]) return view(w.layers[static_cast<size_t>(l) * SF_LAYER_TENSORS + k], shapes[k]);
    }
    return WeightView{};
  };
  for (const sf_tensor* t : {&w.embed_tokens, &w.norm})
    if (t->dtype != SF_F32 && t->dtype != SF_F16 && t->dtype != SF_BF16)
      throw std::runtime_error("CUDA trainer: weights: unsupported dtype");
  return CudaTrainer::create(cp, source);
}

bool cuda_device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
    return false;
  }
  return true;
}

}  // namespace sqlfocus::cuda
