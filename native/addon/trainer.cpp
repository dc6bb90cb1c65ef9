// class Trainer: the JS face of one sf_trainer (native/include/sqlfocus.h), and nothing more. It converts JS values
// into the C structs and back and checks only what memory safety needs (types, array lengths); the core validates
// the config and parameters (sf_trainer_create), src/train/native.ts maps Hugging Face / PEFT names. Long work
// (forwardBackward, evaluate, logits, optimizerStep) runs in Napi::AsyncWorkers and resolves promises; one call at a
// time per trainer. Every error carries `code`: the core's sf_status name, or SF_ERR_DISPOSED / SF_ERR_BUSY.
// Types: src/native/binding.ts.
#include <sqlfocus.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"

namespace sqlfocus_addon {

namespace {

Napi::Error CodedError(Napi::Error e, const char* code) {
  e.Set("code", Napi::String::New(e.Env(), code));
  return e;
}
[[noreturn]] void Throw(Napi::Env env, const std::string& msg, const char* code = "SF_ERR_INVALID_ARGUMENT") {
  throw CodedError(Napi::Error::New(env, msg), code);
}
[[noreturn]] void ThrowType(Napi::Env env, const std::string& msg) {
  throw CodedError(Napi::TypeError::New(env, msg), "SF_ERR_INVALID_ARGUMENT");
}

/** o[key] as a number (booleans as 0/1); `def` when absent. */
double Number(Napi::Object o, const char* key, const char* where, double def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  if (!v.IsNumber()) ThrowType(o.Env(), std::string(where) + "." + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}
int Int(Napi::Object o, const char* key, const char* where, int def) {
  double d = Number(o, key, where, def);
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != std::floor(d))
    ThrowType(o.Env(), std::string(where) + "." + key + " must be an integer");
  return int(d);
}
uint64_t Uint64(Napi::Env env, Napi::Value v, const std::string& what) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) ThrowType(env, what + " must be an unsigned 64-bit integer");
    return u;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0) || d != std::floor(d))
      ThrowType(env, what + " must be a non-negative integer");
    return uint64_t(d);
  }
  ThrowType(env, what + " must be a bigint");
}

std::vector<int32_t> IntArray(Napi::Env env, Napi::Value v, const char* what, size_t n) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    ThrowType(env, std::string(what) + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  if (a.ElementLength() != n)
    Throw(env, std::string(what) + " has " + std::to_string(a.ElementLength()) +
                   " elements (expected batch × seqLen = " + std::to_string(n) + ")");
  return std::vector<int32_t>(a.Data(), a.Data() + n);
}
int PositiveInt(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsNumber()) ThrowType(env, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 1) || d != std::floor(d) || d > 1e9) Throw(env, std::string(what) + " must be a positive integer");
  return int(d);
}

sf_model_config ReadConfig(Napi::Object c) {
  sf_model_config cfg{};
  cfg.vocab_size = Int(c, "vocabSize", "config", 0);
  cfg.hidden_size = Int(c, "hiddenSize", "config", 0);
  cfg.intermediate_size = Int(c, "intermediateSize", "config", 0);
  cfg.num_layers = Int(c, "numLayers", "config", 0);
  cfg.num_heads = Int(c, "numHeads", "config", 0);
  cfg.num_kv_heads = Int(c, "numKvHeads", "config", 0);
  cfg.head_dim = Int(c, "headDim", "config", 0);
  cfg.rope_theta = float(Number(c, "ropeTheta", "config", 10000));
  cfg.rms_norm_eps = float(Number(c, "rmsNormEps", "config", 1e-6));
  cfg.tie_word_embeddings = Number(c, "tieWordEmbeddings", "config", 0) != 0;
  return cfg;
}

sf_trainer_params ReadParams(Napi::Env env, Napi::Object o) {
  sf_trainer_params p = sf_trainer_default_params();
  p.lora_rank = Int(o, "loraRank", "params", p.lora_rank);
  p.lora_alpha = float(Number(o, "loraAlpha", "params", p.lora_alpha));
  p.lora_dropout = float(Number(o, "loraDropout", "params", p.lora_dropout));
  p.use_rslora = Number(o, "useRslora", "params", p.use_rslora) != 0;
  p.target_mask = uint32_t(Int(o, "targetMask", "params", int(p.target_mask)));
  p.max_batch = Int(o, "maxBatch", "params", p.max_batch);
  p.max_seq = Int(o, "maxSeq", "params", p.max_seq);
  p.threads = Int(o, "threads", "params", p.threads);
  if (!o.Get("seed").IsUndefined()) p.seed = Uint64(env, o.Get("seed"), "params.seed");
  p.recompute = Number(o, "recompute", "params", p.recompute) != 0;
  p.beta1 = float(Number(o, "beta1", "params", p.beta1));
  p.beta2 = float(Number(o, "beta2", "params", p.beta2));
  p.eps = float(Number(o, "eps", "params", p.eps));
  p.weight_decay = float(Number(o, "weightDecay", "params", p.weight_decay));
  p.max_grad_norm = float(Number(o, "maxGradNorm", "params", p.max_grad_norm));
  p.device = Int(o, "device", "params", p.device);
  p.ce_chunk = Int(o, "ceChunk", "params", p.ce_chunk);
  p.activation_dtype = Int(o, "activationDtype", "params", p.activation_dtype);
  return p;
}

/** Trainer.checkConfig(config, params): the core's checks of sf_trainer_create without weights (throws, coded). */
Napi::Value CheckConfig(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject())
    ThrowType(env, "Trainer.checkConfig(config, params): two objects expected");
  sf_model_config cfg = ReadConfig(info[0].As<Napi::Object>());
  sf_trainer_params p = ReadParams(env, info[1].As<Napi::Object>());
  char err[512] = {0};
  if (int rc = sf_check_config(&cfg, &p, err, sizeof err)) Throw(env, err, sf_status_name(rc));
  return env.Undefined();
}

}  // namespace

const napi_type_tag kTrainerTag = {0x5f1c0c75a11a4e21ull, 0x9d3b2f6e0c4a7b15ull};

class Trainer : public Napi::ObjectWrap<Trainer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    Napi::Array names = Napi::Array::New(env, SF_NUM_MODULES);
    for (int m = 0; m < SF_NUM_MODULES; m++) names.Set(uint32_t(m), sf_module_name(sf_module(m)));
    return DefineClass(
        env, "Trainer",
        {InstanceMethod("forwardBackward", &Trainer::ForwardBackward), InstanceMethod("evaluate", &Trainer::Evaluate),
         InstanceMethod("logits", &Trainer::Logits), InstanceMethod("optimizerStep", &Trainer::OptimizerStep),
         InstanceMethod("zeroGrad", &Trainer::ZeroGrad), InstanceMethod("loraSlots", &Trainer::LoraSlots),
         InstanceMethod("loraSize", &Trainer::LoraSize), InstanceMethod("readLora", &Trainer::ReadLora),
         InstanceMethod("writeLora", &Trainer::WriteLora), InstanceMethod("getStep", &Trainer::GetStep),
         InstanceMethod("setStep", &Trainer::SetStep), InstanceMethod("rngState", &Trainer::RngState),
         InstanceMethod("setRngState", &Trainer::SetRngState), InstanceMethod("memory", &Trainer::Memory),
         InstanceMethod("dispose", &Trainer::Dispose), StaticValue("moduleNames", names),
         StaticMethod("checkConfig", &CheckConfig)});
  }

  explicit Trainer(const Napi::CallbackInfo& info);
  ~Trainer() override {
    if (t_) sf_trainer_free(t_);
  }

  sf_trainer* t_ = nullptr;
  bool busy_ = false;
  bool dispose_pending_ = false;
  int vocab_ = 0;
  int device_ = SF_DEVICE_CPU;
  void Release() {
    if (t_) sf_trainer_free(t_);
    t_ = nullptr;
    weight_refs_.clear();
  }
  /** Throws the last failed call's message with its status as code. */
  [[noreturn]] void Fail(Napi::Env env, int rc) { Throw(env, sf_trainer_last_error(t_), sf_status_name(rc)); }
  sf_trainer* Live(Napi::Env env, const char* method) {
    if (!t_) Throw(env, std::string("Trainer.") + method + ": the trainer was disposed", "SF_ERR_DISPOSED");
    if (busy_)
      Throw(env, std::string("Trainer.") + method + ": another call is still running (await it first)", "SF_ERR_BUSY");
    return t_;
  }

 private:
  std::vector<Napi::ObjectReference> weight_refs_;  // the weights' memory stays alive while the trainer reads it

  sf_tensor Tensor(Napi::Env env, Napi::Value v, const std::string& what, bool optional);
  Napi::Value ForwardBackward(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value Logits(const Napi::CallbackInfo& info);
  Napi::Value OptimizerStep(const Napi::CallbackInfo& info);
  void ZeroGrad(const Napi::CallbackInfo& info) {
    sf_trainer* t = Live(info.Env(), "zeroGrad");
    if (int rc = sf_trainer_zero_grad(t)) Fail(info.Env(), rc);
  }
  Napi::Value LoraSlots(const Napi::CallbackInfo& info);
  Napi::Value LoraSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(sf_trainer_lora_size(Live(info.Env(), "loraSize"))));
  }
  Napi::Value ReadLora(const Napi::CallbackInfo& info);
  void WriteLora(const Napi::CallbackInfo& info);
  Napi::Value GetStep(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(sf_trainer_get_step(Live(info.Env(), "getStep"))));
  }
  void SetStep(const Napi::CallbackInfo& info) {
    sf_trainer* t = Live(info.Env(), "setStep");
    sf_trainer_set_step(t, int64_t(Uint64(info.Env(), info[0], "setStep(step): step")));
  }
  Napi::Value RngState(const Napi::CallbackInfo& info);
  void SetRngState(const Napi::CallbackInfo& info);
  Napi::Value Memory(const Napi::CallbackInfo& info);
  void Dispose(const Napi::CallbackInfo&) {
    if (busy_)
      dispose_pending_ = true;
    else
      Release();
  }
};

sf_tensor Trainer::Tensor(Napi::Env env, Napi::Value v, const std::string& what, bool optional) {
  if (v.IsUndefined() || v.IsNull()) {
    if (optional) return sf_tensor{nullptr, SF_F32, 0};
    ThrowType(env, what + " is required");
  }
  if (!v.IsObject()) ThrowType(env, what + " must be { data, dtype }");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value dv = o.Get("data");
  if (!dv.IsTypedArray() && !dv.IsDataView())
    ThrowType(env, what + ".data must be a typed array (e.g. a Uint8Array view)");
  const uint8_t* ptr;
  size_t bytes;
  if (dv.IsTypedArray()) {
    Napi::TypedArray ta = dv.As<Napi::TypedArray>();
    ptr = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), bytes = ta.ByteLength();
  } else {
    Napi::DataView dw = dv.As<Napi::DataView>();
    ptr = static_cast<const uint8_t*>(dw.ArrayBuffer().Data()) + dw.ByteOffset(), bytes = dw.ByteLength();
  }
  weight_refs_.push_back(Napi::Persistent(dv.As<Napi::Object>()));
  return sf_tensor{ptr, sf_dtype(Int(o, "dtype", what.c_str(), 0)), bytes};
}

Trainer::Trainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Trainer>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsObject() || !info[2].IsObject())
    ThrowType(env, "new Trainer(config, weights, params): three objects expected");
  Napi::Object c = info[0].As<Napi::Object>(), ws = info[1].As<Napi::Object>(), o = info[2].As<Napi::Object>();
  sf_model_config cfg = ReadConfig(c);
  sf_trainer_params p = ReadParams(env, o);
  vocab_ = cfg.vocab_size;
  device_ = p.device;

  sf_model_weights w{};
  w.embed_tokens = Tensor(env, ws.Get("embedTokens"), "weights.embedTokens", false);
  w.norm = Tensor(env, ws.Get("norm"), "weights.norm", false);
  w.lm_head = Tensor(env, ws.Get("lmHead"), "weights.lmHead", true);
  Napi::Value lv = ws.Get("layers");
  if (!lv.IsArray()) ThrowType(env, "weights.layers must be an array (one array of 12 tensors per layer)");
  Napi::Array layers = lv.As<Napi::Array>();
  if (cfg.num_layers < 0 || layers.Length() != uint32_t(cfg.num_layers))
    Throw(env, "weights.layers has " + std::to_string(layers.Length()) + " entries (config.numLayers is " +
                   std::to_string(cfg.num_layers) + ")");
  std::vector<sf_tensor> lt(size_t(layers.Length()) * SF_LAYER_TENSORS);
  for (uint32_t l = 0; l < layers.Length(); l++) {
    std::string where = "weights.layers[" + std::to_string(l) + "]";
    if (!layers.Get(l).IsArray() || layers.Get(l).As<Napi::Array>().Length() != SF_LAYER_TENSORS)
      ThrowType(env, where + " must be an array of " + std::to_string(SF_LAYER_TENSORS) + " tensors");
    Napi::Array row = layers.Get(l).As<Napi::Array>();
    for (uint32_t k = 0; k < SF_LAYER_TENSORS; k++)
      lt[size_t(l) * SF_LAYER_TENSORS + k] = Tensor(env, row.Get(k), where + "[" + std::to_string(k) + "]", true);
  }
  w.layers = lt.data();
  char err[512] = {0};
  int rc = sf_trainer_create(&cfg, &w, &p, &t_, err, sizeof err);
  if (rc != SF_OK) {
    weight_refs_.clear();
    Throw(env, std::string("new Trainer: ") + err, sf_status_name(rc));
  }
  info.This().As<Napi::Object>().TypeTag(&kTrainerTag);
}

// ---- lending the engine to another class's async work (comm.cpp: the gradient all-reduce) ---------------------------
TrainerLease LeaseTrainer(Napi::Env env, Napi::Value v, const char* method) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kTrainerTag))
    ThrowType(env, std::string(method) + ": the argument must be a Trainer");
  Trainer* owner = Trainer::Unwrap(v.As<Napi::Object>());
  TrainerLease lease;
  sf_trainer* t = lease.engine = owner->Live(env, method);
  // the flat LoRA gradient buffer in the device's memory (sqlfocus.h: sf_trainer_lora_buffer)
  lease.grads = sf_trainer_lora_buffer(t, SF_LORA_GRADS);
  lease.grad_count = sf_trainer_lora_size(t);
  if (!lease.grads) Throw(env, std::string(method) + ": " + sf_trainer_last_error(t));
  lease.grads_on_device = owner->device_ == SF_DEVICE_CUDA;
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

// ---- async work
// -------------------------------------------------------------------------------------------------------
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
    switch (kind_) {
      case kForwardBackward:
        rc_ = sf_trainer_forward_backward(t, ids.data(), labels.data(), batch, seq, scale, &loss_);
        break;
      case kEvaluate:
        rc_ = sf_trainer_evaluate(t, ids.data(), labels.data(), batch, seq, &loss_);
        break;
      case kLogits:
        logits_.resize(size_t(batch) * seq * size_t(owner_->vocab_));
        rc_ = sf_trainer_logits(t, ids.data(), batch, seq, logits_.data());
        break;
      case kStep:
        rc_ = sf_trainer_optimizer_step(t, lr, &norm_, &ms_);
        break;
    }
    if (rc_ != SF_OK) SetError(sf_trainer_last_error(t));
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
    deferred.Reject(CodedError(Napi::Error::New(Env(), e.Message()), sf_status_name(rc_)).Value());
  }

 private:
  void Done() {
    owner_->busy_ = false;
    if (owner_->dispose_pending_) owner_->Release();
    self_.Reset();
  }
  Trainer* owner_;
  Kind kind_;
  Napi::ObjectReference self_;
  int rc_ = SF_OK;
  sf_loss_result loss_{};
  std::vector<float> logits_;
  double norm_ = 0, ms_ = 0;
};

Napi::Value Trainer::ForwardBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env, "forwardBackward");
  int b = PositiveInt(env, info[2], "batch"), s = PositiveInt(env, info[3], "seqLen");
  auto ids = IntArray(env, info[0], "inputIds", size_t(b) * s);
  auto labels = IntArray(env, info[1], "labels", size_t(b) * s);
  if (!info[4].IsNumber()) ThrowType(env, "lossScale must be a number");
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
  w->ids = std::move(ids), w->batch = b, w->seq = s;
  auto promise = w->deferred.Promise();
  w->Queue();
  return promise;
}
Napi::Value Trainer::OptimizerStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env, "optimizerStep");
  if (!info[0].IsNumber() || !std::isfinite(info[0].As<Napi::Number>().DoubleValue()))
    ThrowType(env, "optimizerStep(lr): lr must be a finite number");
  auto* w = new TrainerWorker(env, this, info.This().As<Napi::Object>(), TrainerWorker::kStep);
  w->lr = info[0].As<Napi::Number>().FloatValue();
  auto promise = w->deferred.Promise();
  w->Queue();
  return promise;
}

// ---- state in and out
// ---------------------------------------------------------------------------------------------------
Napi::Value Trainer::LoraSlots(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "loraSlots");
  int n = sf_trainer_lora_count(t);
  Napi::Array out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    sf_lora_info li = sf_trainer_lora_info(t, i);
    Napi::Object o = Napi::Object::New(env);
    o.Set("layer", li.layer);
    o.Set("module", int(li.module));
    o.Set("moduleName", sf_module_name(li.module));
    o.Set("isB", li.is_b != 0);
    o.Set("rows", li.rows);
    o.Set("cols", li.cols);
    o.Set("offset", double(li.offset));
    out.Set(uint32_t(i), o);
  }
  return out;
}

Napi::Value Trainer::ReadLora(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "readLora");
  if (!info[0].IsNumber()) ThrowType(env, "readLora(which): which must be a number");
  size_t n = sf_trainer_lora_size(t);
  Napi::Float32Array a = Napi::Float32Array::New(env, n);
  if (int rc = sf_trainer_read_lora(t, sf_lora_buffer(info[0].As<Napi::Number>().Int32Value()), 0, n, a.Data()))
    Fail(env, rc);
  return a;
}

void Trainer::WriteLora(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "writeLora");
  if (!info[0].IsNumber()) ThrowType(env, "writeLora(which, data): which must be a number");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    ThrowType(env, "writeLora(which, data): data must be a Float32Array");
  Napi::Float32Array a = info[1].As<Napi::Float32Array>();
  size_t n = sf_trainer_lora_size(t);
  if (a.ElementLength() != n)
    Throw(env,
          "writeLora: data has " + std::to_string(a.ElementLength()) + " values (expected " + std::to_string(n) + ")");
  if (int rc = sf_trainer_write_lora(t, sf_lora_buffer(info[0].As<Napi::Number>().Int32Value()), 0, n, a.Data()))
    Fail(env, rc);
}

Napi::Value Trainer::RngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "rngState");
  uint64_t seed, counter;
  sf_trainer_get_rng(t, &seed, &counter);
  Napi::Object o = Napi::Object::New(env);
  o.Set("seed", Napi::BigInt::New(env, seed));
  o.Set("counter", Napi::BigInt::New(env, counter));
  return o;
}

void Trainer::SetRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_trainer* t = Live(env, "setRngState");
  uint64_t seed = Uint64(env, info[0], "setRngState(seed, counter): seed"),
           counter = Uint64(env, info[1], "setRngState(seed, counter): counter");
  sf_trainer_set_rng(t, seed, counter);
}

Napi::Value Trainer::Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_memory m = sf_trainer_memory(Live(env, "memory"));
  Napi::Object o = Napi::Object::New(env);
  o.Set("weightsBytes", double(m.weights_bytes));
  o.Set("loraBytes", double(m.lora_bytes));
  o.Set("optimizerBytes", double(m.optimizer_bytes));
  o.Set("activationsBytes", double(m.activations_bytes));
  return o;
}

void InitTrainer(Napi::Env env, Napi::Object exports) { exports.Set("Trainer", Trainer::Define(env)); }

}  // namespace sqlfocus_addon
