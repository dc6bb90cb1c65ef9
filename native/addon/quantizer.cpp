// Quantizer: llama.cpp's own quantizer (llama_model_quantize) run on a worker thread.
// The libllama that node-llama-cpp ships is dlopen()ed at run time from a path given by JS (src/gguf finds it);
// the headers of the same llama.cpp commit come from node-llama-cpp's git bundle at build time (native/llama.cmake).
//   quantizerBuilt: boolean                      false when built without those headers
//   new Quantizer(libllamaPath)                  loads the library (throws with dlerror() when it cannot)
//   quantizer.quantize({ input, output, ftype, threads?, allowRequantize?, pure?, dryRun?, onTensor? }) ->
//   Promise<void>
//       rejects with the errors llama.cpp logged; one quantization at a time per process (llama's logger is global);
//       onTensor(index, count, name) is called (on the JS thread) as llama.cpp starts each tensor ("[ i/ n] name" log)
//   new Quantizer(libllamaPath, libggmlBasePath?)  also loads ggml_quantize_chunk / ggml_row_size from libggml-base
//   quantizer.quantizeRows(ggmlType, f32: Float32Array, nPerRow, threads?) -> Promise<Buffer>
//       ggml_quantize_chunk over all rows of `f32` (length a multiple of nPerRow, no importance matrix), rows split
//       among `threads` threads; the bytes are those llama_model_quantize writes for the same rows and type
//   With libggml-base, every quantized ggml type's own dequantizer (ggml_get_type_traits(t)->to_float) is registered
//   with the training core (sf_register_ggml_type): base weights in any GGUF type can be trained on.
//   quantizer.dequantize(ggmlType, bytes: Uint8Array, n, source) -> Float32Array
//       n values (whole blocks) dequantized by the training core's kernels at the current SIMD level (source 0), its
//       portable code (1) or ggml's to_float (2); for checking that they agree bit for bit
#include "addon.h"

#include <sqlfocus.h>

#ifdef SQLFOCUS_HAVE_LLAMA
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "llama.h"
#endif

namespace sqlfocus_addon {

#ifdef SQLFOCUS_HAVE_LLAMA

struct LlamaApi {
  void* handle = nullptr;
  decltype(&llama_backend_init) backend_init = nullptr;
  decltype(&llama_model_quantize_default_params) default_params = nullptr;
  decltype(&llama_model_quantize) quantize = nullptr;
  decltype(&llama_log_get) log_get = nullptr;
  decltype(&llama_log_set) log_set = nullptr;
  decltype(&ggml_quantize_chunk) quantize_chunk = nullptr;  // from libggml-base (optional)
  decltype(&ggml_row_size) row_size = nullptr;
  decltype(&ggml_blck_size) blck_size = nullptr;
  decltype(&ggml_quantize_requires_imatrix) requires_imatrix = nullptr;
  decltype(&ggml_get_type_traits) type_traits = nullptr;
};

/** Hands ggml's dequantizer of every quantized type to the training core (once per process is enough; repeating it
 *  registers the same functions). */
static void RegisterGgmlDequantizers(const LlamaApi& api) {
  if (!api.type_traits) return;
  for (int t = 0; t < GGML_TYPE_COUNT; t++) {
    const ggml_type_traits* tr = api.type_traits(static_cast<ggml_type>(t));
    if (!tr || !tr->is_quantized || !tr->to_float || tr->blck_size <= 0 || tr->type_size == 0) continue;
    sf_register_ggml_type(t, tr->blck_size, tr->type_size, reinterpret_cast<sf_to_float_fn>(tr->to_float));
  }
}

// ggml_quantize_chunk on a worker thread: rows of `src_` quantized into `dst_` (both kept alive by references).
class QuantizeRowsWorker : public Napi::AsyncWorker {
 public:
  QuantizeRowsWorker(Napi::Env env, const LlamaApi& api, int type, Napi::Float32Array src, int64_t n_per_row,
                     int64_t nrows, Napi::Buffer<uint8_t> dst, size_t row_bytes, int threads)
      : Napi::AsyncWorker(env, "sqlfocus:quantize-rows"),
        api_(api),
        type_(type),
        src_(src.Data()),
        dst_(dst.Data()),
        n_per_row_(n_per_row),
        nrows_(nrows),
        row_bytes_(row_bytes),
        threads_(threads),
        deferred_(Napi::Promise::Deferred::New(env)) {
    src_ref_ = Napi::Persistent(src.As<Napi::Object>());
    dst_ref_ = Napi::Persistent(dst.As<Napi::Object>());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    const int64_t nt = std::max<int64_t>(1, std::min<int64_t>(threads_, nrows_));
    const int64_t per = (nrows_ + nt - 1) / nt;
    std::vector<std::thread> pool;
    std::vector<size_t> got(static_cast<size_t>(nt), 0);
    for (int64_t t = 0; t < nt; t++) {
      const int64_t first = t * per;
      const int64_t n = std::min<int64_t>(per, nrows_ - first);
      if (n <= 0) break;
      pool.emplace_back([this, first, n, t, &got] {
        got[static_cast<size_t>(t)] = api_.quantize_chunk(static_cast<ggml_type>(type_), src_ + first * n_per_row_,
                                                          dst_ + first * row_bytes_, 0, n, n_per_row_, nullptr);
      });
    }
    for (auto& th : pool) th.join();
    size_t total = 0;
    for (size_t g : got) total += g;
    if (total != row_bytes_ * static_cast<size_t>(nrows_)) {
      SetError("ggml_quantize_chunk wrote " + std::to_string(total) + " bytes, expected " +
               std::to_string(row_bytes_ * static_cast<size_t>(nrows_)));
    }
  }
  void OnOK() override { deferred_.Resolve(dst_ref_.Value()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  LlamaApi api_;
  int type_;
  const float* src_;
  uint8_t* dst_;
  int64_t n_per_row_, nrows_;
  size_t row_bytes_;
  int threads_;
  Napi::ObjectReference src_ref_, dst_ref_;
  Napi::Promise::Deferred deferred_;
};

static std::mutex g_quantize_mutex;  // llama's log callback is process-wide: one quantization at a time

struct TensorProgress {
  int index;
  int count;
  std::string name;
};

struct LogCapture {
  std::mutex mutex;
  std::string errors;  // GGML_LOG_LEVEL_ERROR lines
  std::string last;    // the last lines of any level, for context
  Napi::ThreadSafeFunction* progress = nullptr;
};

static void CaptureLog(enum ggml_log_level level, const char* text, void* user) {
  auto* cap = static_cast<LogCapture*>(user);
  if (!text) return;
  if (cap->progress && text[0] == '[') {
    int i = 0, n = 0;
    char name[256] = {0};
    if (std::sscanf(text, "[%d/%d] %255s", &i, &n, name) == 3) {
      auto* p = new TensorProgress{i, n, name};
      napi_status st = cap->progress->NonBlockingCall(p, [](Napi::Env env, Napi::Function fn, TensorProgress* d) {
        fn.Call({Napi::Number::New(env, d->index), Napi::Number::New(env, d->count), Napi::String::New(env, d->name)});
        delete d;
      });
      if (st != napi_ok) delete p;
    }
  }
  std::lock_guard<std::mutex> lock(cap->mutex);
  if (level == GGML_LOG_LEVEL_ERROR) cap->errors += text;
  cap->last += text;
  if (cap->last.size() > 4096) cap->last.erase(0, cap->last.size() - 2048);
}

class QuantizeWorker : public Napi::AsyncWorker {
 public:
  QuantizeWorker(Napi::Env env, const LlamaApi& api, std::string input, std::string output,
                 llama_model_quantize_params params, Napi::Value onTensor)
      : Napi::AsyncWorker(env, "sqlfocus:quantize"),
        api_(api),
        input_(std::move(input)),
        output_(std::move(output)),
        params_(params),
        deferred_(Napi::Promise::Deferred::New(env)) {
    if (onTensor.IsFunction()) {
      progress_ = Napi::ThreadSafeFunction::New(env, onTensor.As<Napi::Function>(), "sqlfocus:quantize-progress", 0, 1);
      has_progress_ = true;
    }
  }

  ~QuantizeWorker() override {
    if (has_progress_) progress_.Release();
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    std::lock_guard<std::mutex> lock(g_quantize_mutex);
    ggml_log_callback prev_cb = nullptr;
    void* prev_user = nullptr;
    api_.log_get(&prev_cb, &prev_user);
    LogCapture cap;
    if (has_progress_) cap.progress = &progress_;
    api_.log_set(CaptureLog, &cap);
    uint32_t rc = 1;
    std::string thrown;
    try {
      rc = api_.quantize(input_.c_str(), output_.c_str(), &params_);
    } catch (const std::exception& e) { thrown = e.what(); } catch (...) {
      thrown = "unknown exception";
    }
    api_.log_set(prev_cb, prev_user);
    if (rc != 0 || !thrown.empty()) {
      std::string msg = !thrown.empty() ? thrown : cap.errors;
      if (msg.empty()) msg = cap.last;
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      SetError("llama_model_quantize failed (" + input_ + " -> " + output_ +
               "): " + (msg.empty() ? std::string("no message") : msg));
    }
  }

  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  LlamaApi api_;
  std::string input_, output_;
  llama_model_quantize_params params_;
  Napi::Promise::Deferred deferred_;
  Napi::ThreadSafeFunction progress_;
  bool has_progress_ = false;
};

class Quantizer : public Napi::ObjectWrap<Quantizer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "Quantizer",
        {InstanceMethod("quantize", &Quantizer::Quantize), InstanceMethod("quantizeRows", &Quantizer::QuantizeRows),
         InstanceMethod("dequantize", &Quantizer::Dequantize)});
  }

  explicit Quantizer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Quantizer>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throw Napi::TypeError::New(env, "new Quantizer(libllamaPath): libllamaPath must be a string");
    }
    std::string path = info[0].As<Napi::String>();
    dlerror();
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      throw Napi::Error::New(env, "cannot load llama.cpp's library " + path + ": " + (e ? e : "unknown error"));
    }
    api_.handle = h;
    auto need = [&](const char* name) -> void* {
      void* s = dlsym(h, name);
      if (!s) throw Napi::Error::New(env, std::string("llama.cpp's library ") + path + " lacks " + name);
      return s;
    };
    api_.backend_init = reinterpret_cast<decltype(api_.backend_init)>(need("llama_backend_init"));
    api_.default_params = reinterpret_cast<decltype(api_.default_params)>(need("llama_model_quantize_default_params"));
    api_.quantize = reinterpret_cast<decltype(api_.quantize)>(need("llama_model_quantize"));
    api_.log_get = reinterpret_cast<decltype(api_.log_get)>(need("llama_log_get"));
    api_.log_set = reinterpret_cast<decltype(api_.log_set)>(need("llama_log_set"));
    if (info.Length() >= 2 && info[1].IsString()) {
      std::string base = info[1].As<Napi::String>();
      dlerror();
      void* hb = dlopen(base.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!hb) {
        const char* e = dlerror();
        throw Napi::Error::New(env, "cannot load ggml's library " + base + ": " + (e ? e : "unknown error"));
      }
      auto needb = [&](const char* name) -> void* {
        void* s = dlsym(hb, name);
        if (!s) throw Napi::Error::New(env, std::string("ggml's library ") + base + " lacks " + name);
        return s;
      };
      api_.quantize_chunk = reinterpret_cast<decltype(api_.quantize_chunk)>(needb("ggml_quantize_chunk"));
      api_.row_size = reinterpret_cast<decltype(api_.row_size)>(needb("ggml_row_size"));
      api_.blck_size = reinterpret_cast<decltype(api_.blck_size)>(needb("ggml_blck_size"));
      api_.requires_imatrix =
          reinterpret_cast<decltype(api_.requires_imatrix)>(needb("ggml_quantize_requires_imatrix"));
      api_.type_traits = reinterpret_cast<decltype(api_.type_traits)>(dlsym(hb, "ggml_get_type_traits"));  // optional
      RegisterGgmlDequantizers(api_);
    }
    static std::once_flag once;
    std::call_once(once, [&] { api_.backend_init(); });
    // The handle is kept for the life of the process (never dlclose()d: node-llama-cpp may share it).
  }

 private:
  Napi::Value Quantize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      throw Napi::TypeError::New(env, "quantize(options): options must be an object");
    }
    Napi::Object o = info[0].As<Napi::Object>();
    auto str = [&](const char* key) -> std::string {
      Napi::Value v = o.Get(key);
      if (!v.IsString()) throw Napi::TypeError::New(env, std::string("quantize: '") + key + "' must be a string");
      return v.As<Napi::String>();
    };
    auto boolean = [&](const char* key, bool dflt) -> bool {
      Napi::Value v = o.Get(key);
      return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
    };
    std::string input = str("input");
    std::string output = str("output");
    Napi::Value ft = o.Get("ftype");
    if (!ft.IsNumber()) throw Napi::TypeError::New(env, "quantize: 'ftype' must be a number (llama_ftype)");
    llama_model_quantize_params p = api_.default_params();
    p.ftype = static_cast<llama_ftype>(ft.As<Napi::Number>().Int32Value());
    Napi::Value th = o.Get("threads");
    if (th.IsNumber()) p.nthread = th.As<Napi::Number>().Int32Value();
    p.allow_requantize = boolean("allowRequantize", p.allow_requantize);
    p.pure = boolean("pure", p.pure);
    p.dry_run = boolean("dryRun", p.dry_run);
    auto* w = new QuantizeWorker(env, api_, std::move(input), std::move(output), p, o.Get("onTensor"));
    Napi::Promise promise = w->Promise();
    w->Queue();
    return promise;
  }

  Napi::Value QuantizeRows(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!api_.quantize_chunk) {
      throw Napi::Error::New(
          env, "quantizeRows: this Quantizer was created without libggml-base (new Quantizer(libllama, libggmlBase))");
    }
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsNumber()) {
      throw Napi::TypeError::New(env, "quantizeRows(ggmlType, f32: Float32Array, nPerRow, threads?)");
    }
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env, "quantizeRows: data must be a Float32Array");
    Napi::Float32Array src = info[1].As<Napi::Float32Array>();
    const int type = info[0].As<Napi::Number>().Int32Value();
    const int64_t n_per_row = info[2].As<Napi::Number>().Int64Value();
    const int threads =
        info.Length() >= 4 && info[3].IsNumber() ? std::max(1, info[3].As<Napi::Number>().Int32Value()) : 1;
    if (type < 0 || type >= GGML_TYPE_COUNT)
      throw Napi::RangeError::New(env, "quantizeRows: unknown ggml type " + std::to_string(type));
    if (n_per_row <= 0 || static_cast<int64_t>(src.ElementLength()) % n_per_row != 0) {
      throw Napi::RangeError::New(env, "quantizeRows: data length " + std::to_string(src.ElementLength()) +
                                           " is not a multiple of the row length " + std::to_string(n_per_row));
    }
    if (api_.requires_imatrix(static_cast<ggml_type>(type))) {
      throw Napi::Error::New(env, "quantizeRows: ggml type " + std::to_string(type) + " needs an importance matrix");
    }
    const int64_t blck = api_.blck_size(static_cast<ggml_type>(type));
    if (blck <= 0 || n_per_row % blck != 0) {
      throw Napi::RangeError::New(env, "quantizeRows: rows of " + std::to_string(n_per_row) +
                                           " values are not a multiple of ggml type " + std::to_string(type) +
                                           "'s block of " + std::to_string(blck));
    }
    const size_t row_bytes = api_.row_size(static_cast<ggml_type>(type), n_per_row);
    const int64_t nrows = static_cast<int64_t>(src.ElementLength()) / n_per_row;
    Napi::Buffer<uint8_t> dst = Napi::Buffer<uint8_t>::New(env, row_bytes * static_cast<size_t>(nrows));
    auto* w = new QuantizeRowsWorker(env, api_, type, src, n_per_row, nrows, dst, row_bytes, threads);
    Napi::Promise promise = w->Promise();
    w->Queue();
    return promise;
  }

  Napi::Value Dequantize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsNumber() ||
        !info[3].IsNumber()) {
      throw Napi::TypeError::New(env, "dequantize(ggmlType, bytes: Uint8Array, n, source: 0 | 1 | 2)");
    }
    const int type = info[0].As<Napi::Number>().Int32Value();
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    const int64_t n = info[2].As<Napi::Number>().Int64Value();
    const int source = info[3].As<Napi::Number>().Int32Value();
    const size_t need = n > 0 ? sf_dtype_bytes(SF_GGML_TYPE(type), n) : 0;
    if (n <= 0 || need == 0 || ta.ByteLength() < need) {
      throw Napi::RangeError::New(env, "dequantize: " + std::to_string(n) + " values of ggml type " +
                                           std::to_string(type) +
                                           " are not whole blocks of a known type, or need more than the " +
                                           std::to_string(ta.ByteLength()) + " bytes given");
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(n));
    const uint8_t* p = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    if (sf_dequantize(SF_GGML_TYPE(type), p, out.Data(), n, source) != 0) {
      throw Napi::Error::New(env, "dequantize: no dequantizer for ggml type " + std::to_string(type) + " from source " +
                                      std::to_string(source));
    }
    return out;
  }

  LlamaApi api_;
};

void InitQuantizer(Napi::Env env, Napi::Object exports) {
  exports.Set("quantizerBuilt", Napi::Boolean::New(env, true));
  exports.Set("Quantizer", Quantizer::Define(env));
}

#else

void InitQuantizer(Napi::Env env, Napi::Object exports) {
  exports.Set("quantizerBuilt", Napi::Boolean::New(env, false));
}

#endif

}  // namespace sqlfocus_addon
