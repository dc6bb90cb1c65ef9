// The training step of the Qwen2 + LoRA engine, top to bottom: buffers from a size table, forward
// (encoder → layers → final rmsnorm), fused lm_head + cross-entropy in token chunks, backward through the
// layers into the LoRA grads, and AdamW with global-norm clipping. Kernels live in native/cpu/kernels.h.
#include "core/engine.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

#include "cpu/kernels.h"

namespace sf {

static const char* kModuleNames[SF_NUM_MODULES] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
static const char* kLayerTensorNames[SF_LAYER_TENSORS] = {
    "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
    "mlp.gate_proj.weight",    "mlp.up_proj.weight",      "mlp.down_proj.weight",    "self_attn.q_proj.bias",
    "self_attn.k_proj.bias",   "self_attn.v_proj.bias",   "input_layernorm.weight",  "post_attention_layernorm.weight"};

static size_t dtype_size(int dt) { return dt == SF_F32 ? 4 : dt == SF_F64 ? 8 : 2; }

template <typename T>
Engine<T>::Engine(const sf_model_config& c, const sf_model_weights& w, const sf_trainer_params& p) : params(p), cfg(c) {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw EngineError(msg);
  };
  need(!*cpu_env_error(), cpu_env_error());  // SQLFOCUS_CPU names no SIMD level
  need(c.vocab_size > 0, "config.vocabSize must be > 0");
  need(c.hidden_size > 0, "config.hiddenSize must be > 0");
  need(c.intermediate_size > 0, "config.intermediateSize must be > 0");
  need(c.num_layers > 0, "config.numLayers must be > 0");
  need(c.num_heads > 0 && c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0,
       "config.numHeads must be a positive multiple of config.numKvHeads");
  H = c.hidden_size, I = c.intermediate_size, NH = c.num_heads, KV = c.num_kv_heads, V = c.vocab_size, L = c.num_layers;
  D = c.head_dim > 0 ? c.head_dim : H / NH;
  need(D > 0 && D % 2 == 0 && (c.head_dim > 0 || H % NH == 0), "config.headDim must be even (hiddenSize / numHeads)");
  qD = NH * D, kvD = KV * D;
  need(p.lora_rank > 0, "lora.rank must be > 0");
  need(p.lora_dropout >= 0 && p.lora_dropout < 1, "lora.dropout must be in [0, 1)");
  need(p.max_batch > 0 && p.max_seq > 0, "maxBatch and maxSeqLen must be > 0");
  need(p.threads >= 0, "threads must be >= 0");
  if (params.threads == 0) params.threads = 2;
  if (params.ce_chunk <= 0) params.ce_chunk = 128;
  R = p.lora_rank;
  maxN = p.max_batch * p.max_seq;
  lora_scale = p.use_rslora ? T(p.lora_alpha / std::sqrt(double(R))) : T(p.lora_alpha / double(R));
  rng_seed = p.seed;

  // Base weights: pointers only.
  auto need_w = [&](const sf_tensor& t, const std::string& name, size_t n) {
    need(t.data != nullptr, "weights: " + name + " is missing");
    need(t.dtype == SF_F32 || t.dtype == SF_F16 || t.dtype == SF_BF16 || (int(t.dtype) == SF_F64 && std::is_same_v<T, double>),
         "weights: " + name + " has an unsupported dtype");
    weight_bytes += n * dtype_size(t.dtype);
  };
  embed = w.embed_tokens, fnorm = w.norm;
  need_w(embed, "model.embed_tokens.weight", size_t(V) * H);
  need_w(fnorm, "model.norm.weight", H);
  if (c.tie_word_embeddings) head = embed;
  else {
    head = w.lm_head;
    need_w(head, "lm_head.weight", size_t(V) * H);
  }
  need(w.layers != nullptr, "weights: no layer tensors");
  lw.assign(w.layers, w.layers + size_t(L) * SF_LAYER_TENSORS);
  const size_t sizes[SF_LAYER_TENSORS] = {size_t(qD) * H, size_t(kvD) * H, size_t(kvD) * H, size_t(H) * qD, size_t(I) * H,
                                          size_t(I) * H,  size_t(H) * I,   size_t(qD),      size_t(kvD),     size_t(kvD),
                                          size_t(H),      size_t(H)};
  for (int l = 0; l < L; l++)
    for (int k = 0; k < SF_LAYER_TENSORS; k++) {
      std::string name = "model.layers." + std::to_string(l) + "." + kLayerTensorNames[k];
      if (k >= SF_B_Q && k <= SF_B_V && !W(l, k).data) continue;  // biases are optional
      need_w(W(l, k), name, sizes[k]);
    }

  // LoRA parameters: one buffer, A [r, in] then B [out, r] per layer and target module.
  uint32_t mask = p.target_mask ? p.target_mask : (1u << SF_NUM_MODULES) - 1;
  const int ins[SF_NUM_MODULES] = {H, H, H, qD, H, H, I};
  const int outs[SF_NUM_MODULES] = {qD, kvD, kvD, H, I, I, H};
  lora_a.assign(size_t(L) * SF_NUM_MODULES, -1);
  size_t off = 0;
  for (int l = 0; l < L; l++)
    for (int m = 0; m < SF_NUM_MODULES; m++) {
      if (!(mask & (1u << m))) continue;
      lora_a[size_t(l) * SF_NUM_MODULES + m] = int(slots.size());
      slots.push_back({l, m, 0, R, ins[m], off});
      off += size_t(R) * ins[m];
      slots.push_back({l, m, 1, outs[m], R, off});
      off += size_t(outs[m]) * R;
    }
  param.assign(off, T(0));
  grad.assign(off, T(0));
  adam_m.assign(off, T(0));
  adam_v.assign(off, T(0));
  // A: Kaiming-uniform with a = √5 (PEFT's init): U(−1/√in, 1/√in), seeded; B: zero.
  for (size_t s = 0; s < slots.size(); s++) {
    const LoraSlot& sl = slots[s];
    if (sl.is_b) continue;
    double bound = 1.0 / std::sqrt(double(sl.cols));
    for (size_t i = 0; i < size_t(sl.rows) * sl.cols; i++) {
      uint64_t h = mix64(p.seed ^ mix64(0xa11a0000ull + s) ^ mix64(i));
      double u = double(h >> 11) * (1.0 / 9007199254740992.0);
      param[sl.offset + i] = T((2 * u - 1) * bound);
    }
  }

  // Activations: one buffer from a size table.
  size_t N = size_t(maxN), B = size_t(p.max_batch), Tm = size_t(p.max_seq);
  int nslots = p.recompute ? 1 : L;
  size_t per_slot = N + N * H + N * qD + 2 * N * kvD + B * NH * Tm + N * qD + N * H + N + N * H + 3 * N * I +
                    SF_NUM_MODULES * N * R;
  size_t total = size_t(L + 1) * N * H + size_t(nslots) * per_slot + N + N * H;
  acts.assign(total, T(0));
  T* cur = acts.data();
  auto take = [&](size_t n) { T* r = cur; cur += n; return r; };
  la.resize(L);
  std::vector<T*> xins(L + 1);
  for (int l = 0; l <= L; l++) xins[l] = take(N * H);
  for (int s = 0; s < nslots; s++) {
    LayerActs a;
    a.xin = nullptr;
    a.rstd1 = take(N), a.h1 = take(N * H), a.q = take(N * qD), a.k = take(N * kvD), a.v = take(N * kvD);
    a.lse = take(B * NH * Tm), a.ao = take(N * qD), a.xmid = take(N * H), a.rstd2 = take(N), a.h2 = take(N * H);
    a.g = take(N * I), a.u = take(N * I), a.a = take(N * I);
    for (int m = 0; m < SF_NUM_MODULES; m++) a.xa[m] = take(N * R);
    for (int l = s; l < L; l += nslots) la[l] = a;
  }
  for (int l = 0; l < L; l++) la[l].xin = xins[l];
  xfin = xins[L];
  rstdf = take(N), hf = take(N * H);

  size_t wide = size_t(std::max({H, I, qD, R}));
  size_t chunk = size_t(params.ce_chunk);
  size_t ssz = 2 * N * H + 2 * N * qD + 2 * N * kvD + 3 * N * I + 2 * N * wide + N * R + chunk * V + 2 * chunk * H;
  scratch.assign(ssz, T(0));
  cur = scratch.data();
  dres = take(N * H), dh = take(N * H), dq = take(N * qD), dao = take(N * qD), dk = take(N * kvD), dv = take(N * kvD);
  dg = take(N * I), du = take(N * I), da = take(N * I), xd = take(N * wide), tmp = take(N * wide), dxa = take(N * R);
  logit_buf = take(chunk * V), hsel = take(chunk * H), dhsel = take(chunk * H);
}

template <typename T> void Engine<T>::check_batch(const int32_t* ids, const int32_t* labels, int B, int Tn) const {
  if (B <= 0 || B > params.max_batch) throw EngineError("batch " + std::to_string(B) + " is outside 1.." + std::to_string(params.max_batch) + " (maxBatch)");
  if (Tn <= 0 || Tn > params.max_seq) throw EngineError("seqLen " + std::to_string(Tn) + " is outside 1.." + std::to_string(params.max_seq) + " (maxSeqLen)");
  for (int i = 0; i < B * Tn; i++) {
    if (ids[i] < 0 || ids[i] >= V)
      throw EngineError("inputIds[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is outside the vocabulary (0.." + std::to_string(V - 1) + ")");
    if (labels && labels[i] != -100 && (labels[i] < 0 || labels[i] >= V))
      throw EngineError("labels[" + std::to_string(i) + "] = " + std::to_string(labels[i]) + " is neither -100 nor a token id (0.." + std::to_string(V - 1) + ")");
  }
}

// ---- linear with LoRA: y = x·Wᵀ + b + s·dropout(x)·Aᵀ·Bᵀ ---------------------------------------------------------
template <typename T> void Engine<T>::linear_forward(int l, int m, const T* x, T* y, int N, int in, int out, bool train) {
  int th = params.threads;
  const sf_tensor& w = W(l, m);
  const sf_tensor* b = m <= SF_V ? &W(l, SF_B_Q + m) : nullptr;
  matmul_forward(y, x, w.data, w.dtype, b && b->data ? b->data : nullptr, b ? b->dtype : 0, N, out, in, false, th);
  int ai = lora_a[size_t(l) * SF_NUM_MODULES + m];
  if (ai < 0) return;
  const T* A = param.data() + slots[ai].offset;
  const T* Bm = param.data() + slots[ai + 1].offset;
  const T* xin = x;
  if (train && params.lora_dropout > 0) {
    dropout_forward(xd, x, size_t(N) * in, params.lora_dropout, rng_seed, rng_counter, uint64_t(l) * SF_NUM_MODULES + m, th);
    xin = xd;
  }
  T* xa = la[l].xa[m];
  matmul_forward(xa, xin, A, dtype_of<T>(), nullptr, 0, N, R, in, false, th);
  // y += s · xa · Bᵀ: scale xa into tmp (keeping xa for the backward pass)
  for (size_t i = 0; i < size_t(N) * R; i++) tmp[i] = xa[i] * lora_scale;
  matmul_forward(y, tmp, Bm, dtype_of<T>(), nullptr, 0, N, out, R, true, th);
}

template <typename T> void Engine<T>::linear_backward(int l, int m, const T* x, const T* dy, T* dx, int N, int in, int out, bool accumulate, bool train) {
  int th = params.threads;
  const sf_tensor& w = W(l, m);
  matmul_backward_input(dx, dy, w.data, w.dtype, N, out, in, accumulate, th);
  int ai = lora_a[size_t(l) * SF_NUM_MODULES + m];
  if (ai < 0) return;
  const T* A = param.data() + slots[ai].offset;
  const T* Bm = param.data() + slots[ai + 1].offset;
  T* dA = grad.data() + slots[ai].offset;
  T* dB = grad.data() + slots[ai + 1].offset;
  bool drop = train && params.lora_dropout > 0;
  uint64_t stream = uint64_t(l) * SF_NUM_MODULES + m;
  const T* xin = x;
  if (drop) {
    dropout_forward(xd, x, size_t(N) * in, params.lora_dropout, rng_seed, rng_counter, stream, th);
    xin = xd;
  }
  // dB += s · dyᵀ · xa ; dxa = s · dy · B ; dA += dxaᵀ · dropout(x) ; dx += dropout'(dxa · A)
  matmul_backward_weight(dB, dy, la[l].xa[m], N, out, R, lora_scale, th);
  matmul_backward_input(dxa, dy, Bm, dtype_of<T>(), N, out, R, false, th);
  for (size_t i = 0; i < size_t(N) * R; i++) dxa[i] *= lora_scale;
  matmul_backward_weight(dA, dxa, xin, N, R, in, T(1), th);
  if (drop) {
    matmul_backward_input(tmp, dxa, A, dtype_of<T>(), N, R, in, false, th);
    dropout_backward(dx, tmp, size_t(N) * in, params.lora_dropout, rng_seed, rng_counter, stream, th);
  } else {
    matmul_backward_input(dx, dxa, A, dtype_of<T>(), N, R, in, true, th);
  }
}

// ---- one decoder layer --------------------------------------------------------------------------------------------
template <typename T> void Engine<T>::layer_forward(int l, int B, int Tn, bool train) {
  int th = params.threads, N = B * Tn;
  LayerActs& a = la[l];
  T* xout = l + 1 < L ? la[l + 1].xin : xfin;
  rmsnorm_forward(a.h1, a.rstd1, a.xin, W(l, SF_W_LN1).data, W(l, SF_W_LN1).dtype, N, H, cfg.rms_norm_eps, th);
  linear_forward(l, SF_Q, a.h1, a.q, N, H, qD, train);
  linear_forward(l, SF_K, a.h1, a.k, N, H, kvD, train);
  linear_forward(l, SF_V, a.h1, a.v, N, H, kvD, train);
  rope_forward(a.q, rope_cs.data(), B, Tn, NH, D, th);
  rope_forward(a.k, rope_cs.data(), B, Tn, KV, D, th);
  attention_forward(a.ao, a.lse, a.q, a.k, a.v, B, Tn, NH, KV, D, th);
  linear_forward(l, SF_O, a.ao, a.xmid, N, qD, H, train);
  residual_forward(a.xmid, a.xmid, a.xin, size_t(N) * H, th);
  rmsnorm_forward(a.h2, a.rstd2, a.xmid, W(l, SF_W_LN2).data, W(l, SF_W_LN2).dtype, N, H, cfg.rms_norm_eps, th);
  linear_forward(l, SF_GATE, a.h2, a.g, N, H, I, train);
  linear_forward(l, SF_UP, a.h2, a.u, N, H, I, train);
  swiglu_forward(a.a, a.g, a.u, size_t(N) * I, th);
  linear_forward(l, SF_DOWN, a.a, xout, N, I, H, train);
  residual_forward(xout, xout, a.xmid, size_t(N) * H, th);
}

/** dres holds ∂loss/∂(layer output) on entry and ∂loss/∂(layer input) on exit. */
template <typename T> void Engine<T>::layer_backward(int l, int B, int Tn, bool train) {
  int th = params.threads, N = B * Tn;
  LayerActs& a = la[l];
  linear_backward(l, SF_DOWN, a.a, dres, da, N, I, H, false, train);
  swiglu_backward(dg, du, da, a.g, a.u, size_t(N) * I, th);
  linear_backward(l, SF_GATE, a.h2, dg, dh, N, H, I, false, train);
  linear_backward(l, SF_UP, a.h2, du, dh, N, H, I, true, train);
  rmsnorm_backward(dres, dh, a.xmid, a.rstd2, W(l, SF_W_LN2).data, W(l, SF_W_LN2).dtype, N, H, true, th);
  linear_backward(l, SF_O, a.ao, dres, dao, N, qD, H, false, train);
  attention_backward(dq, dk, dv, dao, a.lse, a.q, a.k, a.v, B, Tn, NH, KV, D, th);
  rope_backward(dq, rope_cs.data(), B, Tn, NH, D, th);
  rope_backward(dk, rope_cs.data(), B, Tn, KV, D, th);
  linear_backward(l, SF_Q, a.h1, dq, dh, N, H, qD, false, train);
  linear_backward(l, SF_K, a.h1, dk, dh, N, H, kvD, true, train);
  linear_backward(l, SF_V, a.h1, dv, dh, N, H, kvD, true, train);
  rmsnorm_backward(dres, dh, a.xin, a.rstd1, W(l, SF_W_LN1).data, W(l, SF_W_LN1).dtype, N, H, true, th);
}

template <typename T> void Engine<T>::forward(const int32_t* ids, int B, int Tn, bool train) {
  if (rope_len < Tn) {
    rope_tables(rope_cs, Tn, D, double(cfg.rope_theta));
    rope_len = Tn;
  }
  int N = B * Tn;
  encoder_forward(la[0].xin, ids, N, embed.data, embed.dtype, H);
  for (int l = 0; l < L; l++) layer_forward(l, B, Tn, train);
  rmsnorm_forward(hf, rstdf, xfin, fnorm.data, fnorm.dtype, N, H, cfg.rms_norm_eps, params.threads);
}

/** Fused lm_head + cross-entropy over the label positions only, ce_chunk tokens at a time; with grad, leaves
 *  ∂(scale·Σ loss)/∂(final residual) in dres. */
template <typename T> double Engine<T>::loss_and_grad(const int32_t* labels, int B, int Tn, T scale, bool grad_on, int64_t* tokens) {
  int N = B * Tn, th = params.threads, chunk = params.ce_chunk;
  std::vector<int32_t> pos, lab;
  for (int b = 0; b < B; b++)
    for (int t = 0; t + 1 < Tn; t++) {
      int32_t y = labels[b * Tn + t + 1];
      if (y == -100) continue;
      pos.push_back(b * Tn + t);
      lab.push_back(y);
    }
  *tokens = int64_t(pos.size());
  if (grad_on) std::fill(dh, dh + size_t(N) * H, T(0));
  double loss = 0;
  for (size_t c0 = 0; c0 < pos.size(); c0 += chunk) {
    int nc = int(std::min(pos.size() - c0, size_t(chunk)));
    for (int i = 0; i < nc; i++) std::memcpy(hsel + size_t(i) * H, hf + size_t(pos[c0 + i]) * H, sizeof(T) * H);
    loss += classifier_forward_backward(dhsel, hsel, lab.data() + c0, head.data, head.dtype, nc, V, H, scale, logit_buf, grad_on, th);
    if (grad_on)
      for (int i = 0; i < nc; i++) std::memcpy(dh + size_t(pos[c0 + i]) * H, dhsel + size_t(i) * H, sizeof(T) * H);
  }
  if (grad_on) rmsnorm_backward(dres, dh, xfin, rstdf, fnorm.data, fnorm.dtype, N, H, false, th);
  return loss;
}

// ---- the training step ---------------------------------------------------------------------------------------------
template <typename T> double Engine<T>::forward_backward(const int32_t* ids, const int32_t* labels, int B, int Tn, T scale, int64_t* tokens) {
  check_batch(ids, labels, B, Tn);
  forward(ids, B, Tn, true);
  double loss = loss_and_grad(labels, B, Tn, scale, true, tokens);
  if (*tokens > 0) {
    for (int l = L - 1; l >= 0; l--) {
      if (params.recompute) layer_forward(l, B, Tn, true);  // same dropout masks: counter unchanged
      layer_backward(l, B, Tn, true);
    }
  }
  rng_counter++;
  return loss;
}

template <typename T> double Engine<T>::evaluate(const int32_t* ids, const int32_t* labels, int B, int Tn, int64_t* tokens) {
  check_batch(ids, labels, B, Tn);
  forward(ids, B, Tn, false);
  return loss_and_grad(labels, B, Tn, T(0), false, tokens);
}

template <typename T> void Engine<T>::logits(const int32_t* ids, int B, int Tn, T* out) {
  check_batch(ids, nullptr, B, Tn);
  forward(ids, B, Tn, false);
  matmul_forward(out, hf, head.data, head.dtype, nullptr, 0, B * Tn, V, H, false, params.threads);
}

template <typename T> void Engine<T>::zero_grad() { std::fill(grad.begin(), grad.end(), T(0)); }

template <typename T> double Engine<T>::optimizer_step(float lr) {
  double norm = std::sqrt(global_norm_squared(grad.data(), grad.size()));
  if (!std::isfinite(norm)) {
    zero_grad();
    throw EngineError("optimizerStep: gradients are not finite (NaN/inf); no update applied");
  }
  T clip = T(1);
  if (params.max_grad_norm > 0) clip = T(std::min(1.0, double(params.max_grad_norm) / (norm + 1e-6)));
  step++;
  adamw_update(param.data(), grad.data(), adam_m.data(), adam_v.data(), param.size(), lr, params.beta1, params.beta2,
               params.eps, params.weight_decay, step, clip, params.threads);
  zero_grad();
  return norm;
}

template class Engine<float>;
template class Engine<double>;

}  // namespace sf

// ---- C API -----------------------------------------------------------------------------------------------------
// device = SF_DEVICE_CUDA: the calls go to the CUDA engine (native/cuda/train_cuda.h) instead of Engine<float>.
#ifdef SQLFOCUS_WITH_CUDA
#include "cuda/train_cuda.h"
#define SF_IF_CUDA(t, ...) \
  if ((t)->c) {            \
    __VA_ARGS__;           \
  }
#else
#define SF_IF_CUDA(t, ...)
#endif

struct sf_trainer {
  std::unique_ptr<sf::Engine<float>> e;
#ifdef SQLFOCUS_WITH_CUDA
  std::unique_ptr<sqlfocus::cuda::CudaTrainer> c;
  std::vector<sqlfocus::cuda::CudaLoraSlot> cslots;
#endif
  std::string err;
};

static double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

extern "C" {

sf_trainer_params sf_trainer_default_params(void) {
  sf_trainer_params p;
  std::memset(&p, 0, sizeof p);
  p.lora_rank = 16, p.lora_alpha = 32, p.lora_dropout = 0.05f, p.use_rslora = 0;
  p.target_mask = (1u << SF_NUM_MODULES) - 1;
  p.max_batch = 4, p.max_seq = 1024, p.threads = 2, p.seed = 42, p.recompute = 0;
  p.beta1 = 0.9f, p.beta2 = 0.999f, p.eps = 1e-8f, p.weight_decay = 0.0f, p.max_grad_norm = 1.0f;
  p.ce_chunk = 128;
  return p;
}

sf_trainer* sf_trainer_create(const sf_model_config* cfg, const sf_model_weights* w, const sf_trainer_params* p, char* err, size_t err_len) {
  try {
    auto t = std::make_unique<sf_trainer>();
    if (p->device == SF_DEVICE_CUDA) {
#ifdef SQLFOCUS_WITH_CUDA
      t->c = sqlfocus::cuda::create_cuda_trainer(*cfg, *w, *p, sqlfocus::cuda::CudaPrecision::BF16);
      t->cslots = t->c->lora_slots();
#else
      throw sf::EngineError("device 'cuda': this build has no CUDA engine (no CUDA toolkit with cuBLAS, or SQLFOCUS_CUDA=off)");
#endif
    } else {
      t->e = std::make_unique<sf::Engine<float>>(*cfg, *w, *p);
    }
    return t.release();
  } catch (const std::exception& ex) {
    if (err && err_len) {
      std::strncpy(err, ex.what(), err_len - 1);
      err[err_len - 1] = 0;
    }
    return nullptr;
  }
}

void sf_trainer_free(sf_trainer* t) { delete t; }
const char* sf_trainer_last_error(const sf_trainer* t) { return t->err.c_str(); }

#define SF_GUARD(body)                   \
  try {                                  \
    body;                                \
    return 0;                            \
  } catch (const std::exception& ex) {   \
    t->err = ex.what();                  \
    return -1;                           \
  }

int sf_trainer_forward_backward(sf_trainer* t, const int32_t* ids, const int32_t* labels, int batch, int seq, float loss_scale, sf_loss_result* out) {
  SF_GUARD({
    double t0 = now_ms();
    SF_IF_CUDA(t, auto r = t->c->forward_backward(ids, labels, batch, seq, loss_scale); out->loss_sum = r.loss_sum;
               out->tokens = r.tokens; out->ms = now_ms() - t0; return 0)
    out->loss_sum = t->e->forward_backward(ids, labels, batch, seq, loss_scale, &out->tokens);
    out->ms = now_ms() - t0;
  })
}
int sf_trainer_evaluate(sf_trainer* t, const int32_t* ids, const int32_t* labels, int batch, int seq, sf_loss_result* out) {
  SF_GUARD({
    double t0 = now_ms();
    SF_IF_CUDA(t, auto r = t->c->evaluate(ids, labels, batch, seq); out->loss_sum = r.loss_sum; out->tokens = r.tokens;
               out->ms = now_ms() - t0; return 0)
    out->loss_sum = t->e->evaluate(ids, labels, batch, seq, &out->tokens);
    out->ms = now_ms() - t0;
  })
}
int sf_trainer_logits(sf_trainer* t, const int32_t* ids, int batch, int seq, float* out) {
  SF_GUARD({
    SF_IF_CUDA(t, auto v = t->c->logits(ids, batch, seq); std::memcpy(out, v.data(), v.size() * sizeof(float)); return 0)
    t->e->logits(ids, batch, seq, out);
  })
}
int sf_trainer_optimizer_step(sf_trainer* t, float lr, double* grad_norm, double* ms) {
  SF_GUARD({
    double t0 = now_ms();
    SF_IF_CUDA(t, auto r = t->c->optimizer_step(lr); *grad_norm = r.grad_norm; if (ms) *ms = now_ms() - t0;
               if (!r.applied) throw sf::EngineError("optimizerStep: gradients are not finite (NaN/inf); no update applied");
               return 0)
    *grad_norm = t->e->optimizer_step(lr);
    if (ms) *ms = now_ms() - t0;
  })
}
void sf_trainer_zero_grad(sf_trainer* t) {
  SF_IF_CUDA(t, t->c->zero_grad(); return)
  t->e->zero_grad();
}
int sf_trainer_lora_count(const sf_trainer* t) {
  SF_IF_CUDA(t, return int(t->cslots.size()))
  return int(t->e->slots.size());
}
sf_lora_info sf_trainer_lora_info(const sf_trainer* t, int i) {
  SF_IF_CUDA(t, const auto& s = t->cslots[size_t(i)]; return sf_lora_info{s.layer, sf_module(s.module), s.is_b, s.rows, s.cols})
  const auto& s = t->e->slots[size_t(i)];
  return sf_lora_info{s.layer, sf_module(s.module), s.is_b, s.rows, s.cols};
}
// CUDA: host mirrors of the device buffers (downloaded after each computation, uploaded before the next)
#ifdef SQLFOCUS_WITH_CUDA
static float* cuda_buffer(sf_trainer* t, int which, int i) { return t->c->host_buffer(which) + t->cslots[size_t(i)].offset; }
#endif
float* sf_trainer_lora_data(sf_trainer* t, int i) {
  SF_IF_CUDA(t, return cuda_buffer(t, 0, i))
  return t->e->param.data() + t->e->slots[size_t(i)].offset;
}
float* sf_trainer_lora_grad(sf_trainer* t, int i) {
  SF_IF_CUDA(t, return cuda_buffer(t, 1, i))
  return t->e->grad.data() + t->e->slots[size_t(i)].offset;
}
float* sf_trainer_adam_m(sf_trainer* t, int i) {
  SF_IF_CUDA(t, return cuda_buffer(t, 2, i))
  return t->e->adam_m.data() + t->e->slots[size_t(i)].offset;
}
float* sf_trainer_adam_v(sf_trainer* t, int i) {
  SF_IF_CUDA(t, return cuda_buffer(t, 3, i))
  return t->e->adam_v.data() + t->e->slots[size_t(i)].offset;
}
int64_t sf_trainer_get_step(const sf_trainer* t) {
  SF_IF_CUDA(t, return t->c->step())
  return t->e->step;
}
void sf_trainer_set_step(sf_trainer* t, int64_t step) {
  SF_IF_CUDA(t, t->c->set_step(step); return)
  t->e->step = step;
}
void sf_trainer_get_rng(const sf_trainer* t, uint64_t* seed, uint64_t* counter) {
  SF_IF_CUDA(t, t->c->rng_state(seed, counter); return)
  *seed = t->e->rng_seed;
  *counter = t->e->rng_counter;
}
void sf_trainer_set_rng(sf_trainer* t, uint64_t seed, uint64_t counter) {
  SF_IF_CUDA(t, t->c->set_rng_state(seed, counter); return)
  t->e->rng_seed = seed;
  t->e->rng_counter = counter;
}
sf_memory sf_trainer_memory(const sf_trainer* t) {
  SF_IF_CUDA(t, const auto m = t->c->memory(); return sf_memory{m.weights_bytes, m.lora_bytes, m.optimizer_bytes, m.activations_bytes})
  size_t n = t->e->param.size() * sizeof(float);
  return sf_memory{t->e->weight_bytes, 2 * n, 2 * n, t->e->activation_bytes()};
}
const char* sf_module_name(sf_module m) { return m >= 0 && m < SF_NUM_MODULES ? sf::kModuleNames[m] : "?"; }

}  // extern "C"
