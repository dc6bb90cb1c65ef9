// The Qwen2 + LoRA training engine: sf::Engine<Dev>, the one training step (native/core/train.cpp) written over a
// device's operations Dev (sf::cpu::Ops<T> in native/cpu/ops.h, sf::cuda::Ops<T> in native/cuda/ops.h: the same
// method names and arguments). sf::Trainer is what the C API (native/core/api.cpp) holds; make_trainer() is the
// only place that picks a device. Errors are sf::Error (core/shared.h) with an sf_status.
#pragma once
#include <sqlfocus.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/shared.h"
#include "cpu/ops.h"

namespace sf {

/** One LoRA tensor (A [r, in] or B [out, r]) in the flat buffers. */
struct LoraSlot {
  int layer, module, is_b, rows, cols;
  size_t offset;
};

/** A trainer on some device, as the C API sees it. All pointers given are host memory unless said otherwise. */
class Trainer {
 public:
  virtual ~Trainer() = default;
  /** Adds ∂(scale · Σ token losses)/∂lora to the grads; returns Σ token losses and the label-token count. */
  virtual double forward_backward(const int32_t* ids, const int32_t* labels, int B, int Tn, double scale,
                                  int64_t* tokens) = 0;
  /** Σ token losses without dropout or grads. */
  virtual double evaluate(const int32_t* ids, const int32_t* labels, int B, int Tn, int64_t* tokens) = 0;
  /** All logits [B, T, V] into out. */
  virtual void logits(const int32_t* ids, int B, int Tn, float* out) = 0;
  /** Clip + AdamW + zero grads; returns the grad norm before clipping. Non-finite grads: Error
   *  SF_ERR_NONFINITE_GRADIENTS, no update, grads zeroed. */
  virtual double optimizer_step(float lr) = 0;
  virtual void zero_grad() = 0;
  /** Elements [off, off + n) of a flat LoRA buffer (sf_lora_buffer) to / from host F32. */
  virtual void read_lora(int which, size_t off, size_t n, float* out) = 0;
  virtual void write_lora(int which, size_t off, size_t n, const float* in) = 0;
  /** The flat buffer in device memory when it is F32 (else nullptr). */
  virtual float* lora_buffer(int which) = 0;
  virtual sf_memory memory() const = 0;

  std::vector<LoraSlot> slots;             // layer-major, module order, A then B
  size_t lora_size = 0;                    // elements in each flat buffer
  int64_t step = 0;                        // AdamW steps taken
  uint64_t rng_seed = 0, rng_counter = 0;  // the dropout stream
};

/** Checks a config and parameters (throws Error SF_ERR_INVALID_ARGUMENT naming the field): the one place they are
 *  validated, for sf_trainer_create and sf_check_config. */
void validate_config(const sf_model_config& cfg, const sf_trainer_params& p);
/** Validates cfg, w and p and creates the trainer on p.device (throws Error naming the bad field). */
std::unique_ptr<Trainer> make_trainer(const sf_model_config& cfg, const sf_model_weights& w,
                                      const sf_trainer_params& p);

template <typename Dev>
class Engine final : public Trainer {
 public:
  using T = typename Dev::act_t;
  using S = typename Dev::stat_t;
  using P = typename Dev::param_t;

  /** Throws Error (SF_ERR_INVALID_ARGUMENT naming the field, SF_ERR_OUT_OF_MEMORY, …). */
  Engine(const sf_model_config& cfg, const sf_model_weights& w, const sf_trainer_params& p);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  double forward_backward(const int32_t* ids, const int32_t* labels, int B, int Tn, double scale,
                          int64_t* tokens) override;
  double evaluate(const int32_t* ids, const int32_t* labels, int B, int Tn, int64_t* tokens) override;
  void logits(const int32_t* ids, int B, int Tn, float* out) override;
  double optimizer_step(float lr) override;
  void zero_grad() override;
  void read_lora(int which, size_t off, size_t n, float* out) override;
  void write_lora(int which, size_t off, size_t n, const float* in) override;
  float* lora_buffer(int which) override;
  sf_memory memory() const override;

  sf_trainer_params params;  // as given, with the device's defaults filled in
  sf_model_config cfg;
  Dev dev;
  // The flat LoRA buffers (device memory): parameters, gradients, AdamW moments; lora_t is the adapters in the
  // activation type when that differs from P (CUDA BF16), else it is `param`.
  P *param = nullptr, *grad = nullptr, *adam_m = nullptr, *adam_v = nullptr;
  T* lora_t = nullptr;

 private:
  struct LayerActs {
    S *rstd1, *lse, *rstd2;
    T *h1, *q, *k, *v, *ao, *xmid, *h2, *g, *u;
    T* xa[SF_NUM_MODULES];  // x·Aᵀ of each adapted module (nullptr when not adapted)
  };
  Dims d{};
  int R = 0, maxN = 0;
  double lora_scale = 0;
  sf_tensor embed{}, head{}, fnorm{};
  std::vector<sf_tensor> lw;                                              // L x SF_LAYER_TENSORS (device views)
  std::vector<int> lora_a;                                                // L x SF_NUM_MODULES: slot index of A, or -1
  void *weights_mem = nullptr, *lora_mem = nullptr, *acts_mem = nullptr;  // the device's three allocations
  size_t weights_bytes = 0, lora_bytes = 0, acts_bytes = 0;
  std::vector<LayerActs> la;  // per layer (one shared slot when recomputing)
  std::vector<T*> resid;      // L + 1 residual streams: resid[l] is layer l's input, resid[L] the final one
  S *rstdf = nullptr, *rope = nullptr, *logit_buf = nullptr;
  T *hf = nullptr, *dres = nullptr, *dh = nullptr, *dq = nullptr, *dk = nullptr, *dv = nullptr, *dao = nullptr;
  T *hmlp = nullptr, *dmlp = nullptr, *xd = nullptr, *tmp = nullptr, *dxa = nullptr, *hsel = nullptr, *dhsel = nullptr;
  int32_t *ids_dev = nullptr, *rows_dev = nullptr, *targets_dev = nullptr;

  const sf_tensor& W(int l, int which) const { return lw[size_t(l) * SF_LAYER_TENSORS + which]; }
  sf_tensor lora_view(int slot) const;
  void validate(const sf_model_weights& w);
  void place_weights(const sf_model_weights& w);
  void init_lora();
  void layout_activations();
  void check_batch(const int32_t* ids, const int32_t* labels, int B, int Tn) const;
  void forward(const int32_t* ids, int B, int Tn, bool train);
  void layer_forward(int l, int B, int Tn, bool train);
  void layer_backward(int l, int B, int Tn, bool train);
  void linear_forward(int l, int m, const T* x, T* y, int N, bool train);
  void linear_backward(int l, int m, const T* x, const T* dy, T* dx, int N, bool accumulate, bool train);
  double loss_and_grad(const int32_t* labels, int B, int Tn, double scale, bool grad, int64_t* tokens);
  P* buffer(int which) const;
};

extern template class Engine<cpu::Ops<float>>;
extern template class Engine<cpu::Ops<double>>;

}  // namespace sf
