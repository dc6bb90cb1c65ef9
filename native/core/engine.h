// The Qwen2 + LoRA training engine, templated on the float type (float: the trainer behind the C API;
// double: the finite-difference tests). Definitions in train.cpp (explicitly instantiated for both).
#pragma once
#include <sqlfocus.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace sf {

struct EngineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename T> class Engine {
 public:
  /** Throws EngineError on a bad config or missing weight. */
  Engine(const sf_model_config& cfg, const sf_model_weights& w, const sf_trainer_params& p);

  /** Adds ∂(scale · Σ token losses)/∂lora to the grads; returns Σ token losses and the label-token count. */
  double forward_backward(const int32_t* ids, const int32_t* labels, int B, int Tn, T scale, int64_t* tokens);
  /** Σ token losses without dropout or grads. */
  double evaluate(const int32_t* ids, const int32_t* labels, int B, int Tn, int64_t* tokens);
  /** All logits [B, T, V]. */
  void logits(const int32_t* ids, int B, int Tn, T* out);
  /** Clip + AdamW + zero grads; returns the grad norm before clipping; throws (grads zeroed) if non-finite. */
  double optimizer_step(float lr);
  void zero_grad();

  struct LoraSlot {
    int layer, module, is_b, rows, cols;
    size_t offset;
  };
  std::vector<LoraSlot> slots;
  std::vector<T> param, grad, adam_m, adam_v;  // one buffer each, laid out by `slots`
  int64_t step = 0;
  uint64_t rng_seed = 0, rng_counter = 0;
  sf_trainer_params params;
  sf_model_config cfg;
  size_t activation_bytes() const { return acts.size() * sizeof(T) + scratch.size() * sizeof(T); }
  size_t weight_bytes = 0;

 private:
  struct LayerActs {
    T *xin, *rstd1, *h1, *q, *k, *v, *lse, *ao, *xmid, *rstd2, *h2, *g, *u, *a;
    T* xa[SF_NUM_MODULES];
  };
  int H, I, NH, KV, D, qD, kvD, V, L, R, maxN;
  T lora_scale;
  sf_tensor embed, head, fnorm;
  std::vector<sf_tensor> lw;              // L x SF_LAYER_TENSORS
  std::vector<int> lora_a;                // L x SF_NUM_MODULES: slot index of A, or -1
  std::vector<T> acts, scratch;
  std::vector<LayerActs> la;              // per layer (slot 0 shared by all when recomputing)
  T *xfin, *rstdf, *hf;                   // final residual, final norm
  T *dres, *dh, *dq, *dk, *dv, *dao, *dg, *du, *da, *xd, *dxa, *tmp, *logit_buf, *hsel, *dhsel;
  std::vector<T> rope_cs;
  int rope_len = 0;

  const sf_tensor& W(int l, int which) const { return lw[size_t(l) * SF_LAYER_TENSORS + which]; }
  void check_batch(const int32_t* ids, const int32_t* labels, int B, int Tn) const;
  void forward(const int32_t* ids, int B, int Tn, bool train);
  void layer_forward(int l, int B, int Tn, bool train);
  void layer_backward(int l, int B, int Tn, bool train);
  void linear_forward(int l, int m, const T* x, T* y, int N, int in, int out, bool train);
  void linear_backward(int l, int m, const T* x, const T* dy, T* dx, int N, int in, int out, bool accumulate, bool train);
  double loss_and_grad(const int32_t* labels, int B, int Tn, T scale, bool grad, int64_t* tokens);
};

extern template class Engine<float>;
extern template class Engine<double>;

}  // namespace sf
