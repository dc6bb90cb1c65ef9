// The MPI backend: Open MPI's libmpi opened at run time.
//
// Why dlopen instead of linking: (1) one addon binary (a prebuilt one included) runs on machines with and without
// MPI; libmpi is touched only when a launcher says the world has more than one rank; (2) Open MPI loads its
// components (mca_*.so) with dlopen and they resolve symbols of libmpi/libopen-pal globally, so libmpi must be in
// the global namespace: Node opens addons with RTLD_LOCAL, so a linked libmpi would be invisible to them (the same
// trap mpi4py documents). Opening it ourselves with RTLD_NOW | RTLD_GLOBAL solves both.
//
// The price: no <mpi.h> at build time, so the few entry points and handles used are declared here for Open MPI's
// ABI (libmpi.so.40, stable from Open MPI 3.0 through 5.x): handles are pointers to the library's predefined objects
// (ompi_mpi_comm_world, ompi_mpi_float, ompi_mpi_op_sum, …), MPI_IN_PLACE is (void*)1. Where CMake finds <mpi.h>,
// native/tests/comm_mpi_test.cpp checks these against the header's macros. MPICH-ABI libraries (libmpi.so.12) use
// integer handles and are refused with a clear error.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <type_traits>

#include "comm/comm.h"

#if !defined(SQLFOCUS_NO_MPI) && (defined(__unix__) || defined(__APPLE__))
#define SF_HAVE_DLOPEN 1
#include <dlfcn.h>
#include <unistd.h>
#endif

namespace sf::comm {

#ifdef SF_HAVE_DLOPEN
namespace {

// Open MPI's ABI: opaque pointer handles.
using Handle = void*;
constexpr int kThreadSerialized = 2;  // MPI_THREAD_SINGLE, FUNNELED, SERIALIZED, MULTIPLE = 0..3
constexpr int kSuccess = 0;
void* const kInPlace = reinterpret_cast<void*>(1);

struct MpiLib {
  void* dl = nullptr;
  std::string path, version, error;
  int (*Init_thread)(int*, char***, int, int*) = nullptr;
  int (*Initialized)(int*) = nullptr;
  int (*Finalized)(int*) = nullptr;
  int (*Finalize)() = nullptr;
  int (*Comm_rank)(Handle, int*) = nullptr;
  int (*Comm_size)(Handle, int*) = nullptr;
  int (*Comm_set_errhandler)(Handle, Handle) = nullptr;
  int (*Iallreduce)(const void*, void*, int, Handle, Handle, Handle, Handle*) = nullptr;
  int (*Ibcast)(void*, int, Handle, int, Handle, Handle*) = nullptr;
  int (*Iallgather)(const void*, int, Handle, void*, int, Handle, Handle, Handle*) = nullptr;
  int (*Test)(Handle*, int*, void*) = nullptr;
  int (*Abort)(Handle, int) = nullptr;
  int (*Error_string)(int, char*, int*) = nullptr;
  int (*Get_library_version)(char*, int*) = nullptr;
  Handle comm_world = nullptr, errors_return = nullptr;
  Handle t_float = nullptr, t_double = nullptr, t_byte = nullptr;
  Handle op_sum = nullptr, op_max = nullptr, op_min = nullptr;
};

std::once_flag g_load_once;
MpiLib g_lib;
std::mutex g_init_mutex;
bool g_initialized_by_us = false;

std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* p = std::getenv("SQLFOCUS_MPI_LIBRARY"); p && *p) return {p};
#ifdef __APPLE__
  const char* names[] = {"libmpi.40.dylib", "libmpi.dylib"};
#else
  const char* names[] = {"libmpi.so.40", "libmpi.so"};
#endif
  for (const char* n : names) out.push_back(n);
  for (const char* var : {"OPAL_PREFIX", "MPI_HOME", "MPI_ROOT", "OMPI_HOME"}) {
    const char* prefix = std::getenv(var);
    if (!prefix || !*prefix) continue;
    for (const char* lib : {"/lib/", "/lib64/"})
      for (const char* n : names) out.push_back(std::string(prefix) + lib + n);
  }
  return out;
}

void load() {
  MpiLib& L = g_lib;
  std::string tried;
  for (const std::string& c : candidates()) {
    void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (h) {
      L.dl = h;
      L.path = c;
      break;
    }
    const char* e = dlerror();
    tried += (tried.empty() ? "" : "; ") + std::string(e ? e : c.c_str());
  }
  if (!L.dl) {
    L.error =
        "Open MPI's libmpi could not be loaded (" + tried +
        "). Install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev) or set SQLFOCUS_MPI_LIBRARY "
        "to its libmpi.so.40";
    return;
  }
  // The global scope first: where a program links libmpi itself and uses a predefined object, the live object is
  // the program's copy (a copy relocation), not the library's own.
  auto sym = [&](const char* name) -> void* {
    void* p = dlsym(RTLD_DEFAULT, name);
    return p ? p : dlsym(L.dl, name);
  };
  if (!sym("ompi_mpi_comm_world")) {
    L.error =
        L.path +
        " is not Open MPI (no ompi_mpi_comm_world): sqlfocus's MPI backend speaks Open MPI's ABI "
        "(libmpi.so.40); MPICH-family libraries are not supported. Point SQLFOCUS_MPI_LIBRARY at Open MPI's libmpi";
    return;
  }
  bool ok = true;
  auto fn = [&](auto& f, const char* name) {
    f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(sym(name));
    if (!f) {
      ok = false;
      L.error += std::string(L.error.empty() ? "" : ", ") + name;
    }
  };
  fn(L.Init_thread, "MPI_Init_thread");
  fn(L.Initialized, "MPI_Initialized");
  fn(L.Finalized, "MPI_Finalized");
  fn(L.Finalize, "MPI_Finalize");
  fn(L.Comm_rank, "MPI_Comm_rank");
  fn(L.Comm_size, "MPI_Comm_size");
  fn(L.Comm_set_errhandler, "MPI_Comm_set_errhandler");
  fn(L.Iallreduce, "MPI_Iallreduce");
  fn(L.Ibcast, "MPI_Ibcast");
  fn(L.Iallgather, "MPI_Iallgather");
  fn(L.Test, "MPI_Test");
  fn(L.Abort, "MPI_Abort");
  fn(L.Error_string, "MPI_Error_string");
  fn(L.Get_library_version, "MPI_Get_library_version");
  auto obj = [&](Handle& h, const char* name) {
    h = sym(name);
    if (!h) {
      ok = false;
      L.error += std::string(L.error.empty() ? "" : ", ") + name;
    }
  };
  obj(L.comm_world, "ompi_mpi_comm_world");
  obj(L.errors_return, "ompi_mpi_errors_return");
  obj(L.t_float, "ompi_mpi_float");
  obj(L.t_double, "ompi_mpi_double");
  obj(L.t_byte, "ompi_mpi_byte");
  obj(L.op_sum, "ompi_mpi_op_sum");
  obj(L.op_max, "ompi_mpi_op_max");
  obj(L.op_min, "ompi_mpi_op_min");
  if (!ok) {
    L.error = L.path + " lacks " + L.error + " (an Open MPI older than 3.0?)";
    dlclose(L.dl);
    L.dl = nullptr;
    return;
  }
  char v[8192] = {0};
  int len = 0;
  if (L.Get_library_version(v, &len) == kSuccess) {
    L.version = std::string(v, size_t(std::max(0, std::min(len, int(sizeof v)))));
    while (!L.version.empty() && (L.version.back() == '\n' || L.version.back() == '\0')) L.version.pop_back();
    size_t comma = L.version.find(',');
    if (comma != std::string::npos) L.version = L.version.substr(0, comma);
  }
}

const MpiLib& lib() {
  std::call_once(g_load_once, load);
  return g_lib;
}

std::string error_string(int rc) {
  char buf[1024] = {0};
  int len = 0;
  if (g_lib.Error_string && g_lib.Error_string(rc, buf, &len) == kSuccess)
    return std::string(buf, size_t(std::max(0, len)));
  return "MPI error " + std::to_string(rc);
}

Handle dtype(DType t) {
  switch (t) {
    case DType::F32:
      return g_lib.t_float;
    case DType::F64:
      return g_lib.t_double;
    case DType::U8:
      return g_lib.t_byte;
  }
  return nullptr;
}
size_t dsize(DType t) { return t == DType::F64 ? 8 : t == DType::F32 ? 4 : 1; }
Handle op_of(Op o) { return o == Op::Sum ? g_lib.op_sum : o == Op::Max ? g_lib.op_max : g_lib.op_min; }

class MpiComm final : public Communicator {
 public:
  explicit MpiComm(const WatchOptions& opt) : opt_(opt) {
    const MpiLib& L = lib();
    call(L.Comm_rank(L.comm_world, &rank_), "MPI_Comm_rank");
    call(L.Comm_size(L.comm_world, &size_), "MPI_Comm_size");
    // Who runs where: the local rank (rank among the ranks on this host) and the pids the watchdog checks.
    const size_t kHost = 128;
    std::vector<char> mine(kHost + 8, 0), all((kHost + 8) * size_t(size_), 0);
    std::string host = PeerWatch::this_host().substr(0, kHost - 1);
    std::memcpy(mine.data(), host.data(), host.size());
    int64_t pid = int64_t(getpid());
    std::memcpy(mine.data() + kHost, &pid, 8);
    Handle req = nullptr;
    call(L.Iallgather(mine.data(), int(mine.size()), L.t_byte, all.data(), int(mine.size()), L.t_byte, L.comm_world,
                      &req),
         "MPI_Iallgather");
    wait(req, "start-up (exchanging hosts)");
    std::vector<Peer> peers(static_cast<size_t>(size_));
    local_rank_ = 0;
    for (int r = 0; r < size_; r++) {
      const char* p = all.data() + size_t(r) * (kHost + 8);
      peers[size_t(r)].host = std::string(p, strnlen(p, kHost));
      std::memcpy(&peers[size_t(r)].pid, p + kHost, 8);
      if (r < rank_ && peers[size_t(r)].host == host) local_rank_++;
    }
    watch_ = PeerWatch(std::move(peers), rank_);
  }

  const char* backend() const override { return "mpi"; }

  void allreduce(void* data, size_t count, DType type, Op op) override {
    usable("allreduce");
    if (type == DType::U8) throw CommError("ERR_SQLFOCUS_COMM", "allreduce: bytes cannot be summed");
    const MpiLib& L = g_lib;
    auto* p = static_cast<uint8_t*>(data);
    const size_t chunk = size_t(1) << 30;  // MPI counts are int
    for (size_t off = 0; off < count; off += chunk) {
      int n = int(std::min(chunk, count - off));
      Handle req = nullptr;
      call(L.Iallreduce(kInPlace, p + off * dsize(type), n, dtype(type), op_of(op), L.comm_world, &req),
           "MPI_Iallreduce");
      wait(req, "all-reduce");
    }
  }

  void broadcast(void* data, size_t bytes, int root) override {
    usable("broadcast");
    const MpiLib& L = g_lib;
    auto* p = static_cast<uint8_t*>(data);
    const size_t chunk = size_t(1) << 30;
    for (size_t off = 0; off < bytes || (bytes == 0 && off == 0); off += chunk) {
      int n = int(std::min(chunk, bytes - off));
      Handle req = nullptr;
      call(L.Ibcast(p + off, n, L.t_byte, root, L.comm_world, &req), "MPI_Ibcast");
      wait(req, "broadcast");
      if (bytes == 0) break;
    }
  }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    g_lib.Abort(g_lib.comm_world, code);
    _exit(code);  // MPI_Abort does not return; if it did, end this rank anyway
  }

 private:
  WatchOptions opt_;
  PeerWatch watch_;

  void usable(const char* what) const {
    if (broken_)
      throw CommError("ERR_SQLFOCUS_COMM",
                      std::string(what) + ": the MPI communicator failed earlier; the job must restart");
  }
  void call(int rc, const char* what) {
    if (rc == kSuccess) return;
    broken_ = true;
    throw CommError("ERR_SQLFOCUS_COMM", std::string(what) + " failed: " + error_string(rc));
  }
  void wait(Handle req, const char* during) {
    int rc = kSuccess, flag = 0;
    try {
      wait_with_watchdog(
          [&] {
            rc = g_lib.Test(&req, &flag, nullptr);
            return rc != kSuccess || flag != 0;
          },
          [&] { watch_.check(during); }, opt_, during);
    } catch (...) {
      broken_ = true;
      throw;
    }
    if (rc != kSuccess) {
      broken_ = true;
      throw CommError("ERR_SQLFOCUS_RANK_LOST",
                      std::string(during) + " failed: " + error_string(rc) + " (a rank is gone or unreachable)");
    }
  }
};

}  // namespace

bool mpi_supported() { return true; }

MpiInfo mpi_probe() {
  const MpiLib& L = lib();
  MpiInfo i;
  i.available = L.dl != nullptr;
  i.library = L.path;
  i.version = L.version;
  i.error = L.error;
  return i;
}

std::unique_ptr<Communicator> mpi_init(const WatchOptions& opt) {
  const MpiLib& L = lib();
  if (!L.dl) throw CommError("ERR_SQLFOCUS_NO_MPI", L.error);
  std::lock_guard<std::mutex> lock(g_init_mutex);
  int inited = 0, finalized = 0;
  L.Initialized(&inited);
  L.Finalized(&finalized);
  if (finalized)
    throw CommError("ERR_SQLFOCUS_COMM",
                    "MPI was already finalised in this process (one training job per MPI process)");
  if (!inited) {
    int provided = 0;
    int rc = L.Init_thread(nullptr, nullptr, kThreadSerialized, &provided);
    if (rc != kSuccess) throw CommError("ERR_SQLFOCUS_COMM", "MPI_Init_thread failed: " + error_string(rc));
    g_initialized_by_us = true;
    if (provided < kThreadSerialized)
      throw CommError("ERR_SQLFOCUS_COMM",
                      "the MPI library gives thread level " + std::to_string(provided) +
                          ", sqlfocus needs MPI_THREAD_SERIALIZED (calls come from Node's worker threads)");
  }
  // Errors come back as return codes (turned into CommError) instead of aborting the job from inside a call.
  L.Comm_set_errhandler(L.comm_world, L.errors_return);
  return std::make_unique<MpiComm>(opt);
}

void mpi_finalize() {
  if (!g_lib.dl) return;
  std::lock_guard<std::mutex> lock(g_init_mutex);
  int inited = 0, finalized = 0;
  g_lib.Initialized(&inited);
  g_lib.Finalized(&finalized);
  if (inited && !finalized && g_initialized_by_us) g_lib.Finalize();
}

#else  // no MPI support in this build

bool mpi_supported() { return false; }
MpiInfo mpi_probe() {
  MpiInfo i;
  i.error = "this build of sqlfocus has no MPI support (built with SQLFOCUS_MPI=OFF, or on a system without dlopen)";
  return i;
}
std::unique_ptr<Communicator> mpi_init(const WatchOptions&) {
  throw CommError("ERR_SQLFOCUS_NO_MPI", mpi_probe().error);
}
void mpi_finalize() {}

#endif

}  // namespace sf::comm
