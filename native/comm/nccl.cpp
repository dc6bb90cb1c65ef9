// The NCCL backend (CUDA builds): the LoRA gradients are summed in device memory on the trainer's stream.
// libnccl.so.2 is opened at run time (see nccl_api.h). The communicator comes from rank 0's ncclUniqueId, which
// reaches the other ranks over MPI (MPI_Bcast, when launched by mpirun/srun with Open MPI), or without MPI over TCP
// (rank 0 listens) or a shared file, as llm.c's zero.cuh does. Waits poll the stream and ncclCommGetAsyncError with
// the watchdog of comm.cpp; on a dead peer or a timeout the communicator is aborted (ncclCommAbort) so that no
// kernel spins forever, and CommError is thrown.
#include "comm/comm.h"

#ifdef SQLFOCUS_WITH_CUDA
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <type_traits>

#include "comm/nccl_api.h"

#if defined(__has_include)
#if __has_include(<nccl.h>)
#include <nccl.h>
static_assert(NCCL_UNIQUE_ID_BYTES == sf::comm::nccl_api::kUniqueIdBytes, "nccl_api.h: unique id size");
static_assert(int(ncclSuccess) == sf::comm::nccl_api::kSuccess &&
                  int(ncclInProgress) == sf::comm::nccl_api::kInProgress,
              "nccl_api.h: results");
static_assert(int(ncclUint8) == sf::comm::nccl_api::kUint8 && int(ncclFloat32) == sf::comm::nccl_api::kFloat32 &&
                  int(ncclFloat64) == sf::comm::nccl_api::kFloat64,
              "nccl_api.h: data types");
static_assert(int(ncclSum) == sf::comm::nccl_api::kSum && int(ncclMax) == sf::comm::nccl_api::kMax &&
                  int(ncclMin) == sf::comm::nccl_api::kMin,
              "nccl_api.h: reduction ops");
#endif
#endif

namespace sf::comm {

namespace {
namespace na = nccl_api;

struct NcclLib {
  void* dl = nullptr;
  std::string error;
  int version = 0;
  na::GetVersionFn GetVersion = nullptr;
  na::GetUniqueIdFn GetUniqueId = nullptr;
  na::CommInitRankFn CommInitRank = nullptr;
  na::AllReduceFn AllReduce = nullptr;
  na::AllGatherFn AllGather = nullptr;
  na::BroadcastFn Broadcast = nullptr;
  na::CommGetAsyncErrorFn CommGetAsyncError = nullptr;
  na::CommAbortFn CommAbort = nullptr;
  na::CommDestroyFn CommDestroy = nullptr;
  na::GetErrorStringFn GetErrorString = nullptr;
};
std::once_flag g_once;
NcclLib g_nccl;

void load_nccl() {
  NcclLib& L = g_nccl;
  std::string tried;
  std::vector<std::string> names;
  if (const char* p = std::getenv("SQLFOCUS_NCCL_LIBRARY"); p && *p)
    names.push_back(p);
  else
    names = {"libnccl.so.2", "libnccl.so"};
  for (const std::string& n : names) {
    L.dl = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (L.dl) break;
    const char* e = dlerror();
    tried += (tried.empty() ? "" : "; ") + std::string(e ? e : n.c_str());
  }
  if (!L.dl) {
    L.error = "NCCL could not be loaded (" + tried +
              "). Install NCCL (libnccl2, or the nvidia-nccl-cu12 wheel's "
              "libnccl.so.2 on LD_LIBRARY_PATH) or set SQLFOCUS_NCCL_LIBRARY";
    return;
  }
  std::string missing;
  auto fn = [&](auto& f, const char* name) {
    f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(L.dl, name));
    if (!f) missing += std::string(missing.empty() ? "" : ", ") + name;
  };
  fn(L.GetVersion, "ncclGetVersion");
  fn(L.GetUniqueId, "ncclGetUniqueId");
  fn(L.CommInitRank, "ncclCommInitRank");
  fn(L.AllReduce, "ncclAllReduce");
  fn(L.AllGather, "ncclAllGather");
  fn(L.Broadcast, "ncclBroadcast");
  fn(L.CommGetAsyncError, "ncclCommGetAsyncError");
  fn(L.CommAbort, "ncclCommAbort");
  fn(L.CommDestroy, "ncclCommDestroy");
  fn(L.GetErrorString, "ncclGetErrorString");
  if (!missing.empty()) {
    L.error = "the NCCL library lacks " + missing + " (NCCL 2.4 or newer is needed)";
    dlclose(L.dl);
    L.dl = nullptr;
    return;
  }
  L.GetVersion(&L.version);
}

std::string nccl_error(int rc) {
  const char* s = g_nccl.GetErrorString ? g_nccl.GetErrorString(rc) : nullptr;
  return s ? s : "NCCL error " + std::to_string(rc);
}
void cuda_call(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw CommError("ERR_SQLFOCUS_COMM", std::string(what) + ": " + cudaGetErrorString(e));
}
int nccl_type(DType t) { return t == DType::F64 ? na::kFloat64 : t == DType::F32 ? na::kFloat32 : na::kUint8; }
int nccl_op(Op o) { return o == Op::Sum ? na::kSum : o == Op::Max ? na::kMax : na::kMin; }
size_t dsize(DType t) { return t == DType::F64 ? 8 : t == DType::F32 ? 4 : 1; }

class NcclComm final : public Communicator {
 public:
  NcclComm(const NcclOptions& o, Communicator* bootstrap) : opt_(o.watch), host_(bootstrap), device_(o.device) {
    rank_ = o.rank, size_ = o.size, local_rank_ = o.local_rank;
    cuda_call(cudaSetDevice(device_), "cudaSetDevice");
    cuda_call(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    // rank 0's unique id → everybody
    na::UniqueId id{};
    if (rank_ == 0) check(g_nccl.GetUniqueId(&id), "ncclGetUniqueId");
    if (bootstrap) {
      bootstrap->broadcast(&id, sizeof id, 0);
    } else {
      std::vector<uint8_t> blob(sizeof id);
      std::memcpy(blob.data(), &id, sizeof id);
      exchange_blob(o.id_via, rank_, size_, blob, opt_);
      if (blob.size() != sizeof id)
        throw CommError("ERR_SQLFOCUS_COMM", "NCCL id exchange: got " + std::to_string(blob.size()) + " bytes");
      std::memcpy(&id, blob.data(), sizeof id);
    }
    check(g_nccl.CommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
    if (!bootstrap && rank_ == 0 && o.id_via.rfind("file://", 0) == 0) std::remove(o.id_via.substr(7).c_str());
    // hosts and pids for the watchdog
    const size_t kHost = 128;
    std::vector<uint8_t> mine(kHost + 8, 0), all((kHost + 8) * size_t(size_), 0);
    std::string host = PeerWatch::this_host().substr(0, kHost - 1);
    std::memcpy(mine.data(), host.data(), host.size());
    int64_t pid = int64_t(getpid());
    std::memcpy(mine.data() + kHost, &pid, 8);
    void* dev = scratch(all.size() + mine.size());
    uint8_t* dmine = static_cast<uint8_t*>(dev) + all.size();
    cuda_call(cudaMemcpyAsync(dmine, mine.data(), mine.size(), cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
    check(g_nccl.AllGather(dmine, dev, mine.size(), na::kUint8, comm_, stream_), "ncclAllGather");
    wait(stream_, "start-up (exchanging hosts)");
    cuda_call(cudaMemcpy(all.data(), dev, all.size(), cudaMemcpyDeviceToHost), "cudaMemcpy");
    std::vector<Peer> peers(static_cast<size_t>(size_));
    for (int r = 0; r < size_; r++) {
      const uint8_t* p = all.data() + size_t(r) * (kHost + 8);
      peers[size_t(r)].host =
          std::string(reinterpret_cast<const char*>(p), strnlen(reinterpret_cast<const char*>(p), kHost));
      std::memcpy(&peers[size_t(r)].pid, p + kHost, 8);
    }
    watch_ = PeerWatch(std::move(peers), rank_);
  }
  ~NcclComm() override {
    if (comm_) (broken_ ? g_nccl.CommAbort : g_nccl.CommDestroy)(comm_);
    if (scratch_) cudaFree(scratch_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  const char* backend() const override { return "nccl"; }
  bool device_buffers() const override { return true; }

  void allreduce_device(void* data, size_t count, DType type, Op op, void* stream) override {
    usable("allreduce");
    cudaStream_t s = stream ? static_cast<cudaStream_t>(stream) : stream_;
    check(g_nccl.AllReduce(data, data, count, nccl_type(type), nccl_op(op), comm_, s), "ncclAllReduce");
    wait(s, "all-reduce (NCCL)");
  }

  void allreduce(void* data, size_t count, DType type, Op op) override {
    if (host_) return host_->allreduce(data, count, type, op);
    usable("allreduce");
    size_t bytes = count * dsize(type);
    void* dev = scratch(bytes);
    cuda_call(cudaMemcpyAsync(dev, data, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
    check(g_nccl.AllReduce(dev, dev, count, nccl_type(type), nccl_op(op), comm_, stream_), "ncclAllReduce");
    wait(stream_, "all-reduce (NCCL)");
    cuda_call(cudaMemcpy(data, dev, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
  }

  void broadcast(void* data, size_t bytes, int root) override {
    if (host_) return host_->broadcast(data, bytes, root);
    usable("broadcast");
    void* dev = scratch(bytes);
    cuda_call(cudaMemcpyAsync(dev, data, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
    check(g_nccl.Broadcast(dev, dev, bytes, na::kUint8, root, comm_, stream_), "ncclBroadcast");
    wait(stream_, "broadcast (NCCL)");
    cuda_call(cudaMemcpy(data, dev, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
  }

  [[noreturn]] void abort(int code) override {
    if (comm_) g_nccl.CommAbort(comm_);
    comm_ = nullptr;
    if (host_) host_->abort(code);
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(code);
  }

 private:
  WatchOptions opt_;
  Communicator* host_;  // the MPI communicator that bootstrapped this one (host reductions go there), or null
  int device_;
  na::Comm comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  PeerWatch watch_;

  void* scratch(size_t bytes) {
    if (bytes > scratch_bytes_) {
      if (scratch_) cudaFree(scratch_);
      scratch_ = nullptr;
      cuda_call(cudaMalloc(&scratch_, bytes), "cudaMalloc (NCCL staging)");
      scratch_bytes_ = bytes;
    }
    return scratch_;
  }
  void usable(const char* what) const {
    if (broken_)
      throw CommError("ERR_SQLFOCUS_COMM",
                      std::string(what) + ": the NCCL communicator failed earlier; the job must restart");
  }
  void check(int rc, const char* what) {
    if (rc == na::kSuccess || rc == na::kInProgress) return;
    broken_ = true;
    throw CommError("ERR_SQLFOCUS_COMM", std::string(what) + " failed: " + nccl_error(rc));
  }
  void wait(cudaStream_t s, const char* during) {
    cudaError_t e = cudaSuccess;
    try {
      wait_with_watchdog(
          [&] {
            e = cudaStreamQuery(s);
            return e != cudaErrorNotReady;
          },
          [&] {
            int async = na::kSuccess;
            if (g_nccl.CommGetAsyncError(comm_, &async) == na::kSuccess && async != na::kSuccess &&
                async != na::kInProgress)
              throw CommError("ERR_SQLFOCUS_RANK_LOST",
                              std::string(during) + ": " + nccl_error(async) + " (a rank is gone or unreachable)");
            watch_.check(during);
          },
          opt_, during);
    } catch (...) {
      broken_ = true;
      g_nccl.CommAbort(comm_);  // unblocks the kernels waiting on the dead peer
      comm_ = nullptr;
      throw;
    }
    if (e != cudaSuccess) {
      broken_ = true;
      throw CommError("ERR_SQLFOCUS_COMM", std::string(during) + ": " + cudaGetErrorString(e));
    }
  }
};

}  // namespace

bool nccl_supported() { return true; }

std::unique_ptr<Communicator> nccl_init(const NcclOptions& opt, Communicator* bootstrap) {
  std::call_once(g_once, load_nccl);
  if (!g_nccl.dl) throw CommError("ERR_SQLFOCUS_NO_NCCL", g_nccl.error);
  if (!bootstrap && opt.id_via.empty())
    throw CommError("ERR_SQLFOCUS_COMM",
                    "NCCL without MPI needs SQLFOCUS_NCCL_ID=tcp://<rank 0 host>:<port> or file:///<shared path> "
                    "to hand rank 0's communicator id to the other ranks");
  return std::make_unique<NcclComm>(opt, bootstrap);
}

}  // namespace sf::comm

#else  // CPU build

namespace sf::comm {
bool nccl_supported() { return false; }
std::unique_ptr<Communicator> nccl_init(const NcclOptions&, Communicator*) {
  throw CommError("ERR_SQLFOCUS_NO_NCCL",
                  "this build of sqlfocus has no CUDA engine, so no NCCL (rebuild with SQLFOCUS_CUDA=on)");
}
}  // namespace sf::comm

#endif
