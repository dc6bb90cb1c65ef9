// The training step of the Qwen2 + LoRA engine, top to bottom, written once over a device's operations `dev`
// (native/cpu/ops.h, native/cuda/ops.h: same names and arguments): the config checks, the device's three
// allocations (base weights when the device copies them, the flat LoRA buffers, one activation buffer laid out
// from a size table), forward (encoder → layers → final rmsnorm), the fused lm_head + cross-entropy in token
// chunks over the label positions only, backward through the layers into the LoRA grads, and AdamW with
// global-norm clipping. Instantiated for the CPU (float; double for the finite-difference tests) and, in a CUDA
// build, for CUDA (BF16; F32 for parity runs). make_trainer() at the bottom is the one device switch.
#include "core/engine.h"
#include "cpu/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#ifdef SQLFOCUS_WITH_CUDA
#include "cuda/ops.h"
#endif

namespace sf {

namespace {
const char* kTensorNames[SF_LAYER_TENSORS] = {
    "q_proj.weight",    "k_proj.weight",  "v_proj.weight",          "o_proj.weight",
    "gate_proj.weight", "up_proj.weight", "down_proj.weight",       "q_proj.bias",
    "k_proj.bias",      "v_proj.bias",    "input_layernorm.weight", "post_attention_layernorm.weight"};
/** Bytes of n elements of a base-weight dtype (a ggml block type: n whole blocks; native/cpu/quant.h). */
size_t dtype_bytes(int dt, size_t n) { return dt == SF_F64 ? n * 8 : weight_span_bytes(dt, int64_t(n)); }
size_t align64(size_t n) { return (n + 63) / 64 * 64; }

/** Lays out typed sub-buffers back to back (64-byte aligned) in one allocation: run once with base = 0 to size it,
 *  once with the real base to hand out the pointers. */
struct Layout {
  uintptr_t base;
  size_t used = 0;
  template <typename U>
  void take(U*& p, size_t n) {
    p = reinterpret_cast<U*>(base + used);
    used += align64(n * sizeof(U));
  }
};
}  // namespace

template <typename Dev>
static sf_trainer_params with_defaults(sf_trainer_params p) {
  if (p.threads == 0) p.threads = 2;
  if (p.ce_chunk == 0) p.ce_chunk = Dev::kDefaultCeChunk;
  p.ce_chunk = int(std::min<int64_t>(p.ce_chunk, int64_t(p.max_batch) * p.max_seq));  // a chunk never needs more rows
  if (p.target_mask == 0) p.target_mask = (1u << SF_NUM_MODULES) - 1;
  return p;
}

template <typename Dev>
Engine<Dev>::Engine(const sf_model_config& c, const sf_model_weights& w, const sf_trainer_params& p)
    : params((validate_config(c, p), with_defaults<Dev>(p))), cfg(c), dev(params) {
  validate(w);
  try {
    place_weights(w);
    init_lora();
    layout_activations();
  } catch (...) {
    dev.release(weights_mem), dev.release(lora_mem), dev.release(acts_mem);
    throw;
  }
}

template <typename Dev>
Engine<Dev>::~Engine() {
  dev.release(weights_mem);
  dev.release(lora_mem);
  dev.release(acts_mem);
}

// ---- the config, parameters and weights: checked here and nowhere else ----------------------------------------------
void validate_config(const sf_model_config& c, const sf_trainer_params& q) {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw Error(SF_ERR_INVALID_ARGUMENT, msg);
  };
  need(c.vocab_size > 0, "config.vocabSize must be > 0");
  need(c.hidden_size > 0, "config.hiddenSize must be > 0");
  need(c.intermediate_size > 0, "config.intermediateSize must be > 0");
  need(c.num_layers > 0, "config.numLayers must be > 0");
  need(c.num_heads > 0 && c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0,
       "config.numHeads must be a positive multiple of config.numKvHeads");
  need(c.head_dim >= 0, "config.headDim must be >= 0");
  Dims d = dims_of(c);
  need(d.D > 0 && d.D % 2 == 0 && (c.head_dim > 0 || d.H % d.NH == 0),
       "config.headDim must be even (hiddenSize / numHeads)");
  need(std::isfinite(c.rope_theta) && c.rope_theta > 0, "config.ropeTheta must be > 0");
  need(std::isfinite(c.rms_norm_eps) && c.rms_norm_eps >= 0, "config.rmsNormEps must be >= 0");
  need(q.lora_rank > 0, "lora.rank must be > 0");
  need(std::isfinite(q.lora_alpha), "lora.alpha must be finite");
  need(q.lora_dropout >= 0 && q.lora_dropout < 1, "lora.dropout must be in [0, 1)");
  need(q.target_mask < (1u << SF_NUM_MODULES), "lora.targetModules: unknown module bit in target_mask");
  need(q.max_batch > 0 && q.max_seq > 0, "maxBatch and maxSeqLen must be > 0");
  need(int64_t(q.max_batch) * q.max_seq <= (int64_t(1) << 30), "maxBatch × maxSeqLen must be at most 2^30 tokens");
  need(q.threads >= 0, "threads must be >= 0");
  need(q.ce_chunk >= 0, "ceChunk must be >= 0");
  need(q.beta1 >= 0 && q.beta1 < 1 && q.beta2 >= 0 && q.beta2 < 1, "optimizer.beta1 and beta2 must be in [0, 1)");
  need(std::isfinite(q.eps) && q.eps >= 0 && std::isfinite(q.weight_decay) && std::isfinite(q.max_grad_norm),
       "optimizer.eps, weightDecay and maxGradNorm must be finite");
  need(q.device == SF_DEVICE_CPU || q.device == SF_DEVICE_CUDA,
       "device " + std::to_string(q.device) + " is not SF_DEVICE_CPU (0) or SF_DEVICE_CUDA (1)");
}

template <typename Dev>
void Engine<Dev>::validate(const sf_model_weights& w) {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw Error(SF_ERR_INVALID_ARGUMENT, msg);
  };
  const sf_model_config& c = cfg;
  d = dims_of(c);
  const sf_trainer_params& q = params;
  R = q.lora_rank;
  maxN = q.max_batch * q.max_seq;
  lora_scale = q.use_rslora ? double(q.lora_alpha) / std::sqrt(double(R)) : double(q.lora_alpha) / double(R);
  rng_seed = q.seed;

  auto check = [&](const sf_tensor& t, const std::string& name, size_t rows, size_t cols) {
    need(t.data != nullptr, "weights: " + name + " is missing");
    int dt = int(t.dtype), block, block_bytes;
    if (quant_geometry(dt, &block, &block_bytes)) {
      // a ggml block type (GGUF tensors, --base_dtype): matrices only, rows of whole blocks, dequantized per tile
      need(Dev::kWeightsInPlace, "weights: " + name + " is in a ggml block type; the " + std::string(Dev::kName) +
                                     " engine takes F32, F16 or BF16 base weights (quantized bases train on the CPU)");
      need(cols > 1, "weights: " + name + " is a vector and cannot be in a ggml block type");
      need(cols % size_t(block) == 0, "weights: " + name + " has rows of " + std::to_string(cols) +
                                          " elements, not a whole number of " + std::to_string(block) +
                                          "-element blocks of its type");
    } else {
      bool ok = dt == SF_F32 || dt == SF_F16 || dt == SF_BF16 || (dt == SF_F64 && std::is_same_v<T, double>);
      need(ok, "weights: " + name + " has an unsupported dtype (" + std::to_string(dt) + ")");
    }
    size_t want = rows * dtype_bytes(dt, cols);
    need(t.bytes == 0 || t.bytes == want, "weights: " + name + " has " + std::to_string(t.bytes) + " bytes (expected " +
                                              std::to_string(want) + " for [" + std::to_string(rows) +
                                              (cols > 1 ? ", " + std::to_string(cols) : std::string()) + "])");
  };
  check(w.embed_tokens, "embed_tokens", size_t(d.V), size_t(d.H));
  check(w.norm, "norm", size_t(d.H), 1);
  if (!c.tie_word_embeddings) check(w.lm_head, "lm_head", size_t(d.V), size_t(d.H));
  need(w.layers != nullptr, "weights: no layer tensors");
  for (int l = 0; l < d.L; l++)
    for (int k = 0; k < SF_LAYER_TENSORS; k++) {
      const sf_tensor& t = w.layers[size_t(l) * SF_LAYER_TENSORS + k];
      if (k >= SF_B_Q && k <= SF_B_V && !t.data) continue;  // biases are optional
      size_t rows, cols;
      layer_tensor_dims(d, k, &rows, &cols);
      check(t, "layer " + std::to_string(l) + " " + kTensorNames[k], rows, cols);
    }
}

// ---- the device's allocations
// ----------------------------------------------------------------------------------------
/** Base weights: views of the caller's memory (CPU), or one device buffer in T filled from them (CUDA). */
template <typename Dev>
void Engine<Dev>::place_weights(const sf_model_weights& w) {
  const sf_tensor none{nullptr, SF_F32, 0};
  std::vector<sf_tensor> host;  // embed, norm, head, then layers
  std::vector<size_t> count;
  auto add = [&](const sf_tensor& t, size_t n) {
    host.push_back(t.data ? t : none);
    count.push_back(t.data ? n : 0);
  };
  add(w.embed_tokens, size_t(d.V) * d.H);
  add(w.norm, size_t(d.H));
  add(cfg.tie_word_embeddings ? none : w.lm_head, cfg.tie_word_embeddings ? 0 : size_t(d.V) * d.H);
  for (int l = 0; l < d.L; l++)
    for (int k = 0; k < SF_LAYER_TENSORS; k++) {
      size_t rows, cols;
      layer_tensor_dims(d, k, &rows, &cols);
      add(w.layers[size_t(l) * SF_LAYER_TENSORS + k], rows * cols);
    }
  std::vector<sf_tensor> placed(host.size(), none);
  if constexpr (Dev::kWeightsInPlace) {
    for (size_t i = 0; i < host.size(); i++) {
      placed[i] = host[i];
      weights_bytes += host[i].data ? dtype_bytes(host[i].dtype, count[i]) : 0;
    }
  } else {
    size_t total = 0;
    for (size_t n : count) total += align64(n * sizeof(T));
    weights_mem = dev.alloc(total);
    if (!weights_mem)
      throw Error(SF_ERR_OUT_OF_MEMORY, std::string(Dev::kName) + ": out of memory for the base weights (" +
                                            std::to_string(total >> 20) + " MiB)");
    weights_bytes = total;
    Layout lay{reinterpret_cast<uintptr_t>(weights_mem)};
    for (size_t i = 0; i < host.size(); i++) {
      if (!count[i]) continue;
      T* dst;
      lay.take(dst, count[i]);
      dev.upload_weight(dst, host[i], count[i]);
      placed[i] = sf_tensor{dst, sf_dtype(dtype_of<T>()), count[i] * sizeof(T)};
    }
  }
  embed = placed[0], fnorm = placed[1], head = cfg.tie_word_embeddings ? placed[0] : placed[2];
  lw.assign(placed.begin() + 3, placed.end());
}

/** The flat LoRA buffers: A [r, in] then B [out, r] per layer and target module; A Kaiming-uniform (seeded), B 0. */
template <typename Dev>
void Engine<Dev>::init_lora() {
  lora_a.assign(size_t(d.L) * SF_NUM_MODULES, -1);
  size_t off = 0;
  for (int l = 0; l < d.L; l++)
    for (int m = 0; m < SF_NUM_MODULES; m++) {
      if (!(params.target_mask & (1u << m))) continue;
      int in, out;
      module_dims(d, m, &in, &out);
      lora_a[size_t(l) * SF_NUM_MODULES + m] = int(slots.size());
      slots.push_back({l, m, 0, R, in, off});
      off += size_t(R) * in;
      slots.push_back({l, m, 1, out, R, off});
      off += size_t(out) * R;
    }
  lora_size = off;
  constexpr bool copy = !std::is_same_v<T, P>;
  auto plan = [&](uintptr_t base) {
    Layout lay{base};
    lay.take(param, off), lay.take(grad, off), lay.take(adam_m, off), lay.take(adam_v, off);
    if (copy) lay.take(lora_t, off);
    return lay.used;
  };
  lora_bytes = plan(0);
  lora_mem = dev.alloc(lora_bytes);
  if (!lora_mem) throw Error(SF_ERR_OUT_OF_MEMORY, std::string(Dev::kName) + ": out of memory for the LoRA buffers");
  plan(reinterpret_cast<uintptr_t>(lora_mem));
  if (!copy) lora_t = reinterpret_cast<T*>(param);
  std::vector<P> host(off, P(0));
  for (size_t s = 0; s < slots.size(); s++) {
    const LoraSlot& sl = slots[s];
    if (sl.is_b) continue;
    for (size_t i = 0; i < size_t(sl.rows) * sl.cols; i++)
      host[sl.offset + i] = P(lora_init_value(params.seed, s, i, sl.cols));
  }
  dev.upload(param, host.data(), off * sizeof(P));
  if (copy) dev.convert(lora_t, param, off);
}

/** Activations: one buffer from a size table (per-layer slots, scratch, the classifier chunk, ints, RoPE). */
template <typename Dev>
void Engine<Dev>::layout_activations() {
  const size_t N = size_t(maxN), B = size_t(params.max_batch), Tm = size_t(params.max_seq), H = d.H, I = d.I, qD = d.qD,
               kvD = d.kvD;
  const size_t chunk = size_t(params.ce_chunk), wide = std::max({H, I, qD, size_t(R)});
  const int nslots = params.recompute ? 1 : d.L;
  auto plan = [&](uintptr_t base) {
    Layout lay{base};
    resid.assign(d.L + 1, nullptr);
    for (auto& x : resid) lay.take(x, N * H);
    std::vector<LayerActs> slot(nslots);
    for (auto& a : slot) {
      lay.take(a.rstd1, N), lay.take(a.h1, N * H), lay.take(a.q, N * qD), lay.take(a.k, N * kvD),
          lay.take(a.v, N * kvD);
      lay.take(a.lse, B * d.NH * Tm), lay.take(a.ao, N * qD), lay.take(a.xmid, N * H), lay.take(a.rstd2, N),
          lay.take(a.h2, N * H);
      lay.take(a.g, N * I), lay.take(a.u, N * I);
      for (int m = 0; m < SF_NUM_MODULES; m++) {
        a.xa[m] = nullptr;
        if (params.target_mask & (1u << m)) lay.take(a.xa[m], N * R);
      }
    }
    la.resize(d.L);
    for (int l = 0; l < d.L; l++) la[l] = slot[l % nslots];
    lay.take(rstdf, N), lay.take(hf, N * H);
    lay.take(dres, N * H), lay.take(dh, N * H), lay.take(dq, N * qD), lay.take(dao, N * qD), lay.take(dk, N * kvD),
        lay.take(dv, N * kvD);
    lay.take(hmlp, N * I), lay.take(dmlp, N * I), lay.take(xd, N * wide), lay.take(tmp, N * wide), lay.take(dxa, N * R);
    lay.take(logit_buf, chunk * d.V), lay.take(hsel, chunk * H), lay.take(dhsel, chunk * H);
    lay.take(ids_dev, N), lay.take(rows_dev, N), lay.take(targets_dev, N);
    lay.take(rope, Tm * d.D);
    return lay.used;
  };
  acts_bytes = plan(0);
  acts_mem = dev.alloc(acts_bytes);
  if (!acts_mem)
    throw Error(SF_ERR_OUT_OF_MEMORY, std::string(Dev::kName) + ": out of memory for the activations (" +
                                          std::to_string(acts_bytes >> 20) +
                                          " MiB); lower maxBatch/maxSeqLen or enable recompute");
  plan(reinterpret_cast<uintptr_t>(acts_mem));
  // RoPE table [max_seq, D/2] of (cos, sin) pairs, angles t / θ^(2i/D) computed in double
  std::vector<S> cs(Tm * d.D);
  for (size_t t = 0; t < Tm; t++)
    for (int i = 0; i < d.D / 2; i++) {
      double f = double(t) / std::pow(double(cfg.rope_theta), double(2 * i) / d.D);
      cs[(t * d.D / 2 + i) * 2] = S(std::cos(f));
      cs[(t * d.D / 2 + i) * 2 + 1] = S(std::sin(f));
    }
  dev.upload(rope, cs.data(), cs.size() * sizeof(S));
}

template <typename Dev>
void Engine<Dev>::check_batch(const int32_t* ids, const int32_t* labels, int B, int Tn) const {
  auto bad = [](const std::string& m) { return Error(SF_ERR_INVALID_ARGUMENT, m); };
  if (B <= 0 || B > params.max_batch)
    throw bad("batch " + std::to_string(B) + " is outside 1.." + std::to_string(params.max_batch) + " (maxBatch)");
  if (Tn <= 0 || Tn > params.max_seq)
    throw bad("seqLen " + std::to_string(Tn) + " is outside 1.." + std::to_string(params.max_seq) + " (maxSeqLen)");
  for (int i = 0; i < B * Tn; i++) {
    if (ids[i] < 0 || ids[i] >= d.V)
      throw bad("inputIds[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is outside the vocabulary (0.." +
                std::to_string(d.V - 1) + ")");
    if (labels && labels[i] != -100 && (labels[i] < 0 || labels[i] >= d.V))
      throw bad("labels[" + std::to_string(i) + "] = " + std::to_string(labels[i]) +
                " is neither -100 nor a token id (0.." + std::to_string(d.V - 1) + ")");
  }
}

// ---- linear with LoRA: y = x·Wᵀ + b + s·dropout(x)·Aᵀ·Bᵀ
// -------------------------------------------------------------
template <typename Dev>
sf_tensor Engine<Dev>::lora_view(int slot) const {
  return sf_tensor{lora_t + slots[slot].offset, sf_dtype(dtype_of<T>()),
                   size_t(slots[slot].rows) * slots[slot].cols * sizeof(T)};
}

template <typename Dev>
void Engine<Dev>::linear_forward(int l, int m, const T* x, T* y, int N, bool train) {
  int in, out;
  module_dims(d, m, &in, &out);
  const sf_tensor none{nullptr, SF_F32, 0};
  dev.matmul_forward(y, x, W(l, m), m <= SF_V ? W(l, SF_B_Q + m) : none, N, out, in, false);
  int ai = lora_a[size_t(l) * SF_NUM_MODULES + m];
  if (ai < 0) return;
  const T* xin = x;
  if (train && params.lora_dropout > 0) {
    dev.dropout_forward(xd, x, size_t(N) * in, params.lora_dropout,
                        dropout_key(rng_seed, rng_counter, uint64_t(l) * SF_NUM_MODULES + m));
    xin = xd;
  }
  T* xa = la[l].xa[m];
  dev.matmul_forward(xa, xin, lora_view(ai), none, N, R, in, false);
  dev.scale(tmp, xa, lora_scale, size_t(N) * R);  // y += s·xa·Bᵀ (xa kept for the backward pass)
  dev.matmul_forward(y, tmp, lora_view(ai + 1), none, N, out, R, true);
}

template <typename Dev>
void Engine<Dev>::linear_backward(int l, int m, const T* x, const T* dy, T* dx, int N, bool accumulate, bool train) {
  int in, out;
  module_dims(d, m, &in, &out);
  dev.matmul_backward_input(dx, dy, W(l, m), N, out, in, accumulate);
  int ai = lora_a[size_t(l) * SF_NUM_MODULES + m];
  if (ai < 0) return;
  P* dA = grad + slots[ai].offset;
  P* dB = grad + slots[ai + 1].offset;
  bool drop = train && params.lora_dropout > 0;
  uint64_t key = dropout_key(rng_seed, rng_counter, uint64_t(l) * SF_NUM_MODULES + m);
  const T* xin = x;
  if (drop) {
    dev.dropout_forward(xd, x, size_t(N) * in, params.lora_dropout, key);
    xin = xd;
  }
  // dB += s · dyᵀ · xa ; dxa = s · dy · B ; dA += dxaᵀ · dropout(x) ; dx += dropout'(dxa · A)
  dev.matmul_backward_weight(dB, dy, la[l].xa[m], N, out, R, lora_scale);
  dev.matmul_backward_input(dxa, dy, lora_view(ai + 1), N, out, R, false);
  dev.scale(dxa, dxa, lora_scale, size_t(N) * R);
  dev.matmul_backward_weight(dA, dxa, xin, N, R, in, 1.0);
  if (drop) {
    dev.matmul_backward_input(tmp, dxa, lora_view(ai), N, R, in, false);
    dev.dropout_backward(dx, tmp, size_t(N) * in, params.lora_dropout, key);
  } else {
    dev.matmul_backward_input(dx, dxa, lora_view(ai), N, R, in, true);
  }
}

// ---- one decoder layer ----------------------------------------------------------------------------------------------
template <typename Dev>
void Engine<Dev>::layer_forward(int l, int B, int Tn, bool train) {
  const int N = B * Tn;
  const size_t NH = size_t(N) * d.H, NI = size_t(N) * d.I;
  LayerActs& a = la[l];
  const T* xin = resid[l];
  T* xout = resid[l + 1];
  dev.rmsnorm_forward(a.h1, a.rstd1, xin, W(l, SF_W_LN1), N, d.H, cfg.rms_norm_eps);
  linear_forward(l, SF_Q, a.h1, a.q, N, train);
  linear_forward(l, SF_K, a.h1, a.k, N, train);
  linear_forward(l, SF_V, a.h1, a.v, N, train);
  dev.rope_forward(a.q, rope, B, Tn, d.NH, d.D);
  dev.rope_forward(a.k, rope, B, Tn, d.KV, d.D);
  dev.attention_forward(a.ao, a.lse, a.q, a.k, a.v, B, Tn, d.NH, d.KV, d.D);
  linear_forward(l, SF_O, a.ao, a.xmid, N, train);
  dev.residual_forward(a.xmid, a.xmid, xin, NH);
  dev.rmsnorm_forward(a.h2, a.rstd2, a.xmid, W(l, SF_W_LN2), N, d.H, cfg.rms_norm_eps);
  linear_forward(l, SF_GATE, a.h2, a.g, N, train);
  linear_forward(l, SF_UP, a.h2, a.u, N, train);
  dev.swiglu_forward(hmlp, a.g, a.u, NI);  // not kept: the backward rebuilds it from g and u
  linear_forward(l, SF_DOWN, hmlp, xout, N, train);
  dev.residual_forward(xout, xout, a.xmid, NH);
}

/** dres holds ∂loss/∂(layer output) on entry and ∂loss/∂(layer input) on exit. */
template <typename Dev>
void Engine<Dev>::layer_backward(int l, int B, int Tn, bool train) {
  const int N = B * Tn;
  const size_t NI = size_t(N) * d.I;
  LayerActs& a = la[l];
  dev.swiglu_forward(hmlp, a.g, a.u, NI);
  linear_backward(l, SF_DOWN, hmlp, dres, dmlp, N, false, train);
  dev.swiglu_backward(a.g, a.u, dmlp, a.g, a.u, NI);  // g and u now hold ∂/∂gate and ∂/∂up
  linear_backward(l, SF_GATE, a.h2, a.g, dh, N, false, train);
  linear_backward(l, SF_UP, a.h2, a.u, dh, N, true, train);
  dev.rmsnorm_backward(dres, dh, a.xmid, a.rstd2, W(l, SF_W_LN2), N, d.H, true);
  linear_backward(l, SF_O, a.ao, dres, dao, N, false, train);
  dev.attention_backward(dq, dk, dv, dao, a.ao, a.lse, a.q, a.k, a.v, B, Tn, d.NH, d.KV, d.D);
  dev.rope_backward(dq, rope, B, Tn, d.NH, d.D);
  dev.rope_backward(dk, rope, B, Tn, d.KV, d.D);
  linear_backward(l, SF_Q, a.h1, dq, dh, N, false, train);
  linear_backward(l, SF_K, a.h1, dk, dh, N, true, train);
  linear_backward(l, SF_V, a.h1, dv, dh, N, true, train);
  dev.rmsnorm_backward(dres, dh, resid[l], a.rstd1, W(l, SF_W_LN1), N, d.H, true);
}

template <typename Dev>
void Engine<Dev>::forward(const int32_t* ids, int B, int Tn, bool train) {
  const int N = B * Tn;
  dev.upload(ids_dev, ids, sizeof(int32_t) * N);
  dev.encoder_forward(resid[0], ids_dev, embed, N, d.H);
  for (int l = 0; l < d.L; l++) layer_forward(l, B, Tn, train);
  dev.rmsnorm_forward(hf, rstdf, resid[d.L], fnorm, N, d.H, cfg.rms_norm_eps);
}

/** Fused lm_head + cross-entropy over the label positions only, ce_chunk tokens at a time; with grad, leaves
 *  ∂(scale·Σ loss)/∂(final residual) in dres. */
template <typename Dev>
double Engine<Dev>::loss_and_grad(const int32_t* labels, int B, int Tn, double scale, bool grad_on, int64_t* tokens) {
  const int N = B * Tn, chunk = params.ce_chunk;
  std::vector<int32_t> pos, lab;
  for (int b = 0; b < B; b++)
    for (int t = 0; t + 1 < Tn; t++) {
      int32_t y = labels[b * Tn + t + 1];
      if (y == -100) continue;
      pos.push_back(b * Tn + t);
      lab.push_back(y);
    }
  *tokens = int64_t(pos.size());
  if (!pos.empty()) {
    dev.upload(rows_dev, pos.data(), sizeof(int32_t) * pos.size());
    dev.upload(targets_dev, lab.data(), sizeof(int32_t) * lab.size());
  }
  if (grad_on) dev.zero(dh, sizeof(T) * size_t(N) * d.H);
  double loss = 0;
  for (size_t c0 = 0; c0 < pos.size(); c0 += size_t(chunk)) {
    int nc = int(std::min(pos.size() - c0, size_t(chunk)));
    dev.gather_rows(hsel, hf, rows_dev + c0, nc, d.H);
    loss +=
        dev.classifier_forward_backward(dhsel, hsel, targets_dev + c0, head, nc, d.V, d.H, scale, logit_buf, grad_on);
    if (grad_on) dev.scatter_rows(dh, dhsel, rows_dev + c0, nc, d.H);
  }
  if (grad_on) dev.rmsnorm_backward(dres, dh, resid[d.L], rstdf, fnorm, N, d.H, false);
  return loss;
}

// ---- the training step ----------------------------------------------------------------------------------------------
template <typename Dev>
double Engine<Dev>::forward_backward(const int32_t* ids, const int32_t* labels, int B, int Tn, double scale,
                                     int64_t* tokens) {
  check_batch(ids, labels, B, Tn);
  forward(ids, B, Tn, true);
  double loss = loss_and_grad(labels, B, Tn, scale, true, tokens);
  if (*tokens > 0) {
    for (int l = d.L - 1; l >= 0; l--) {
      if (params.recompute) layer_forward(l, B, Tn, true);  // same dropout masks: counter unchanged
      layer_backward(l, B, Tn, true);
    }
  }
  rng_counter++;
  return loss;
}

template <typename Dev>
double Engine<Dev>::evaluate(const int32_t* ids, const int32_t* labels, int B, int Tn, int64_t* tokens) {
  check_batch(ids, labels, B, Tn);
  forward(ids, B, Tn, false);
  return loss_and_grad(labels, B, Tn, 0.0, false, tokens);
}

template <typename Dev>
void Engine<Dev>::logits(const int32_t* ids, int B, int Tn, float* out) {
  check_batch(ids, nullptr, B, Tn);
  forward(ids, B, Tn, false);
  const int N = B * Tn, chunk = params.ce_chunk;
  std::vector<S> host(size_t(chunk) * d.V);
  for (int r0 = 0; r0 < N; r0 += chunk) {
    int nc = std::min(chunk, N - r0);
    dev.logits_forward(logit_buf, hf + size_t(r0) * d.H, head, nc, d.V, d.H);
    size_t n = size_t(nc) * d.V;
    if constexpr (std::is_same_v<S, float>)
      dev.download(out + size_t(r0) * d.V, logit_buf, n * sizeof(float));
    else {
      dev.download(host.data(), logit_buf, n * sizeof(S));
      for (size_t i = 0; i < n; i++) out[size_t(r0) * d.V + i] = float(host[i]);
    }
  }
}

template <typename Dev>
void Engine<Dev>::zero_grad() {
  dev.zero(grad, sizeof(P) * lora_size);
}

template <typename Dev>
double Engine<Dev>::optimizer_step(float lr) {
  double norm = std::sqrt(dev.global_norm_squared(grad, lora_size));
  if (!std::isfinite(norm)) {
    zero_grad();
    throw Error(SF_ERR_NONFINITE_GRADIENTS, "optimizerStep: gradients are not finite (NaN/inf); no update applied");
  }
  double clip = 1.0;
  if (params.max_grad_norm > 0) clip = std::min(1.0, double(params.max_grad_norm) / (norm + 1e-6));
  step++;
  dev.adamw_update(param, grad, adam_m, adam_v, lora_size, lr, params.beta1, params.beta2, params.eps,
                   params.weight_decay, step, clip);
  if constexpr (!std::is_same_v<T, P>) dev.convert(lora_t, param, lora_size);
  zero_grad();
  return norm;
}

// ---- state in and out -----------------------------------------------------------------------------------------------
template <typename Dev>
typename Dev::param_t* Engine<Dev>::buffer(int which) const {
  switch (which) {
    case SF_LORA_PARAMS:
      return param;
    case SF_LORA_GRADS:
      return grad;
    case SF_ADAM_M:
      return adam_m;
    case SF_ADAM_V:
      return adam_v;
  }
  throw Error(SF_ERR_INVALID_ARGUMENT,
              "LoRA buffer " + std::to_string(which) + " is not one of params, grads, adam_m, adam_v");
}

template <typename Dev>
void Engine<Dev>::read_lora(int which, size_t off, size_t n, float* out) {
  P* src = buffer(which);
  if (off > lora_size || n > lora_size - off)
    throw Error(SF_ERR_INVALID_ARGUMENT, "LoRA range [" + std::to_string(off) + ", " + std::to_string(off + n) +
                                             ") is outside 0.." + std::to_string(lora_size));
  if constexpr (std::is_same_v<P, float>)
    dev.download(out, src + off, n * sizeof(float));
  else {
    std::vector<P> host(n);
    dev.download(host.data(), src + off, n * sizeof(P));
    for (size_t i = 0; i < n; i++) out[i] = float(host[i]);
  }
}

template <typename Dev>
void Engine<Dev>::write_lora(int which, size_t off, size_t n, const float* in) {
  P* dst = buffer(which);
  if (off > lora_size || n > lora_size - off)
    throw Error(SF_ERR_INVALID_ARGUMENT, "LoRA range [" + std::to_string(off) + ", " + std::to_string(off + n) +
                                             ") is outside 0.." + std::to_string(lora_size));
  if constexpr (std::is_same_v<P, float>)
    dev.upload(dst + off, in, n * sizeof(float));
  else {
    std::vector<P> host(in, in + n);
    dev.upload(dst + off, host.data(), n * sizeof(P));
  }
  if constexpr (!std::is_same_v<T, P>)
    if (which == SF_LORA_PARAMS) dev.convert(lora_t + off, param + off, n);
}

template <typename Dev>
float* Engine<Dev>::lora_buffer(int which) {
  if constexpr (std::is_same_v<P, float>)
    return buffer(which);
  else
    return nullptr;
}

template <typename Dev>
sf_memory Engine<Dev>::memory() const {
  size_t n = lora_size * sizeof(P);
  return sf_memory{weights_bytes, lora_bytes - 2 * n, 2 * n, acts_bytes};
}

template class Engine<cpu::Ops<float>>;
template class Engine<cpu::Ops<double>>;
#ifdef SQLFOCUS_WITH_CUDA
template class Engine<cuda::Ops<float>>;
template class Engine<cuda::Ops<bf16>>;
#endif

// ---- the one device switch ------------------------------------------------------------------------------------------
std::unique_ptr<Trainer> make_trainer(const sf_model_config& c, const sf_model_weights& w, const sf_trainer_params& p) {
  validate_config(c, p);
  const int act = p.activation_dtype;
  if (p.device == SF_DEVICE_CPU) {
    if (act != 0 && act != SF_F32)
      throw Error(SF_ERR_UNSUPPORTED, "activation_dtype: the CPU engine computes in F32 (SF_F32)");
    return std::make_unique<Engine<cpu::Ops<float>>>(c, w, p);
  }
  if (p.device == SF_DEVICE_CUDA) {
#ifdef SQLFOCUS_WITH_CUDA
    if (act == SF_F32) return std::make_unique<Engine<cuda::Ops<float>>>(c, w, p);
    if (act == 0 || act == SF_BF16) return std::make_unique<Engine<cuda::Ops<bf16>>>(c, w, p);
    throw Error(SF_ERR_UNSUPPORTED, "activation_dtype: the CUDA engine computes in SF_BF16 or SF_F32");
#else
    throw Error(SF_ERR_UNSUPPORTED,
                "device 'cuda': this build has no CUDA engine (no CUDA toolkit with cuBLAS, or SQLFOCUS_CUDA=off)");
#endif
  }
  throw Error(SF_ERR_INVALID_ARGUMENT,
              "device " + std::to_string(p.device) + " is not SF_DEVICE_CPU (0) or SF_DEVICE_CUDA (1)");
}

}  // namespace sf
