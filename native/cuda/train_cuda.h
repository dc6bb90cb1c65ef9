// The CUDA training step: the twin of the CPU step in native/core, selected with device "cuda" in the
// trainer params. Plain C++ interface (no CUDA or cuBLAS types), so native/core and the addon can
// include it from .cpp files; the implementation is train_cuda.cu (built only with CUDA + cuBLAS).
// Semantics follow docs/architecture.md (Engine): forward_backward accumulates LoRA gradients of
// loss_scale * sum of token losses (labels shifted by one, -100 ignored), optimizer_step clips to
// max_grad_norm, runs AdamW and zeroes the gradients, and rejects non-finite gradients.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sqlfocus.h>

namespace sqlfocus::cuda {

struct CudaModelConfig {
  int vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_layers = 0, num_heads = 0, num_kv_heads = 0;
  int head_dim = 0;  // 0: hidden_size / num_heads
  float rope_theta = 1e6f, rms_norm_eps = 1e-6f;
  bool tie_word_embeddings = false;
};
struct CudaLoraConfig {
  int rank = 16;
  float alpha = 32.0f, dropout = 0.0f;
  bool use_rslora = false;
  std::vector<std::string> target_modules;  // of q_proj k_proj v_proj o_proj gate_proj up_proj down_proj
};
struct CudaOptimizerConfig {
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f, max_grad_norm = 1.0f;
};
enum class CudaPrecision { BF16, F32 };  // F32: every activation and weight in F32 (parity tests)
struct CudaTrainerParams {
  CudaModelConfig config;
  CudaLoraConfig lora;
  CudaOptimizerConfig optimizer;
  int max_batch = 1, max_seq_len = 512;
  uint64_t seed = 0;
  bool recompute = false;         // keep only each layer's input; recompute the layer in the backward
  CudaPrecision precision = CudaPrecision::BF16;
  int ce_chunk_rows = 512;        // labelled rows per lm_head + cross-entropy chunk
  int device = 0;
};

enum class WeightDType { F32 = 0, F16 = 1, BF16 = 2 };
struct WeightView {
  const void* data = nullptr;  // host memory (a mapped safetensors file); nullptr: absent
  WeightDType dtype = WeightDType::F32;
  std::vector<int64_t> shape;
};
// Looks a Hugging Face tensor name up (model.layers.0.self_attn.q_proj.weight, …).
using WeightSource = std::function<WeightView(const std::string& hf_name)>;

struct CudaLossResult { double loss_sum = 0; int64_t tokens = 0; double ms = 0; };
struct CudaOptimizerResult { double grad_norm = 0; bool applied = false; double ms = 0; };
struct CudaLoraTensor {
  std::string name;  // PEFT name: base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight
  std::vector<int64_t> shape;  // [r, in] (A) or [out, r] (B)
  std::vector<float> data;
};
struct CudaOptimizerState {
  int64_t step = 0;
  std::vector<CudaLoraTensor> m, v;  // same names and shapes as the LoRA tensors
};
// One LoRA tensor in the flat buffers (the CPU engine's sf_lora_info + offset).
struct CudaLoraSlot {
  int layer, module, is_b, rows, cols;
  size_t offset;
};
struct CudaMemoryReport {
  size_t weights_bytes = 0, lora_bytes = 0, optimizer_bytes = 0, activations_bytes = 0;
};

class CudaTrainer {
 public:
  virtual ~CudaTrainer() = default;
  // weights: the Hugging Face tensors; an empty WeightSource fills the model with seeded random weights
  // on the device (benchmarks: no 15 GB upload). Throws std::runtime_error naming the bad tensor/field.
  static std::unique_ptr<CudaTrainer> create(const CudaTrainerParams& params, const WeightSource& weights);

  virtual CudaLossResult forward_backward(const int32_t* input_ids, const int32_t* labels, int batch, int seq_len,
                                          float loss_scale) = 0;
  virtual CudaOptimizerResult optimizer_step(float lr) = 0;
  virtual void zero_grad() = 0;
  virtual CudaLossResult evaluate(const int32_t* input_ids, const int32_t* labels, int batch, int seq_len) = 0;
  // [batch * seq_len * vocab] F32 (tests and parity only)
  virtual std::vector<float> logits(const int32_t* input_ids, int batch, int seq_len) = 0;

  virtual std::vector<CudaLoraTensor> lora_tensors() const = 0;
  virtual void set_lora_tensors(const std::vector<CudaLoraTensor>& tensors) = 0;
  virtual std::vector<CudaLoraTensor> lora_grads() const = 0;  // accumulated since the last step (tests)
  virtual CudaOptimizerState optimizer_state() const = 0;
  virtual int64_t step() const = 0;  // AdamW steps taken
  virtual void set_step(int64_t step) = 0;
  virtual void set_optimizer_state(const CudaOptimizerState& state) = 0;
  // dropout stream (the CPU engine's): seed and micro-step counter
  virtual void rng_state(uint64_t* seed, uint64_t* counter) const = 0;
  virtual void set_rng_state(uint64_t seed, uint64_t counter) = 0;
  // Flat host mirrors of the LoRA buffers in the CPU engine's layout (layer-major, module order, A then B),
  // for the C API's sf_trainer_lora_data/grad/adam_m/adam_v: which = 0 params, 1 grads, 2 Adam m, 3 Adam v.
  // The first call after a computation downloads all four; writes through the pointers are uploaded
  // before the next computation. Call it again after each computation to read fresh values.
  virtual float* host_buffer(int which) = 0;
  virtual size_t lora_size() const = 0;  // elements in each flat buffer
  virtual std::vector<CudaLoraSlot> lora_slots() const = 0;  // layer-major, module order, A then B
  virtual CudaMemoryReport memory() const = 0;
};

// The CUDA trainer for the C API's structs (native/include/sqlfocus.h): same tensors, LoRA init, dropout
// stream and LoRA layout as the CPU engine. ce_chunk below 512 is raised to 512 (GPU-sized chunks).
std::unique_ptr<CudaTrainer> create_cuda_trainer(const sf_model_config& cfg, const sf_model_weights& w,
                                                 const sf_trainer_params& p, CudaPrecision precision);

// True when a CUDA device can be used; otherwise false and *why says why (no device, driver, …).
bool cuda_device_available(std::string* why);

}  // namespace sqlfocus::cuda
