// sqlfocus training engine: the C boundary (llama.h style). Plain C types only; no Node, no files, no JSON.
// A trainer holds the LoRA parameters (F32), their gradients and AdamW moments, and the activation buffers
// for at most max_batch x max_seq tokens. Base weights are borrowed pointers (e.g. into mapped safetensors)
// that must stay valid and unchanged while the trainer lives; they are never copied.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SF_F32 = 0, SF_F16 = 1, SF_BF16 = 2 } sf_dtype;

/** LoRA target modules, in PEFT's order of names: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj. */
typedef enum { SF_Q = 0, SF_K, SF_V, SF_O, SF_GATE, SF_UP, SF_DOWN, SF_NUM_MODULES } sf_module;

typedef struct {
  int vocab_size, hidden_size, intermediate_size, num_layers, num_heads, num_kv_heads;
  int head_dim;  // 0: hidden_size / num_heads
  float rope_theta, rms_norm_eps;
  int tie_word_embeddings;
} sf_model_config;

typedef struct {
  const void* data;  // NULL: absent (only biases may be absent)
  sf_dtype dtype;
} sf_tensor;

/** Base weights, Hugging Face layout (Linear weights [out, in], row-major). */
typedef struct {
  sf_tensor embed_tokens;  // [vocab, hidden]
  sf_tensor lm_head;       // [vocab, hidden]; ignored when tie_word_embeddings
  sf_tensor norm;          // [hidden]
  sf_tensor* layers;       // num_layers x SF_LAYER_TENSORS, indexed by sf_layer_tensor
} sf_model_weights;

typedef enum {
  SF_W_Q = 0, SF_W_K, SF_W_V, SF_W_O, SF_W_GATE, SF_W_UP, SF_W_DOWN,  // projection weights (same order as sf_module)
  SF_B_Q, SF_B_K, SF_B_V,                                             // q/k/v biases (optional)
  SF_W_LN1, SF_W_LN2,                                                 // input_layernorm, post_attention_layernorm
  SF_LAYER_TENSORS
} sf_layer_tensor;

typedef enum { SF_DEVICE_CPU = 0, SF_DEVICE_CUDA = 1 } sf_device;

typedef struct {
  int lora_rank;
  float lora_alpha, lora_dropout;
  int use_rslora;
  uint32_t target_mask;  // bit (1 << sf_module) per adapted module; default all seven
  int max_batch, max_seq;
  int threads;    // 0: 2
  uint64_t seed;  // LoRA A init and dropout stream
  int recompute;  // keep only layer inputs, recompute each layer's activations in the backward pass
  float beta1, beta2, eps, weight_decay, max_grad_norm;  // AdamW (PyTorch semantics); max_grad_norm <= 0: no clipping
  int device;     // sf_device: SF_DEVICE_CUDA runs the CUDA engine (native/cuda; builds with CUDA + cuBLAS only)
  int ce_chunk;   // tokens per lm_head/cross-entropy chunk (0: 128): the logits scratch is ce_chunk x vocab floats
} sf_trainer_params;

typedef struct sf_trainer sf_trainer;

typedef struct {
  double loss_sum;  // sum of token losses (not scaled)
  int64_t tokens;   // label tokens counted
  double ms;
} sf_loss_result;

typedef struct {
  size_t weights_bytes, lora_bytes, optimizer_bytes, activations_bytes;
} sf_memory;

sf_trainer_params sf_trainer_default_params(void);

/** NULL on failure, with the reason in err. */
sf_trainer* sf_trainer_create(const sf_model_config* cfg, const sf_model_weights* w, const sf_trainer_params* p,
                              char* err, size_t err_len);
void sf_trainer_free(sf_trainer* t);
/** The message of the last failed call on t. */
const char* sf_trainer_last_error(const sf_trainer* t);

/** Adds the gradient of loss_scale * (sum of token losses) to the LoRA grads. ids/labels: [batch, seq].
 *  Position t predicts labels[t+1]; label -100 is ignored. Returns 0, or -1 (see last_error). */
int sf_trainer_forward_backward(sf_trainer* t, const int32_t* ids, const int32_t* labels, int batch, int seq,
                                float loss_scale, sf_loss_result* out);
/** Loss without dropout or gradients. */
int sf_trainer_evaluate(sf_trainer* t, const int32_t* ids, const int32_t* labels, int batch, int seq,
                        sf_loss_result* out);
/** All logits, [batch, seq, vocab] into out (no dropout). */
int sf_trainer_logits(sf_trainer* t, const int32_t* ids, int batch, int seq, float* out);
/** Clips the grads to max_grad_norm, applies AdamW with lr, zeroes the grads. Rejects non-finite grads
 *  (returns -1, no update, grads zeroed). grad_norm: the norm before clipping. */
int sf_trainer_optimizer_step(sf_trainer* t, float lr, double* grad_norm, double* ms);
void sf_trainer_zero_grad(sf_trainer* t);

/** LoRA tensors: A [r, in] and B [out, r] for each layer and adapted module (layer-major, module order, A then B). */
int sf_trainer_lora_count(const sf_trainer* t);
typedef struct {
  int layer;
  sf_module module;
  int is_b;
  int rows, cols;
} sf_lora_info;
sf_lora_info sf_trainer_lora_info(const sf_trainer* t, int i);
float* sf_trainer_lora_data(sf_trainer* t, int i);  // rows x cols, read/write
float* sf_trainer_lora_grad(sf_trainer* t, int i);
float* sf_trainer_adam_m(sf_trainer* t, int i);
float* sf_trainer_adam_v(sf_trainer* t, int i);
int64_t sf_trainer_get_step(const sf_trainer* t);
void sf_trainer_set_step(sf_trainer* t, int64_t step);

/** Dropout RNG: a counter-based stream (seed, counter). */
void sf_trainer_get_rng(const sf_trainer* t, uint64_t* seed, uint64_t* counter);
void sf_trainer_set_rng(sf_trainer* t, uint64_t seed, uint64_t counter);

sf_memory sf_trainer_memory(const sf_trainer* t);
const char* sf_module_name(sf_module m);

#ifdef __cplusplus
}
#endif
