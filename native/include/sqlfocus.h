// sqlfocus training engine: the C boundary (llama.h style). Plain C types only; no Node, no files, no JSON.
// A trainer holds the LoRA parameters (F32), their gradients and AdamW moments, and the activation buffers
// for at most max_batch x max_seq tokens, in its device's memory (host memory for SF_DEVICE_CPU, GPU memory for
// SF_DEVICE_CUDA). Base weights are borrowed pointers (e.g. into mapped safetensors) that must stay valid and
// unchanged while the trainer lives: the CPU reads them in place, never copying them; CUDA uploads them once.
// Every call that can fail returns an sf_status (0 = SF_OK) and leaves its message in sf_trainer_last_error.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Base-weight dtypes. Besides F32/F16/BF16, frozen base weights may be in ggml's block formats (the GGUF tensor
 *  types, rows quantized along the input dimension): SF_GGML_TYPE(t) for ggml type id t. The core dequantizes
 *  Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K itself (SIMD for the common ones); other ggml types need their
 *  dequantizer registered with sf_register_ggml_type (the addon registers libggml-base's). Rows must be whole
 *  blocks. LoRA parameters, activations and optimizer state stay F32. */
#define SF_GGML_TYPE(t) (0x100 + (t))
typedef enum {
  SF_F32 = 0,
  SF_F16 = 1,
  SF_BF16 = 2,
  SF_Q4_0 = SF_GGML_TYPE(2),
  SF_Q4_1 = SF_GGML_TYPE(3),
  SF_Q5_0 = SF_GGML_TYPE(6),
  SF_Q5_1 = SF_GGML_TYPE(7),
  SF_Q8_0 = SF_GGML_TYPE(8),
  SF_Q2_K = SF_GGML_TYPE(10),
  SF_Q3_K = SF_GGML_TYPE(11),
  SF_Q4_K = SF_GGML_TYPE(12),
  SF_Q5_K = SF_GGML_TYPE(13),
  SF_Q6_K = SF_GGML_TYPE(14)
} sf_dtype;

/** ggml's to_float for one type: n elements (whole blocks) from blocks into out. */
typedef void (*sf_to_float_fn)(const void* blocks, float* out, int64_t n);
/** Makes ggml type `ggml_type` (block_size elements in type_size bytes per block) usable as SF_GGML_TYPE(ggml_type)
 *  base weights, dequantized with to_float. Types the core knows keep their own dequantizers (checked bit-exact
 *  against ggml's by the tests); registering one of those only records ggml's as the reference. Process-wide;
 *  returns 0, or -1 for a bad argument. */
int sf_register_ggml_type(int ggml_type, int64_t block_size, size_t type_size, sf_to_float_fn to_float);
/** Dequantizes n elements (whole blocks) of a ggml block dtype into out. source 0: the kernels the trainer uses at
 *  the current SIMD level; 1: the core's portable code; 2: the registered ggml to_float. Returns 0, or -1 for a
 *  dtype without that dequantizer or n not a whole number of blocks. */
int sf_dequantize(int dtype, const void* data, float* out, int64_t n, int source);
/** Bytes of n consecutive elements of a base-weight dtype (n whole blocks for a ggml type); 0 for an unknown dtype
 *  or a partial block. */
size_t sf_dtype_bytes(int dtype, int64_t n);
/** The dtype of a GGUF / ggml type name ("F32", "F16", "BF16", "Q8_0", "Q4_K", ...), or -1 for a name the core does
 *  not know (neither built in nor registered). */
int sf_dtype_from_name(const char* name);
/** The SIMD level the CPU kernels run at ("portable", "avx2", "avx512", "avx512bf16"). */
const char* sf_cpu_level(void);

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
  size_t bytes;  // size of data in bytes, checked against the config's shape; 0: not checked
} sf_tensor;

/** Base weights, Hugging Face layout (Linear weights [out, in], row-major). */
typedef struct {
  sf_tensor embed_tokens;  // [vocab, hidden]
  sf_tensor lm_head;       // [vocab, hidden]; ignored when tie_word_embeddings
  sf_tensor norm;          // [hidden]
  sf_tensor* layers;       // num_layers x SF_LAYER_TENSORS, indexed by sf_layer_tensor
} sf_model_weights;

typedef enum {
  SF_W_Q = 0,
  SF_W_K,
  SF_W_V,
  SF_W_O,
  SF_W_GATE,
  SF_W_UP,
  SF_W_DOWN,  // projection weights (same order as sf_module)
  SF_B_Q,
  SF_B_K,
  SF_B_V,  // q/k/v biases (optional)
  SF_W_LN1,
  SF_W_LN2,  // input_layernorm, post_attention_layernorm
  SF_LAYER_TENSORS
} sf_layer_tensor;

typedef enum { SF_DEVICE_CPU = 0, SF_DEVICE_CUDA = 1 } sf_device;

/** What went wrong, for callers to branch on (the addon turns these into err.code). */
typedef enum {
  SF_OK = 0,
  SF_ERR_INVALID_ARGUMENT = -1,     // a bad config, parameter, weight, batch or buffer range (the message names it)
  SF_ERR_NONFINITE_GRADIENTS = -2,  // optimizer_step: NaN/inf gradients; no update applied, gradients zeroed
  SF_ERR_OUT_OF_MEMORY = -3,        // the device could not allocate the trainer's buffers
  SF_ERR_DEVICE = -4,               // a CUDA runtime or cuBLAS failure
  SF_ERR_UNSUPPORTED = -5           // not available in this build or on this device (e.g. CUDA without a toolkit)
} sf_status;
/** "SF_OK", "SF_ERR_INVALID_ARGUMENT", … ("SF_ERR_UNKNOWN" for other values). */
const char* sf_status_name(int status);

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
  int device;    // sf_device: where the step runs (SF_DEVICE_CUDA: builds with CUDA + cuBLAS only)
  int ce_chunk;  // tokens per lm_head/cross-entropy chunk (0: the device's default, CPU 128, CUDA 512): the logits
                 // scratch is ce_chunk x vocab floats
  int activation_dtype;  // sf_dtype of activations and of the weights' device copy (0: the device's default, CPU
                         // SF_F32, CUDA SF_BF16; CUDA also takes SF_F32 for parity runs; the CPU takes SF_F32 only)
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

/** Checks cfg and p as sf_trainer_create does, without weights or allocations (SF_OK, or the status with the
 *  field named in err). */
int sf_check_config(const sf_model_config* cfg, const sf_trainer_params* p, char* err, size_t err_len);
/** Validates cfg, w and p (the one place they are checked), allocates the trainer and its buffers on p->device.
 *  On failure returns the status, sets *out = NULL and writes the reason into err. */
int sf_trainer_create(const sf_model_config* cfg, const sf_model_weights* w, const sf_trainer_params* p,
                      sf_trainer** out, char* err, size_t err_len);
void sf_trainer_free(sf_trainer* t);
/** The message of the last failed call on t. */
const char* sf_trainer_last_error(const sf_trainer* t);

/** Adds the gradient of loss_scale * (sum of token losses) to the LoRA grads. ids/labels: [batch, seq] (host).
 *  Position t predicts labels[t+1]; label -100 is ignored. */
int sf_trainer_forward_backward(sf_trainer* t, const int32_t* ids, const int32_t* labels, int batch, int seq,
                                float loss_scale, sf_loss_result* out);
/** Loss without dropout or gradients. */
int sf_trainer_evaluate(sf_trainer* t, const int32_t* ids, const int32_t* labels, int batch, int seq,
                        sf_loss_result* out);
/** All logits, [batch, seq, vocab] into out (no dropout). */
int sf_trainer_logits(sf_trainer* t, const int32_t* ids, int batch, int seq, float* out);
/** Clips the grads to max_grad_norm, applies AdamW with lr, zeroes the grads. Rejects non-finite grads
 *  (SF_ERR_NONFINITE_GRADIENTS, no update, grads zeroed). grad_norm: the norm before clipping.
 *  Data-parallel training all-reduces SF_LORA_GRADS (sf_trainer_lora_buffer) between the last
 *  forward_backward of a window and this call. */
int sf_trainer_optimizer_step(sf_trainer* t, float lr, double* grad_norm, double* ms);
int sf_trainer_zero_grad(sf_trainer* t);

/** LoRA tensors: A [r, in] and B [out, r] for each layer and adapted module (layer-major, module order, A then B),
 *  back to back in one flat F32 buffer per kind (sf_lora_buffer) at the offsets given by sf_trainer_lora_info. */
int sf_trainer_lora_count(const sf_trainer* t);
typedef struct {
  int layer;
  sf_module module;
  int is_b;
  int rows, cols;
  size_t offset;  // first element in the flat buffers
} sf_lora_info;
sf_lora_info sf_trainer_lora_info(const sf_trainer* t, int i);
/** Elements in each flat buffer (the sum of rows x cols over the LoRA tensors). */
size_t sf_trainer_lora_size(const sf_trainer* t);
typedef enum { SF_LORA_PARAMS = 0, SF_LORA_GRADS = 1, SF_ADAM_M = 2, SF_ADAM_V = 3 } sf_lora_buffer;
/** Copies elements [offset, offset + count) of a flat buffer to / from host memory. Writing SF_LORA_PARAMS also
 *  refreshes the device's working copy of the adapters. */
int sf_trainer_read_lora(sf_trainer* t, sf_lora_buffer which, size_t offset, size_t count, float* out);
int sf_trainer_write_lora(sf_trainer* t, sf_lora_buffer which, size_t offset, size_t count, const float* in);
/** The flat buffer itself, sf_trainer_lora_size() F32 values in the device's memory (host memory on the CPU,
 *  GPU memory on CUDA), valid while t lives: what an MPI/NCCL all-reduce of SF_LORA_GRADS works on. */
float* sf_trainer_lora_buffer(sf_trainer* t, sf_lora_buffer which);
int64_t sf_trainer_get_step(const sf_trainer* t);
void sf_trainer_set_step(sf_trainer* t, int64_t step);

/** Dropout RNG: a counter-based stream (seed, counter). */
void sf_trainer_get_rng(const sf_trainer* t, uint64_t* seed, uint64_t* counter);
void sf_trainer_set_rng(sf_trainer* t, uint64_t seed, uint64_t counter);

sf_memory sf_trainer_memory(const sf_trainer* t);
/** PEFT's module name ("q_proj" … "down_proj"), "?" outside the enum. */
const char* sf_module_name(sf_module m);

#ifdef __cplusplus
}
#endif
