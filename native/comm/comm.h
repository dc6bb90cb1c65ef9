// Data-parallel collectives for training across processes and machines: the flat LoRA gradient buffer is
// summed over all ranks once per optimizer step, plus a few small reductions (loss sums, stop flags, checks).
// Knows nothing of Node or the engine. Two backends, same interface:
//   MPI   (mpi.cpp)   host memory; Open MPI's libmpi.so.40, opened at run time (dlopen, RTLD_GLOBAL), never
//                     linked, so one addon binary runs with and without MPI installed;
//   NCCL  (nccl.cpp)  device memory (CUDA builds); libnccl.so.2 opened at run time; the communicator's
//                     unique id reaches the ranks over MPI, TCP or a shared file (as llm.c's zero.cuh).
// Every wait polls with a watchdog: a rank that dies (a peer process on this host gone, the launcher gone) or a
// collective that does not finish within the timeout raises CommError instead of blocking forever.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sf::comm {

enum class DType { F32, F64, U8 };
enum class Op { Sum, Max, Min };

/** code: ERR_SQLFOCUS_NO_MPI (library missing or not Open MPI), ERR_SQLFOCUS_NO_NCCL, ERR_SQLFOCUS_RANK_LOST (a
 *  peer or the launcher died), ERR_SQLFOCUS_COMM_TIMEOUT, ERR_SQLFOCUS_COMM (any other failure). */
struct CommError : std::runtime_error {
  CommError(std::string code_, const std::string& msg) : std::runtime_error(msg), code(std::move(code_)) {}
  std::string code;
};

/** One rank's process, exchanged at start-up so that waits can notice a dead peer on the same host. */
struct Peer {
  std::string host;
  int64_t pid = 0;
};

struct WatchOptions {
  double timeout_s = 1800;     // a collective that takes longer fails (HF's ddp_timeout default)
  double check_every_s = 0.5;  // peer liveness checks while waiting
};

/** Liveness of the peers that share this host (kill(pid, 0) and /proc state), and of the launcher (the parent
 *  process). check() throws CommError(ERR_SQLFOCUS_RANK_LOST) naming the rank, pid and host that is gone. */
class PeerWatch {
 public:
  PeerWatch() = default;
  PeerWatch(std::vector<Peer> peers, int self);
  void check(const char* during) const;
  const std::vector<Peer>& peers() const { return peers_; }
  static std::string this_host();

 private:
  std::vector<Peer> peers_;
  int self_ = 0;
  int64_t parent_ = 0;
};

/** Polls done() until it returns true, calling watch() every opt.check_every_s; throws
 *  CommError(ERR_SQLFOCUS_COMM_TIMEOUT) after opt.timeout_s. Spins for a moment, then sleeps with a back-off up to
 *  1 ms (a rank waiting for a slow peer gives its core to the others). */
void wait_with_watchdog(const std::function<bool()>& done, const std::function<void()>& watch, const WatchOptions& opt,
                        const char* during);

class Communicator {
 public:
  virtual ~Communicator() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  virtual const char* backend() const = 0;
  /** In place, over all ranks, host memory. */
  virtual void allreduce(void* data, size_t count, DType type, Op op) = 0;
  /** Whether allreduce_device works (NCCL). */
  virtual bool device_buffers() const { return false; }
  /** In place, over all ranks, device memory; on `stream` (a cudaStream_t), or on the communicator's own stream when
   *  null (the data must be complete then). Returns when done. */
  virtual void allreduce_device(void* data, size_t count, DType type, Op op, void* stream);
  /** bytes from root to every rank (host memory). */
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  /** Ends every rank of the job with this exit code (never returns). */
  [[noreturn]] virtual void abort(int code) = 0;
  /** After a CommError the communicator is broken: every later call throws. */
  bool broken() const { return broken_; }

 protected:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool broken_ = false;
};

// ---- MPI (mpi.cpp) --------------------------------------------------------------------------------------------------
struct MpiInfo {
  bool available = false;  // the library loaded and is Open MPI
  std::string library;     // the path or name that loaded
  std::string version;     // MPI_Get_library_version (after loading)
  std::string error;       // why not, when !available
};
/** Loads libmpi (once; RTLD_NOW | RTLD_GLOBAL). Candidates: $SQLFOCUS_MPI_LIBRARY, libmpi.so.40, libmpi.so,
 *  then lib/ under $OPAL_PREFIX / $MPI_HOME. */
MpiInfo mpi_probe();
/** MPI_Init_thread (MPI_THREAD_SERIALIZED) once per process, errors returned (not fatal), peers exchanged.
 *  Throws CommError(ERR_SQLFOCUS_NO_MPI) when the library is missing or this build has no MPI support. */
std::unique_ptr<Communicator> mpi_init(const WatchOptions& opt);
/** MPI_Finalize when MPI was initialised and not yet finalised (process exit). */
void mpi_finalize();
/** Whether this build can use MPI at all (SQLFOCUS_MPI=OFF or no dlopen: false). */
bool mpi_supported();

// ---- NCCL (nccl.cpp, CUDA builds) -----------------------------------------------------------------------------------
/** How ranks get rank 0's ncclUniqueId: through `bootstrap` (an MPI communicator), or with id_via =
 *  "tcp://host:port" (rank 0 listens) or "file:///path" (rank 0 writes, the others poll; a shared filesystem). */
struct NcclOptions {
  int rank = 0, size = 1, local_rank = 0;
  int device = 0;      // CUDA ordinal this rank uses
  std::string id_via;  // used when bootstrap is null
  WatchOptions watch;
};
bool nccl_supported();  // CUDA build
std::unique_ptr<Communicator> nccl_init(const NcclOptions& opt, Communicator* bootstrap);

// ---- the TCP / file exchange of a small blob (nccl.cpp uses it; tested on its own) --------------------------------
/** Rank 0 publishes `bytes`, the other ranks receive them: "tcp://host:port" or "file:///path". */
void exchange_blob(const std::string& via, int rank, int size, std::vector<uint8_t>& bytes, const WatchOptions& opt);

}  // namespace sf::comm
