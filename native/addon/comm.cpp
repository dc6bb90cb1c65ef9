// class Communicator: the JS face of native/comm (data-parallel collectives over MPI or NCCL), and mpiProbe() /
// mpiFinalize(). Collectives run in Napi::AsyncWorkers (one at a time per communicator); the gradient all-reduce
// borrows a Trainer's flat LoRA gradient buffer while it runs. Failures reject with err.code = ERR_SQLFOCUS_*.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "comm/comm.h"

namespace sqlfocus_addon {

namespace {

namespace comm = sf::comm;

Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

comm::Op ParseOp(Napi::Env env, Napi::Value v) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : v.IsUndefined() ? "sum" : "";
  if (s == "sum") return comm::Op::Sum;
  if (s == "max") return comm::Op::Max;
  if (s == "min") return comm::Op::Min;
  throw Napi::TypeError::New(env, "op must be 'sum', 'max' or 'min'");
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

class Communicator : public Napi::ObjectWrap<Communicator> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "Communicator",
        {InstanceAccessor("rank", &Communicator::Rank, nullptr), InstanceAccessor("size", &Communicator::Size, nullptr),
         InstanceAccessor("localRank", &Communicator::LocalRank, nullptr),
         InstanceAccessor("backend", &Communicator::Backend, nullptr),
         InstanceAccessor("ncclError", &Communicator::NcclError, nullptr),
         InstanceMethod("allreduce", &Communicator::Allreduce),
         InstanceMethod("allreduceGradients", &Communicator::AllreduceGradients),
         InstanceMethod("broadcast", &Communicator::Broadcast), InstanceMethod("abort", &Communicator::Abort)});
  }
  explicit Communicator(const Napi::CallbackInfo& info);

  std::unique_ptr<comm::Communicator> mpi_;   // MPI (also the NCCL bootstrap and its host reductions)
  std::unique_ptr<comm::Communicator> nccl_;  // NCCL, for device gradients
  std::string nccl_error_;                    // why NCCL was asked for and is not there (MPI carries on)
  bool busy_ = false;

  comm::Communicator& Main() { return nccl_ ? *nccl_ : *mpi_; }
  void Ready(Napi::Env env, const char* method) {
    if (busy_)
      throw Napi::Error::New(
          env, std::string("Communicator.") + method + ": another collective is still running (await it first)");
  }

 private:
  Napi::Value Rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Main().rank()); }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Main().size()); }
  Napi::Value LocalRank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Main().local_rank()); }
  Napi::Value Backend(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), Main().backend()); }
  Napi::Value NcclError(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), nccl_error_); }
  Napi::Value Allreduce(const Napi::CallbackInfo& info);
  Napi::Value AllreduceGradients(const Napi::CallbackInfo& info);
  Napi::Value Broadcast(const Napi::CallbackInfo& info);
  void Abort(const Napi::CallbackInfo& info) {
    int code = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
    Main().abort(code);
  }
};

static double OptNumber(Napi::Object o, const char* key, double def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsNumber())
    throw Napi::TypeError::New(o.Env(), std::string("Communicator options.") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

Communicator::Communicator(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Communicator>(info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  std::string backend = o.Get("backend").IsString() ? o.Get("backend").As<Napi::String>().Utf8Value() : "mpi";
  comm::WatchOptions watch;
  watch.timeout_s = OptNumber(o, "timeoutS", watch.timeout_s);
  watch.check_every_s = OptNumber(o, "checkEveryS", watch.check_every_s);
  if (!(watch.check_every_s > 0)) throw Napi::RangeError::New(env, "Communicator options.checkEveryS must be > 0");
  bool use_mpi = o.Get("mpi").IsUndefined() ? true : o.Get("mpi").ToBoolean().Value();
  try {
    if (backend == "mpi") {
      mpi_ = comm::mpi_init(watch);
    } else if (backend == "nccl") {
      comm::NcclOptions no;
      no.watch = watch;
      no.device = int(OptNumber(o, "device", 0));
      if (use_mpi) {
        mpi_ = comm::mpi_init(watch);
        no.rank = mpi_->rank(), no.size = mpi_->size(), no.local_rank = mpi_->local_rank();
        // With MPI, a missing libnccl is not fatal when asked so: GPU gradients then go through host memory.
        bool fallback = o.Get("ncclFallback").ToBoolean().Value();
        try {
          nccl_ = comm::nccl_init(no, mpi_.get());
        } catch (const comm::CommError& e) {
          if (!fallback || e.code != "ERR_SQLFOCUS_NO_NCCL") throw;
          nccl_error_ = e.what();
        }
      } else {
        no.rank = int(OptNumber(o, "rank", 0)), no.size = int(OptNumber(o, "size", 1)),
        no.local_rank = int(OptNumber(o, "localRank", 0));
        no.id_via = o.Get("idVia").IsString() ? o.Get("idVia").As<Napi::String>().Utf8Value() : "";
        if (no.size < 1 || no.rank < 0 || no.rank >= no.size)
          throw Napi::RangeError::New(env, "Communicator: rank must be in 0..size-1");
        nccl_ = comm::nccl_init(no, nullptr);
      }
    } else {
      throw Napi::TypeError::New(env, "Communicator options.backend must be 'mpi' or 'nccl'");
    }
  } catch (const comm::CommError& e) { throw CodedError(env, e.code, e.what()); }
}

// ---- async collectives
// -----------------------------------------------------------------------------------------------
class CommWorker : public Napi::AsyncWorker {
 public:
  CommWorker(Napi::Env env, Communicator* owner, Napi::Object self)
      : Napi::AsyncWorker(env), deferred(Napi::Promise::Deferred::New(env)), owner_(owner) {
    self_ = Napi::Persistent(self);
    owner_->busy_ = true;
  }
  Napi::Promise::Deferred deferred;
  std::function<void()> work;  // runs on the worker thread
  Napi::ObjectReference keep;  // the typed array being reduced
  TrainerLease lease;          // the trainer whose gradients are reduced, if any
  double bytes = 0;

  void Execute() override {
    auto t0 = std::chrono::steady_clock::now();
    try {
      work();
    } catch (const comm::CommError& e) {
      code_ = e.code;
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = "ERR_SQLFOCUS_COMM";
      SetError(e.what());
    }
    seconds_ = Seconds(t0);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Done();
    Napi::Object r = Napi::Object::New(env);
    r.Set("ms", seconds_ * 1000);
    r.Set("bytes", bytes);
    deferred.Resolve(r);
  }
  void OnError(const Napi::Error& e) override {
    Napi::Env env = Env();
    Done();
    deferred.Reject(CodedError(env, code_, e.Message()).Value());
  }

 private:
  void Done() {
    owner_->busy_ = false;
    ReturnTrainer(lease);
    keep.Reset();
    self_.Reset();
  }
  Communicator* owner_;
  Napi::ObjectReference self_;
  std::string code_;
  double seconds_ = 0;
};

Napi::Value Communicator::Allreduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ready(env, "allreduce");
  if (!info[0].IsTypedArray())
    throw Napi::TypeError::New(env, "allreduce(data, op): data must be a Float32Array or Float64Array");
  Napi::TypedArray a = info[0].As<Napi::TypedArray>();
  comm::DType type;
  if (a.TypedArrayType() == napi_float32_array)
    type = comm::DType::F32;
  else if (a.TypedArrayType() == napi_float64_array)
    type = comm::DType::F64;
  else
    throw Napi::TypeError::New(env, "allreduce(data, op): data must be a Float32Array or Float64Array");
  comm::Op op = ParseOp(env, info[1]);
  void* data = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  size_t n = a.ElementLength();
  auto* w = new CommWorker(env, this, info.This().As<Napi::Object>());
  w->keep = Napi::Persistent(a.As<Napi::Object>());
  w->bytes = double(a.ByteLength());
  comm::Communicator* c = &Main();
  w->work = [c, data, n, type, op] { c->allreduce(data, n, type, op); };
  auto promise = w->deferred.Promise();
  w->Queue();
  return promise;
}

/** Sums the trainer's LoRA gradients over all ranks, in place (between the last forwardBackward and optimizerStep):
 *  host memory over MPI; GPU memory (CUDA engine) over NCCL, or without NCCL copied through host memory over MPI. */
Napi::Value Communicator::AllreduceGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ready(env, "allreduceGradients");
  TrainerLease lease = LeaseTrainer(env, info[0], "allreduceGradients");
  float* grads = lease.grads;
  size_t count = lease.grad_count;
  sf_trainer* engine = lease.engine;
  bool device = lease.grads_on_device;
  bool nccl = device && nccl_ && nccl_->device_buffers();
  if (device && !nccl && !mpi_) {
    ReturnTrainer(lease);
    throw CodedError(env, "ERR_SQLFOCUS_NO_NCCL",
                     "allreduceGradients: the CUDA engine's gradients are in GPU memory and this communicator has "
                     "neither NCCL nor MPI");
  }
  auto* w = new CommWorker(env, this, info.This().As<Napi::Object>());
  w->lease = std::move(lease);
  w->bytes = double(count * sizeof(float));
  comm::Communicator* c = nccl ? nccl_.get() : mpi_ ? mpi_.get() : nccl_.get();
  w->work = [c, grads, count, device, nccl, engine] {
    if (nccl) {
      c->allreduce_device(grads, count, comm::DType::F32, comm::Op::Sum, nullptr);
    } else if (device) {
      std::vector<float> host(count);
      if (sf_trainer_read_lora(engine, SF_LORA_GRADS, 0, count, host.data()) != SF_OK)
        throw comm::CommError("ERR_SQLFOCUS_COMM",
                              std::string("reading the gradients: ") + sf_trainer_last_error(engine));
      c->allreduce(host.data(), count, comm::DType::F32, comm::Op::Sum);
      if (sf_trainer_write_lora(engine, SF_LORA_GRADS, 0, count, host.data()) != SF_OK)
        throw comm::CommError("ERR_SQLFOCUS_COMM",
                              std::string("writing the gradients: ") + sf_trainer_last_error(engine));
    } else {
      c->allreduce(grads, count, comm::DType::F32, comm::Op::Sum);
    }
  };
  auto promise = w->deferred.Promise();
  w->Queue();
  return promise;
}

Napi::Value Communicator::Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ready(env, "broadcast");
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "broadcast(data, root): data must be a Uint8Array");
  Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
  int root = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (root < 0 || root >= Main().size()) throw Napi::RangeError::New(env, "broadcast(data, root): root must be a rank");
  auto* w = new CommWorker(env, this, info.This().As<Napi::Object>());
  w->keep = Napi::Persistent(a.As<Napi::Object>());
  w->bytes = double(a.ByteLength());
  comm::Communicator* c = &Main();
  uint8_t* data = a.Data();
  size_t bytes = a.ByteLength();
  w->work = [c, data, bytes, root] { c->broadcast(data, bytes, root); };
  auto promise = w->deferred.Promise();
  w->Queue();
  return promise;
}

// ---- module functions
// -------------------------------------------------------------------------------------------------- mpiProbe() -> {
// supported, available, library, version, error }: loads libmpi if it can, initialises nothing.
static Napi::Value MpiProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  comm::MpiInfo i = comm::mpi_probe();
  Napi::Object o = Napi::Object::New(env);
  o.Set("supported", comm::mpi_supported());
  o.Set("available", i.available);
  o.Set("library", i.library);
  o.Set("version", i.version);
  o.Set("error", i.error);
  o.Set("nccl", comm::nccl_supported());
  return o;
}

static void MpiFinalize(const Napi::CallbackInfo&) { comm::mpi_finalize(); }

void InitComm(Napi::Env env, Napi::Object exports) {
  exports.Set("Communicator", Communicator::Define(env));
  exports.Set("mpiProbe", Napi::Function::New(env, MpiProbe, "mpiProbe"));
  exports.Set("mpiFinalize", Napi::Function::New(env, MpiFinalize, "mpiFinalize"));
}

}  // namespace sqlfocus_addon
