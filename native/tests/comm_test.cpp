// Tests of native/comm (ctest). Alone: the watchdog's timeout, the detection of a dead peer on this host (killed, and
// a zombie not yet reaped), the TCP and shared-file id exchange between forked ranks, and, where CMake found <mpi.h>,
// that the Open MPI ABI declared in mpi.cpp matches the header. With --mpi (run under mpirun -np 3): the collectives
// (sum/max/min in F32/F64, a buffer of millions of floats, broadcast, ranks and local ranks).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "comm/comm.h"

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#ifdef SQLFOCUS_TEST_MPI_H
#define OMPI_SKIP_MPICXX 1  // the C API only (no C++ bindings library)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

using namespace sf::comm;

static int failures = 0;
static int rank_for_log = 0;
static void check(bool ok, const std::string& what) {
  std::printf("%s [rank %d] %s\n", ok ? "ok  " : "FAIL", rank_for_log, what.c_str());
  std::fflush(stdout);
  if (!ok) failures++;
}

template <typename F>
static std::string error_code_of(F f, std::string* msg = nullptr) {
  try {
    f();
  } catch (const CommError& e) {
    if (msg) *msg = e.what();
    return e.code;
  }
  return "";
}

static void test_watchdog() {
  WatchOptions opt;
  opt.timeout_s = 0.3;
  opt.check_every_s = 0.05;
  int watched = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::string msg;
  std::string code =
      error_code_of([&] { wait_with_watchdog([] { return false; }, [&] { watched++; }, opt, "test wait"); }, &msg);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  check(code == "ERR_SQLFOCUS_COMM_TIMEOUT", "a wait that never ends times out (" + msg + ")");
  check(s >= 0.3 && s < 1.5, "… after the timeout (" + std::to_string(s) + " s)");
  check(watched >= 3, "… checking the peers meanwhile (" + std::to_string(watched) + " checks)");
  int calls = 0;
  wait_with_watchdog([&] { return ++calls == 5; }, nullptr, opt, "test wait");
  check(calls == 5, "a wait returns as soon as it is done");
}

#if defined(__unix__) || defined(__APPLE__)
static void test_peer_watch() {
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  std::string host = PeerWatch::this_host();
  PeerWatch w({{host, int64_t(getpid())}, {host, int64_t(child)}, {"another-host", 1}}, 0);
  check(error_code_of([&] { w.check("test"); }).empty(), "live peers pass the check");
  kill(child, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a zombie now: dead, not reaped
  std::string msg;
  std::string code = error_code_of([&] { w.check("all-reduce"); }, &msg);
  check(code == "ERR_SQLFOCUS_RANK_LOST" && msg.find("rank 1") != std::string::npos &&
            msg.find(std::to_string(child)) != std::string::npos,
        "a killed peer (zombie) is reported by rank and pid: " + msg);
  waitpid(child, nullptr, 0);
  code = error_code_of([&] { w.check("all-reduce"); }, &msg);
  check(code == "ERR_SQLFOCUS_RANK_LOST", "a reaped peer too: " + msg);
  PeerWatch other({{host, int64_t(getpid())}, {"another-host", int64_t(child)}}, 0);
  check(error_code_of([&] { other.check("test"); }).empty(), "peers on other hosts are not checked by pid");
}

/** Runs exchange_blob as ranks 1..size-1 in forked children and rank 0 here; true when every child got the bytes. */
static bool exchange_between_processes(const std::string& via, int size) {
  std::vector<uint8_t> blob(128);
  for (size_t i = 0; i < blob.size(); i++) blob[i] = uint8_t(i * 7 + 3);
  WatchOptions opt;
  opt.timeout_s = 20;
  std::vector<pid_t> kids;
  for (int r = 1; r < size; r++) {
    pid_t p = fork();
    if (p == 0) {
      std::vector<uint8_t> got;
      try {
        exchange_blob(via, r, size, got, opt);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: %s\n", r, e.what());
        _exit(2);
      }
      _exit(got == blob ? 0 : 1);
    }
    kids.push_back(p);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // receivers first: they must wait for rank 0
  bool ok = true;
  try {
    exchange_blob(via, 0, size, blob, opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank 0: %s\n", e.what());
    ok = false;
  }
  for (pid_t p : kids) {
    int st = 0;
    waitpid(p, &st, 0);
    ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  return ok;
}

static void test_exchange() {
  int port = 20000 + int(getpid() % 20000);
  check(exchange_between_processes("tcp://127.0.0.1:" + std::to_string(port), 3),
        "tcp:// id exchange: rank 0 serves 2 ranks");
  std::string path = "/tmp/sqlfocus-comm-test-" + std::to_string(getpid());
  std::remove(path.c_str());
  check(exchange_between_processes("file://" + path, 3), "file:// id exchange: 2 ranks read rank 0's file");
  std::remove(path.c_str());
  std::string msg;
  std::string code = error_code_of(
      [&] {
        std::vector<uint8_t> b;
        exchange_blob("udp://x:1", 1, 2, b, WatchOptions{});
      },
      &msg);
  check(code == "ERR_SQLFOCUS_COMM", "an unknown exchange scheme is refused: " + msg);
  WatchOptions quick;
  quick.timeout_s = 1;
  code = error_code_of(
      [&] {
        std::vector<uint8_t> b;
        exchange_blob("tcp://127.0.0.1:" + std::to_string(port + 1), 1, 2, b, quick);
      },
      &msg);
  check(code == "ERR_SQLFOCUS_COMM_TIMEOUT", "no rank 0 listening: a timeout, not a hang: " + msg);
}
#endif

static void test_mpi_library() {
  MpiInfo i = mpi_probe();
  std::printf("     mpi_probe: available=%d library=%s version=%s error=%s\n", int(i.available), i.library.c_str(),
              i.version.c_str(), i.error.c_str());
  if (!mpi_supported()) {
    std::string msg;
    std::string code = error_code_of([] { mpi_init(WatchOptions{}); }, &msg);
    check(!i.available && code == "ERR_SQLFOCUS_NO_MPI" && msg.find("no MPI support") != std::string::npos,
          "a build without MPI support says so: " + msg);
    return;
  }
#ifdef SQLFOCUS_TEST_MPI_H
  check(i.available, "libmpi loads at run time (" + i.library + ")");
  // The handles and constants mpi.cpp declares for Open MPI's ABI, against the real header.
  check(MPI_IN_PLACE == reinterpret_cast<void*>(1), "MPI_IN_PLACE is (void*)1");
  check(MPI_THREAD_SERIALIZED == 2 && MPI_SUCCESS == 0, "MPI_THREAD_SERIALIZED = 2, MPI_SUCCESS = 0");
  check(sizeof(MPI_Comm) == sizeof(void*) && sizeof(MPI_Datatype) == sizeof(void*) && sizeof(MPI_Op) == sizeof(void*) &&
            sizeof(MPI_Request) == sizeof(void*) && sizeof(MPI_Errhandler) == sizeof(void*),
        "MPI handles are pointers");
  struct Obj {
    const void* handle;
    const char* symbol;
  };
  const Obj objs[] = {{MPI_COMM_WORLD, "ompi_mpi_comm_world"},
                      {MPI_FLOAT, "ompi_mpi_float"},
                      {MPI_DOUBLE, "ompi_mpi_double"},
                      {MPI_BYTE, "ompi_mpi_byte"},
                      {MPI_SUM, "ompi_mpi_op_sum"},
                      {MPI_MAX, "ompi_mpi_op_max"},
                      {MPI_MIN, "ompi_mpi_op_min"},
                      {MPI_ERRORS_RETURN, "ompi_mpi_errors_return"}};
  for (const Obj& o : objs)
    check(o.handle == dlsym(RTLD_DEFAULT, o.symbol), std::string("the header's handle is the object ") + o.symbol);
  // the signatures mpi.cpp casts to (handles as void*)
  int (*iallreduce)(const void*, void*, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Request*) = MPI_Iallreduce;
  int (*test)(MPI_Request*, int*, MPI_Status*) = MPI_Test;
  int (*iallgather)(const void*, int, MPI_Datatype, void*, int, MPI_Datatype, MPI_Comm, MPI_Request*) = MPI_Iallgather;
  int (*ibcast)(void*, int, MPI_Datatype, int, MPI_Comm, MPI_Request*) = MPI_Ibcast;
  check(iallreduce && test && iallgather && ibcast, "MPI_Iallreduce/Test/Iallgather/Ibcast have the signatures used");
#else
  std::printf("     (no <mpi.h> at build time: ABI checks skipped)\n");
#endif
}

static void test_under_mpi() {
  WatchOptions opt;
  opt.timeout_s = 60;
  std::unique_ptr<Communicator> c;
  try {
    c = mpi_init(opt);
  } catch (const CommError& e) {
    check(false, std::string("mpi_init: ") + e.what());
    return;
  }
  rank_for_log = c->rank();
  const int R = c->rank(), W = c->size();
  check(W == 3, "3 ranks (" + std::to_string(W) + ")");
  check(c->local_rank() == R, "one host: local rank = rank");
  std::vector<float> f(1000);
  for (size_t i = 0; i < f.size(); i++) f[i] = float(i) + float(R + 1) * 1000.0f;
  c->allreduce(f.data(), f.size(), DType::F32, Op::Sum);
  bool ok = true;
  for (size_t i = 0; i < f.size(); i++) ok = ok && f[i] == float(W * i) + 1000.0f * float(W * (W + 1) / 2);
  check(ok, "F32 sum, in place");
  double mx[2] = {double(R), -double(R)}, mn[2] = {double(R), -double(R)};
  c->allreduce(mx, 2, DType::F64, Op::Max);
  c->allreduce(mn, 2, DType::F64, Op::Min);
  check(mx[0] == W - 1 && mx[1] == 0 && mn[0] == 0 && mn[1] == -(W - 1), "F64 max and min");
  std::vector<float> big(3'000'017);
  for (size_t i = 0; i < big.size(); i++) big[i] = float((i % 1000) * (R + 1)) * 0.25f;
  auto t0 = std::chrono::steady_clock::now();
  c->allreduce(big.data(), big.size(), DType::F32, Op::Sum);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ok = true;
  for (size_t i = 0; i < big.size(); i++) ok = ok && big[i] == float((i % 1000) * 6) * 0.25f;
  check(ok, "F32 sum of 3,000,017 floats (12 MB) in " + std::to_string(ms) + " ms");
  std::vector<uint8_t> b(1000, uint8_t(R));
  if (R == 1)
    for (size_t i = 0; i < b.size(); i++) b[i] = uint8_t(i * 13);
  c->broadcast(b.data(), b.size(), 1);
  ok = true;
  for (size_t i = 0; i < b.size(); i++) ok = ok && b[i] == uint8_t(i * 13);
  check(ok, "broadcast from rank 1");
  std::string msg;
  std::string code = error_code_of([&] { c->allreduce(b.data(), b.size(), DType::U8, Op::Sum); }, &msg);
  check(code == "ERR_SQLFOCUS_COMM", "bytes are not summed: " + msg);
  c.reset();
  mpi_finalize();
}

int main(int argc, char** argv) {
  bool under_mpi = argc > 1 && std::strcmp(argv[1], "--mpi") == 0;
  if (under_mpi) {
    test_under_mpi();
  } else {
    test_watchdog();
#if defined(__unix__) || defined(__APPLE__)
    test_peer_watch();
    test_exchange();
#endif
    test_mpi_library();
  }
  std::printf("%s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
