// class Trainer: the JS face of the training engine (native/include/sqlfocus.h). The constructor validates the
// options and weights (errors name the field or tensor) and keeps every weight view referenced while the trainer
// lives (the engine reads them in place). Long work (forwardBackward, optimizerStep, evaluate, logits) runs in
// Napi::AsyncWorkers and resolves promises; one call at a time per trainer.
#include <sqlfocus.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"

namespace sqlfocus_addon {

namespace {

std::string LoraName(const sf_lora_info& li) {
  bool attn = li.module <= SF_O;
  return "base_model.model.model.layers." + std::to_string(li.layer) + (attn ? ".self_attn." : ".mlp.") +
         sf_module_name(li.module) + (li.is_b ? ".lora_B.weight" : ".lora_A.weight");
}

double NumberField(Napi::Object o, const char* key, const std::string& where, bool required, double def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) throw Napi::TypeError::New(o.Env(), where + "." + key + " is required");
    return def;
  }
  if (!v.IsNumber() && !v.IsBoolean()) throw Napi::TypeError::New(o.Env(), where + "." + key + " must be a number");
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw Napi::TypeError::New(o.Env(), where + "." + key + " must be finite");
  return d;
}

}  // namespace

const napi_type_tag kTrainerTag = {0x5f1c0c75a11a4e21ull, 0x9d3b2f6e0c4a7b15ull};

class Trainer : public Napi::ObjectWrap<Trainer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Trainer",
                       {InstanceMethod("forwardBackward", &Trainer::ForwardBackward),
                        InstanceMethod("optimizerStep", &Trainer::OptimizerStep),
                        InstanceMethod("evaluate", &Trainer::Evaluate),
                        InstanceMethod("logits", &Trainer::Logits),
                        InstanceMethod("loraTensors", &Trainer::LoraTensors),
                        InstanceMethod("setLoraTensors", &Trainer::SetLoraTensors),
                        InstanceMethod("optimizerState", &Trainer::OptimizerState),
                        InstanceMethod("setOptimizerState", &Trainer::SetOptimizerState),
                        InstanceMethod("rngState", &Trainer::RngState),
                        InstanceMethod("setRngState", &Trainer::SetRngState),
                        InstanceMethod("memory", &Trainer::Memory),
                        InstanceMethod("dispose", &Trainer::Dispose)});
  }

  explicit Trainer(const Napi::CallbackInfo& info);
  ~Trainer() override {
    if (t_) sf_trainer_free(t_);
  }

  sf_trainer* t_ = nullptr;
  bool busy_ = false;
  bool dispose_pending_ = false;
  void Release() {
    if (t_) sf_trainer_free(t_);
    t_ = nullptr;
    weight_refs_.clear();
  }
  sf_trainer* Live(Napi::Env env, const char* method) {
    if (!t_) throw Napi::Error::New(env, std::string("Trainer.") + method + ": the trainer was disposed");
    if (busy_) throw Napi::Error::New(env, std::string("Trainer.") + method + ": another call is still running (await it first)");
    return t_;
  }

 private:
  sf_model_config cfg_{};
  std::vector<Napi::ObjectReference> weight_refs_;
  std::vector<sf_tensor> layer_tensors_;

  Napi::Value ForwardBackward(const Napi::CallbackInfo& info);
  Napi::Value OptimizerStep(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value Logits(const Napi::CallbackInfo& info);
  Napi::Value LoraTensors(const Napi::CallbackInfo& info);
  void SetLoraTensors(const Napi::CallbackInfo& info);
  Napi::Value OptimizerState(const Napi::CallbackInfo& info);
  void SetOptimizerState(const Napi::CallbackInfo& info);
  Napi::Value RngState(const Napi::CallbackInfo& info);
  void SetRngState(const Napi::CallbackInfo& info);
  Napi::Value Memory(const Napi::CallbackInfo& info);
  void Dispose(const Napi::CallbackInfo& info) {
    if (busy_) dispose_pending_ = true;
    else Release();
  }
};

Trainer::Trainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Trainer>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "new Trainer(options): options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("config").IsObject()) throw Napi::TypeError::New(env, "options.config is required");
  if (!o.Get("weights").IsObject()) throw Napi::TypeError::New(env, "options.weights is required");
  if (!o.Get("lora").IsObject()) throw Napi::TypeError::New(env, "options.lora is required");
  Napi::Object c = o.Get("config").As<Napi::Object>();
  cfg_.vocab_size = int(NumberField(c, "vocabSize", "config", true, 0));
  cfg_.hidden_size = int(NumberField(c, "hiddenSize", "config", true, 0));
  cfg_.intermediate_size = int(NumberField(c, "intermediateSize", "config", true, 0));
  cfg_.num_layers = int(NumberField(c, "numLayers", "config", true, 0));
  cfg_.num_heads = int(NumberField(c, "numHeads", "config", true, 0));
  cfg_.num_kv_heads = int(NumberField(c, "numKvHeads", "config", true, 0));
  cfg_.head_dim = int(NumberField(c, "headDim", "config", false, 0));
  cfg_.rope_theta = float(NumberField(c, "ropeTheta", "config", false, 10000));
  cfg_.rms_norm_eps = float(NumberField(c, "rmsNormEps", "config", false, 1e-6));
  cfg_.tie_word_embeddings = NumberField(c, "tieWordEmbeddings", "config", false, 0) != 0;
  if (cfg_.vocab_size <= 0 || cfg_.hidden_size <= 0 || cfg_.num_heads <= 0 || cfg_.num_kv_heads <= 0 || cfg_.num_layers <= 0 || cfg_.intermediate_size <= 0)
    throw Napi::RangeError::New(env, "options.config: sizes must be positive integers");
  std::string device = o.Get("device").IsString() ? o.Get("device").As<Napi::String>().Utf8Value() : "cpu";
  if (device != "cpu" && device != "cuda") throw Napi::Error::New(env, "options.device: '" + device + "' must be 'cpu' or 'cuda'");

  sf_trainer_params p = sf_trainer_default_params();
  p.device = device == "cuda" ? SF_DEVICE_CUDA : SF_DEVICE_CPU;
  Napi::Object l = o.Get("lora").As<Napi::Object>();
  p.lora_rank = int(NumberField(l, "rank", "lora", true, 0));
  p.lora_alpha = float(NumberField(l, "alpha", "lora", true, 0));
  p.lora_dropout = float(NumberField(l, "dropout", "lora", false, 0));
  p.use_rslora = NumberField(l, "useRslora", "lora", false, 0) != 0;
  Napi::Value tm = l.Get("targetModules");
  if (!tm.IsUndefined() && !tm.IsNull()) {
    if (!tm.IsArray()) throw Napi::TypeError::New(env, "lora.targetModules must be an array of module names");
    Napi::Array arr = tm.As<Napi::Array>();
    p.target_mask = 0;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      std::string name = arr.Get(i).ToString().Utf8Value();
      int found = -1;
      for (int m = 0; m < SF_NUM_MODULES; m++)
        if (name == sf_module_name(sf_module(m))) found = m;
      if (found < 0) throw Napi::Error::New(env, "lora.targetModules[" + std::to_string(i) + "] = '" + name + "' is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
      p.target_mask |= 1u << found;
    }
    if (!p.target_mask) throw Napi::Error::New(env, "lora.targetModules is empty");
  }
  p.max_batch = int(NumberField(o, "maxBatch", "options", true, 0));
  p.max_seq = int(NumberField(o, "maxSeqLen", "options", true, 0));
  p.threads = int(NumberField(o, "threads", "options", false, 2));
  double seed = NumberField(o, "seed", "options", false, 42);
  if (seed < 0 || seed != std::floor(seed)) throw Napi::RangeError::New(env, "options.seed must be a non-negative integer");
  p.seed = uint64_t(seed);
  p.recompute = NumberField(o, "recompute", "options", false, 0) != 0;
  p.ce_chunk = int(NumberField(o, "ceChunk", "options", false, 128));
  if (o.Get("optimizer").IsObject()) {
    Napi::Object op = o.Get("optimizer").As<Napi::Object>();
    p.beta1 = float(NumberField(op, "beta1", "optimizer", false, 0.9));
    p.beta2 = float(NumberField(op, "beta2", "optimizer", false, 0.999));
    p.eps = float(NumberField(op, "eps", "optimizer", false, 1e-8));
    p.weight_decay = float(NumberField(op, "weightDecay", "optimizer", false, 0));
    p.max_grad_norm = float(NumberField(op, "maxGradNorm", "optimizer", false, 1));
  }

  // Weights: names, dtypes and shapes checked here; the engine gets pointers into the caller's buffers.
  Napi::Object ws = o.Get("weights").As<Napi::Object>();
  int H = cfg_.hidden_size, I = cfg_.intermediate_size, D = cfg_.head_dim > 0 ? cfg_.head_dim : H / cfg_.num_heads;
  int qD = cfg_.num_heads * D, kvD = cfg_.num_kv_heads * D, V = cfg_.vocab_size;
  auto get = [&](const std::string& name, std::vector<int64_t> shape, bool optional) -> sf_tensor {
    Napi::Value v = ws.Get(name);
    if (v.IsUndefined() || v.IsNull()) {
      if (optional) return sf_tensor{nullptr, SF_F32};
      throw Napi::Error::New(env, "weights: missing tensor " + name);
    }
    if (!v.IsObject()) throw Napi::TypeError::New(env, "weights['" + name + "'] must be { data, dtype, shape }");
    Napi::Object t = v.As<Napi::Object>();
    std::string dt = t.Get("dtype").IsString() ? t.Get("dtype").As<Napi::String>().Utf8Value() : "";
    sf_dtype dtype;
    size_t esz;
    if (dt == "F32") dtype = SF_F32, esz = 4;
    else if (dt == "F16") dtype = SF_F16, esz = 2;
    else if (dt == "BF16") dtype = SF_BF16, esz = 2;
    else throw Napi::TypeError::New(env, "weights['" + name + "'].dtype is '" + dt + "' (expected F32, F16 or BF16)");
    Napi::Value sh = t.Get("shape");
    if (!sh.IsArray()) throw Napi::TypeError::New(env, "weights['" + name + "'].shape must be an array");
    Napi::Array sa = sh.As<Napi::Array>();
    std::string want = "[", got = "[";
    bool ok = sa.Length() == shape.size();
    for (size_t i = 0; i < shape.size(); i++) want += (i ? ", " : "") + std::to_string(shape[i]);
    for (uint32_t i = 0; i < sa.Length(); i++) {
      int64_t d = sa.Get(i).ToNumber().Int64Value();
      got += (i ? ", " : "") + std::to_string(d);
      if (i < shape.size() && d != shape[i]) ok = false;
    }
    if (!ok) throw Napi::RangeError::New(env, "weights['" + name + "'].shape is " + got + "] (expected " + want + "])");
    Napi::Value dv = t.Get("data");
    if (!dv.IsTypedArray()) throw Napi::TypeError::New(env, "weights['" + name + "'].data must be a Uint8Array (or other typed array view)");
    Napi::TypedArray ta = dv.As<Napi::TypedArray>();
    size_t n = 1;
    for (auto d : shape) n *= size_t(d);
    if (ta.ByteLength() != n * esz)
      throw Napi::RangeError::New(env, "weights['" + name + "'].data has " + std::to_string(ta.ByteLength()) + " bytes (expected " + std::to_string(n * esz) + ")");
    const uint8_t* ptr = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    weight_refs_.push_back(Napi::Persistent(ta.As<Napi::Object>()));
    return sf_tensor{ptr, dtype};
  };
  sf_model_weights w{};
  w.embed_tokens = get("model.embed_tokens.weight", {V, H}, false);
  w.norm = get("model.norm.weight", {H}, false);
  w.lm_head = cfg_.tie_word_embeddings ? sf_tensor{nullptr, SF_F32} : get("lm_head.weight", {V, H}, false);
  layer_tensors_.resize(size_t(cfg_.num_layers) * SF_LAYER_TENSORS);
  for (int li = 0; li < cfg_.num_layers; li++) {
    std::string pre = "model.layers." + std::to_string(li) + ".";
    sf_tensor* lt = layer_tensors_.data() + size_t(li) * SF_LAYER_TENSORS;
    lt[SF_W_Q] = get(pre + "self_attn.q_proj.weight", {qD, H}, false);
    lt[SF_W_K] = get(pre + "self_attn.k_proj.weight", {kvD, H}, false);
    lt[SF_W_V] = get(pre + "self_attn.v_proj.weight", {kvD, H}, false);
    lt[SF_W_O] = get(pre + "self_attn.o_proj.weight", {H, qD}, false);
    lt[SF_W_GATE] = get(pre + "mlp.gate_proj.weight", {I, H}, false);
    lt[SF_W_UP] = get(pre + "mlp.up_proj.weight", {I, H}, false);
    lt[SF_W_DOWN] = get(pre + "mlp.down_proj.weight", {H, I}, false);
    lt[SF_B_Q] = get(pre + "self_attn.q_proj.bias", {qD}, true);
    lt[SF_B_K] = get(pre + "self_attn.k_proj.bias", {kvD}, true);
    lt[SF_B_V] = get(pre + "self_attn.v_proj.bias", {kvD}, true);
    lt[SF_W_LN1] = get(pre + "input_layernorm.weight", {H}, false);
    lt[SF_W_LN2] = get(pre + "post_attention_layernorm.weight", {H}, false);
  }
  w.layers = layer_tensors_.data();
  char err[512] = {0};
  t_ = sf_trainer_create(&cfg_, &w, &p, err, sizeof err);
  if (!t_) throw Napi::Error::New(env, std::string("new Trainer: ") + err);
  info.This().As<Napi::Object>().TypeTag(&kTrainerTag);
}

// ---- lending the engine to another class's async work (comm.cpp: the gradient all-reduce) ---------------------------
TrainerLease LeaseTrainer(Napi::Env env, Napi::Value v, const char* method) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kTrainerTag))
    throw Napi::TypeError::New(env, std::string(method) + ": the argument must be a Trainer");
  Trainer* owner = Trainer::Unwrap(v.As<Napi::Object>());
  TrainerLease lease;
  sf_trainer* t = lease.engine = owner->Live(env, method);
  // The LoRA gradients lie back to back (layer-major, module order, A then B): one flat buffer. On the CUDA engine
  // this is its host mirror (downloaded here, uploaded before the next computation).
  int n = sf_trainer_lora_count(t);
  lease.grads = n > 0 ? sf_trainer_lora_grad(t, 0) : nullptr;
  for (int i = 0; i < n; i++) {
    sf_lora_info li = sf_trainer_lora_info(t, i);
    if (sf_trainer_lora_grad(t, i) != lease.grads + lease.grad_count)
      throw Napi::Error::New(env, std::string(method) + ": the engine's LoRA gradients are not one flat buffer");
    lease.grad_count += size_t(li.rows) * size_t(li.cols);
  }
  lease.grads_on_device = false;
  lease.owner = owner;
  lease.ref = Napi::Persistent(v.As<Napi::Object>());
  owner->busy_ = true;
  return lease;
}

void ReturnTrainer(TrainerLease& lease) {
  if (!lease.owner) return;
  Trainer* owner = static_cast<Trainer*>(lease.owner);
  owner->busy_ = false;
  if (owner->dispose_pending_) owner->Release();
  lease.owner = nullptr;
  lease.engine = nullptr;
  lease.ref.Reset();
}

// ---- async work -------------------------------------------------------------------------------------------------
class TrainerWorker : public Napi::AsyncWorker {
 public:
  enum Kind { kForwardBackward, kEvaluate, kLogits, kStep };
  TrainerWorker(Napi::Env env, Trainer* owner, Napi::Object self, Kind kind)
      : Napi::AsyncWorker(env), deferred(Napi::Promise::Deferred::New(env)), owner_(owner), kind_(kind) {
    self_ = Napi::Persistent(self);
    owner_->busy_ = true;
  }
  Napi::Promise::Deferred deferred;
  std::vector<int32_t> ids, labels;
  int batch = 0, seq = 0;
  float scale = 0, lr = 0;

  void Execute() override {
    sf_trainer* t = owner_->t_;
    int rc = 0;
    switch (kind_) {
      case kForwardBackward: rc = sf_trainer_forward_backward(t, ids.data(), labels.data(), batch, seq, scale, &loss_); break;
      case kEvaluate: rc = sf_trainer_evaluate(t, ids.data(), labels.data(), batch, seq, &loss_); break;
      case kLogits:
        logits_.resize(size_t(batch) * seq * size_t(owner_vocab));
        rc = sf_trainer_logits(t, ids.data(), batch, seq, logits_.data());
        break;
      case kStep: rc = sf_trainer_optimizer_step(t, lr, &norm_, &ms_); break;
    }
    if (rc != 0) SetError(sf_trainer_last_error(t));
  }
  void OnOK() override {
    Napi::Env env = Env();
    Done();
    Napi::Object r = Napi::Object::New(env);
    switch (kind_) {
      case kForwardBackward:
      case kEvaluate:
        r.Set("lossSum", loss_.loss_sum);
        r.Set("tokens", double(loss_.tokens));
        r.Set("ms", loss_.ms);
        deferred.Resolve(r);
        break;
      case kLogits: {
        Napi::Float32Array out = Napi::Float32Array::New(env, logits_.size());
        std::copy(logits_.begin(), logits_.end(), out.Data());
        deferred.Resolve(out);
        break;
      }
      case kStep:
        r.Set("gradNorm", norm_);
        r.Set("ms", ms_);
        deferred.Resolve(r);
        break;
    }
  }
  void OnError(const Napi::Error& e) override {
    Done();
    deferred.Reject(e.Value());
  }
  int owner_vocab = 0;

 private:
  void Done() {
    owner_->busy_ = false;
    if (owner_->dispose_pending_) owner_->Release();
    self_.Reset();
  }
  Trainer* owner_;
  Kind kind_;
  Napi::ObjectReference self_;
  sf_loss_result loss_{};
  std::vector<float> logits_;
  double norm_ = 0, ms_ = 0;
};

static std::vector<int32_t> IntArray(Napi::Env env, Napi::Value v, const char* what, size_t n) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, std::string(what) + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  if (a.ElementLength() != n)
    throw Napi::RangeError::New(env, std::string(what) + " has " + std::to_string(a.ElementLength()) + " elements (expected batch × seqLen = " + std::to_string(n) + ")");
  return std::vector<int32_t>(a.Data(), a.Data() + n);
}
static int PositiveInt(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 1) || d != std::floor(d) || d > 1e9) throw Napi::RangeError::New(env, std::string(what) + " must be a positive integer");
  return int(d);
}

Napi::Value Trainer::ForwardBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env, "forwardBackward");
  int b = PositiveInt(env, info[2], "batch"), s = PositiveInt(env, info[3], "seqLen");
  auto ids = IntArray(env, info[0], "inputIds", size_t(b) * s);
  auto labels = IntArray(env, info[1], "labels", size_t(b) * s);
  if (!info[4].IsNumber()) throw Napi::TypeError::New(env, "lossScale must be a number");
  auto* w = new TrainerWorker(env, this, info.This().As<Napi::Object>(), TrainerWorker::kForwardBackward);
  w->ids = std::move(ids), w->labels = std::move(labels), w->batch = b, w->seq = s;
  w->scale = info[4].As<Napi::Number>().FloatValue();
  auto promise = w->deferred.Promise();
  w->Queue();
  return promise;
}
Napi::Value Trainer::Evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env, "evaluate");
  int b = PositiveInt(env, info[2], "batch"), s = PositiveInt(env, info[3], "seqLen");
  auto ids = IntArray(env, info[0], "inputIds", size_t(b) * s);
  auto labels = IntArray(env, info[1], "labels", size_t(b) * s);
  auto* w = new TrainerWorker(env, this, info.This().As<Napi::Object>(), TrainerWorker::kEvaluate);
  w->ids = std::move(ids), w->labels = std::move(labels), w->batch = b, w->seq = s;
  auto promise = w->deferred.Promise();
  w->Queue();
  return promise;
}
Napi::Value Trainer::Logits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env, "logits");
  int b = PositiveInt(env, info[1], "batch"), s = PositiveInt(env, info[2], "seqLen");
  auto ids = IntArray(env, info[0], "inputIds", size_t(b) * s);
  auto* w = new TrainerWorker(env, this, info.This().As<Napi::Object>(), TrainerWorker::kLogits);
  w->ids = std::move(ids), w->batch = b, w->seq = s, w->owner_vocab = cfg_.vocab_size;
  auto promise = w->deferred.Promise();
  w->Queue();
  return promise;
}
Napi::Value Trainer::OptimizerStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env, "optimizerStep");
  if (!info[0].IsNumber() || !std::isfinite(info[0].As<Napi::Number>().DoubleValue())) throw Napi::TypeError::New(env, "optimizerStep(lr): lr must be a finite number");
  auto* w = new TrainerWorker(env, this, info.This().As<Napi::Object>(), TrainerWorker::kStep);
  w->lr = info[0].As<Napi::Number>().FloatValue();
  auto promise = w->deferred.Promise();
  w->Queue();
  return promise;
}

// ---- state in and out ----------------------------------------------------------------------------------------------
static Napi::Float32Array CopyOut(Napi::Env env, const float* p, size_t n) {
  Napi::Float32Array a = Napi::Float32Array::New(env, n);
  std::copy(p, p + n, a.Data());
  return a;
}

Napi::Value Trainer::LoraTensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "loraTensors");
  int n = sf_trainer_lora_count(t);
  Napi::Array out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    sf_lora_info li = sf_trainer_lora_info(t, i);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", LoraName(li));
    Napi::Array shape = Napi::Array::New(env, 2);
    shape.Set(0u, li.rows);
    shape.Set(1u, li.cols);
    o.Set("shape", shape);
    o.Set("data", CopyOut(env, sf_trainer_lora_data(t, i), size_t(li.rows) * li.cols));
    out.Set(uint32_t(i), o);
  }
  return out;
}

/** Finds each named tensor of `list` among ours; every one of ours must be given exactly once. */
template <typename F> static void ForEachNamed(Napi::Env env, sf_trainer* t, Napi::Value listv, const char* what, F fn) {
  if (!listv.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an array");
  Napi::Array list = listv.As<Napi::Array>();
  int n = sf_trainer_lora_count(t);
  std::vector<std::string> names(n);
  for (int i = 0; i < n; i++) names[i] = LoraName(sf_trainer_lora_info(t, i));
  std::vector<bool> seen(n, false);
  for (uint32_t j = 0; j < list.Length(); j++) {
    if (!list.Get(j).IsObject()) throw Napi::TypeError::New(env, std::string(what) + "[" + std::to_string(j) + "] must be an object");
    Napi::Object o = list.Get(j).As<Napi::Object>();
    std::string name = o.Get("name").ToString().Utf8Value();
    int idx = -1;
    for (int i = 0; i < n; i++)
      if (names[i] == name) idx = i;
    if (idx < 0) throw Napi::Error::New(env, std::string(what) + ": unknown tensor " + name + " (not adapted by this trainer)");
    seen[idx] = true;
    fn(o, idx, name);
  }
  for (int i = 0; i < n; i++)
    if (!seen[i]) throw Napi::Error::New(env, std::string(what) + ": missing tensor " + names[i]);
}
static void CopyIn(Napi::Env env, Napi::Value v, float* dst, size_t n, const std::string& where) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, where + " must be a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ElementLength() != n) throw Napi::RangeError::New(env, where + " has " + std::to_string(a.ElementLength()) + " values (expected " + std::to_string(n) + ")");
  std::copy(a.Data(), a.Data() + n, dst);
}

void Trainer::SetLoraTensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "setLoraTensors");
  // validate everything before writing anything
  std::vector<std::pair<int, std::vector<float>>> staged;
  ForEachNamed(env, t, info[0], "setLoraTensors", [&](Napi::Object o, int idx, const std::string& name) {
    sf_lora_info li = sf_trainer_lora_info(t, idx);
    Napi::Value sh = o.Get("shape");
    if (sh.IsArray()) {
      Napi::Array s = sh.As<Napi::Array>();
      if (s.Length() != 2 || s.Get(0u).ToNumber().Int32Value() != li.rows || s.Get(1u).ToNumber().Int32Value() != li.cols)
        throw Napi::RangeError::New(env, "setLoraTensors: " + name + " has the wrong shape (expected [" + std::to_string(li.rows) + ", " + std::to_string(li.cols) + "])");
    }
    std::vector<float> buf(size_t(li.rows) * li.cols);
    CopyIn(env, o.Get("data"), buf.data(), buf.size(), "setLoraTensors: " + name + ".data");
    staged.emplace_back(idx, std::move(buf));
  });
  for (auto& [idx, buf] : staged) std::copy(buf.begin(), buf.end(), sf_trainer_lora_data(t, idx));
}

Napi::Value Trainer::OptimizerState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "optimizerState");
  int n = sf_trainer_lora_count(t);
  Napi::Array tensors = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    sf_lora_info li = sf_trainer_lora_info(t, i);
    size_t sz = size_t(li.rows) * li.cols;
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", LoraName(li));
    o.Set("m", CopyOut(env, sf_trainer_adam_m(t, i), sz));
    o.Set("v", CopyOut(env, sf_trainer_adam_v(t, i), sz));
    tensors.Set(uint32_t(i), o);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("step", double(sf_trainer_get_step(t)));
  out.Set("tensors", tensors);
  return out;
}

void Trainer::SetOptimizerState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "setOptimizerState");
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "setOptimizerState(state): state must be { step, tensors }");
  Napi::Object s = info[0].As<Napi::Object>();
  double step = NumberField(s, "step", "optimizerState", true, 0);
  if (step < 0 || step != std::floor(step)) throw Napi::RangeError::New(env, "optimizerState.step must be a non-negative integer");
  std::vector<std::tuple<int, std::vector<float>, std::vector<float>>> staged;
  ForEachNamed(env, t, s.Get("tensors"), "optimizerState.tensors", [&](Napi::Object o, int idx, const std::string& name) {
    sf_lora_info li = sf_trainer_lora_info(t, idx);
    size_t sz = size_t(li.rows) * li.cols;
    std::vector<float> m(sz), v(sz);
    CopyIn(env, o.Get("m"), m.data(), sz, "optimizerState: " + name + ".m");
    CopyIn(env, o.Get("v"), v.data(), sz, "optimizerState: " + name + ".v");
    staged.emplace_back(idx, std::move(m), std::move(v));
  });
  for (auto& [idx, m, v] : staged) {
    std::copy(m.begin(), m.end(), sf_trainer_adam_m(t, idx));
    std::copy(v.begin(), v.end(), sf_trainer_adam_v(t, idx));
  }
  sf_trainer_set_step(t, int64_t(step));
}

Napi::Value Trainer::RngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "rngState");
  uint64_t seed, counter;
  sf_trainer_get_rng(t, &seed, &counter);
  Napi::Object o = Napi::Object::New(env);
  o.Set("seed", std::to_string(seed));  // decimal strings: exact and JSON-safe
  o.Set("counter", std::to_string(counter));
  return o;
}

void Trainer::SetRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "setRngState");
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "setRngState(state): state must be { seed, counter }");
  Napi::Object o = info[0].As<Napi::Object>();
  auto parse = [&](const char* key) -> uint64_t {
    Napi::Value v = o.Get(key);
    std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : v.IsNumber() ? std::to_string(v.As<Napi::Number>().Int64Value()) : "";
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) throw Napi::TypeError::New(env, std::string("rngState.") + key + " must be a decimal integer string");
    return std::stoull(s);
  };
  uint64_t seed = parse("seed"), counter = parse("counter");
  sf_trainer_set_rng(t, seed, counter);
}

Napi::Value Trainer::Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "memory");
  sf_memory m = sf_trainer_memory(t);
  Napi::Object o = Napi::Object::New(env);
  o.Set("weightsBytes", double(m.weights_bytes));
  o.Set("loraBytes", double(m.lora_bytes));
  o.Set("optimizerBytes", double(m.optimizer_bytes));
  o.Set("activationsBytes", double(m.activations_bytes));
  return o;
}

void InitTrainer(Napi::Env env, Napi::Object exports) { exports.Set("Trainer", Trainer::Define(env)); }

}  // namespace sqlfocus_addon
