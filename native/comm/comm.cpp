// What both backends share: the watchdog wait, liveness of the peers on this host, and the TCP / shared-file
// exchange of a small blob (the NCCL unique id when there is no MPI).
#include "comm/comm.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#define SF_POSIX 1
#endif

namespace sf::comm {

using Clock = std::chrono::steady_clock;
static double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void Communicator::allreduce_device(void*, size_t, DType, Op, void*) {
  throw CommError("ERR_SQLFOCUS_COMM", std::string("the ") + backend() + " communicator has no device all-reduce");
}

// ---- waiting --------------------------------------------------------------------------------------------------------
void wait_with_watchdog(const std::function<bool()>& done, const std::function<void()>& watch, const WatchOptions& opt,
                        const char* during) {
  const auto t0 = Clock::now();
  auto next_watch = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.check_every_s));
  int spins = 0;
  int sleep_us = 20;
  for (;;) {
    if (done()) return;
    const auto now = Clock::now();
    if (now >= next_watch) {
      if (watch) watch();
      next_watch = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.check_every_s));
    }
    const double waited = seconds_since(t0);
    if (opt.timeout_s > 0 && waited > opt.timeout_s) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", opt.timeout_s);
      throw CommError("ERR_SQLFOCUS_COMM_TIMEOUT", std::string(during) + ": no answer from the other ranks within " +
                                                       buf + " s (ddp_timeout); a rank is stuck or gone");
    }
    // A collective in flight needs frequent polls to progress; a long wait (a peer writing a checkpoint) does not.
    if (++spins < 2000 && waited < 0.002) continue;
    std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    sleep_us = std::min(1000, sleep_us * 2);
  }
}

// ---- peers ----------------------------------------------------------------------------------------------------------
std::string PeerWatch::this_host() {
#ifdef SF_POSIX
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) == 0) return buf;
#endif
  return "localhost";
}

PeerWatch::PeerWatch(std::vector<Peer> peers, int self) : peers_(std::move(peers)), self_(self) {
#ifdef SF_POSIX
  parent_ = int64_t(getppid());
#endif
}

#ifdef SF_POSIX
/** false when the process is gone or a zombie (exited, not yet reaped by the launcher). */
static bool process_alive(int64_t pid) {
  if (pid <= 0) return true;
  if (kill(pid_t(pid), 0) != 0) return errno == EPERM;  // EPERM: alive, another user's
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (stat) {
    std::string line;
    std::getline(stat, line);
    size_t close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size()) {
      char state = line[close + 2];
      if (state == 'Z' || state == 'X') return false;
    }
  }
  return true;
}
#endif

void PeerWatch::check(const char* during) const {
#ifdef SF_POSIX
  if (parent_ > 1 && int64_t(getppid()) != parent_)
    throw CommError("ERR_SQLFOCUS_RANK_LOST", std::string(during) + ": the launcher (parent process " +
                                                  std::to_string(parent_) + ") is gone; the job was killed or lost");
  if (peers_.empty() || size_t(self_) >= peers_.size()) return;
  const std::string& host = peers_[size_t(self_)].host;
  for (size_t r = 0; r < peers_.size(); r++) {
    if (int(r) == self_ || peers_[r].host != host) continue;
    if (!process_alive(peers_[r].pid))
      throw CommError("ERR_SQLFOCUS_RANK_LOST", std::string(during) + ": rank " + std::to_string(r) + " (pid " +
                                                    std::to_string(peers_[r].pid) + " on " + host + ") died");
  }
#else
  (void)during;
#endif
}

// ---- blob exchange over TCP or a shared file
// --------------------------------------------------------------------------
#ifdef SF_POSIX
namespace {

const char kMagic[8] = {'S', 'Q', 'L', 'F', 'O', 'C', 'U', 'S'};

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

[[noreturn]] void fail(const std::string& what) { throw CommError("ERR_SQLFOCUS_COMM", what); }

bool parse_tcp(const std::string& via, std::string& host, std::string& port) {
  std::string rest = via.substr(6);  // after tcp://
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= rest.size()) return false;
  host = rest.substr(0, colon);
  port = rest.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return port.find_first_not_of("0123456789") == std::string::npos;
}

/** Reads/writes exactly n bytes within the deadline. */
void io_all(int fd, void* buf, size_t n, bool write_, Clock::time_point deadline, const char* what) {
  auto* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    int left_ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left_ms <= 0) throw CommError("ERR_SQLFOCUS_COMM_TIMEOUT", std::string(what) + ": timed out");
    pollfd pfd{fd, short(write_ ? POLLOUT : POLLIN), 0};
    int pr = poll(&pfd, 1, std::min(left_ms, 500));
    if (pr < 0 && errno != EINTR) fail(std::string(what) + ": poll: " + std::strerror(errno));
    if (pr <= 0) continue;
    ssize_t k = write_ ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) fail(std::string(what) + ": connection closed");
    p += k;
    n -= size_t(k);
  }
}

void tcp_publish(const std::string& port, int size, const std::vector<uint8_t>& bytes, const WatchOptions& opt) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET6;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(nullptr, port.c_str(), &hints, &res);
  bool v6 = gai == 0;
  if (!v6) {
    hints.ai_family = AF_INET;
    gai = getaddrinfo(nullptr, port.c_str(), &hints, &res);
  }
  if (gai != 0) fail("tcp id exchange: port " + port + ": " + gai_strerror(gai));
  Fd srv(socket(res->ai_family, SOCK_STREAM, 0));
  int one = 1, zero = 0;
  setsockopt(srv.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) setsockopt(srv.fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // IPv4 clients too
  int b = bind(srv.fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (srv.fd < 0 || b != 0) fail("tcp id exchange: rank 0 cannot listen on port " + port + ": " + std::strerror(errno));
  if (listen(srv.fd, 64) != 0) fail(std::string("tcp id exchange: listen: ") + std::strerror(errno));
  const auto deadline = Clock::now() + std::chrono::seconds(int64_t(opt.timeout_s > 0 ? opt.timeout_s : 1e6));
  for (int served = 0; served < size - 1;) {
    int left_ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left_ms <= 0)
      throw CommError("ERR_SQLFOCUS_COMM_TIMEOUT", "tcp id exchange: only " + std::to_string(served) + " of " +
                                                       std::to_string(size - 1) + " ranks connected to port " + port);
    pollfd pfd{srv.fd, POLLIN, 0};
    if (poll(&pfd, 1, std::min(left_ms, 500)) <= 0) continue;
    Fd c(accept(srv.fd, nullptr, nullptr));
    if (c.fd < 0) continue;
    uint8_t hello[12];
    try {
      io_all(c.fd, hello, sizeof hello, false, std::min(deadline, Clock::now() + std::chrono::seconds(10)),
             "tcp id exchange");
    } catch (const CommError&) {
      continue;  // a stray connection (a port scanner, a dead client): ignore it
    }
    if (std::memcmp(hello, kMagic, 8) != 0) continue;
    uint32_t len = uint32_t(bytes.size());
    std::vector<uint8_t> msg(8 + 4 + bytes.size());
    std::memcpy(msg.data(), kMagic, 8);
    std::memcpy(msg.data() + 8, &len, 4);
    std::memcpy(msg.data() + 12, bytes.data(), bytes.size());
    io_all(c.fd, msg.data(), msg.size(), true, deadline, "tcp id exchange");
    served++;
  }
}

void tcp_receive(const std::string& host, const std::string& port, int rank, std::vector<uint8_t>& bytes,
                 const WatchOptions& opt) {
  const auto deadline = Clock::now() + std::chrono::seconds(int64_t(opt.timeout_s > 0 ? opt.timeout_s : 1e6));
  std::string last = "no attempt";
  while (Clock::now() < deadline) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (gai != 0) fail("tcp id exchange: " + host + ": " + gai_strerror(gai));
    for (addrinfo* a = res; a; a = a->ai_next) {
      Fd c(socket(a->ai_family, SOCK_STREAM, 0));
      if (c.fd < 0) continue;
      if (connect(c.fd, a->ai_addr, a->ai_addrlen) != 0) {
        last = std::strerror(errno);
        continue;
      }
      freeaddrinfo(res);
      res = nullptr;
      uint8_t hello[12];
      std::memcpy(hello, kMagic, 8);
      uint32_t r = uint32_t(rank);
      std::memcpy(hello + 8, &r, 4);
      io_all(c.fd, hello, sizeof hello, true, deadline, "tcp id exchange");
      uint8_t head[12];
      io_all(c.fd, head, sizeof head, false, deadline, "tcp id exchange");
      uint32_t len;
      std::memcpy(&len, head + 8, 4);
      if (std::memcmp(head, kMagic, 8) != 0 || len > (1u << 20))
        fail("tcp id exchange: " + host + ":" + port + " is not sqlfocus rank 0");
      bytes.resize(len);
      io_all(c.fd, bytes.data(), len, false, deadline, "tcp id exchange");
      return;
    }
    if (res) freeaddrinfo(res);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  throw CommError("ERR_SQLFOCUS_COMM_TIMEOUT",
                  "tcp id exchange: rank 0 at " + host + ":" + port + " did not answer (" + last + ")");
}

void file_publish(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    uint32_t len = uint32_t(bytes.size());
    f.write(kMagic, 8);
    f.write(reinterpret_cast<const char*>(&len), 4);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    f.flush();
    if (!f) fail("file id exchange: cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    fail("file id exchange: cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
}

bool file_try_read(const std::string& path, std::vector<uint8_t>& bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  char head[12];
  if (!f.read(head, 12) || std::memcmp(head, kMagic, 8) != 0) return false;
  uint32_t len;
  std::memcpy(&len, head + 8, 4);
  if (len > (1u << 20)) return false;
  std::vector<uint8_t> b(len);
  if (!f.read(reinterpret_cast<char*>(b.data()), std::streamsize(len))) return false;
  bytes = std::move(b);
  return true;
}

}  // namespace
#endif

void exchange_blob(const std::string& via, int rank, int size, std::vector<uint8_t>& bytes, const WatchOptions& opt) {
#ifdef SF_POSIX
  if (via.rfind("tcp://", 0) == 0) {
    std::string host, port;
    if (!parse_tcp(via, host, port)) fail("'" + via + "' is not tcp://host:port");
    if (rank == 0)
      tcp_publish(port, size, bytes, opt);
    else
      tcp_receive(host, port, rank, bytes, opt);
    return;
  }
  if (via.rfind("file://", 0) == 0) {
    std::string path = via.substr(7);
    if (path.empty()) fail("'" + via + "' names no file (file:///shared/path)");
    if (rank == 0) {
      file_publish(path, bytes);
      return;
    }
    bool ok = false;
    wait_with_watchdog([&] { return ok = file_try_read(path, bytes); }, nullptr, opt,
                       ("file id exchange: waiting for " + path).c_str());
    return;
  }
  fail("'" + via + "': the id exchange must be tcp://host:port or file:///path");
#else
  (void)via, (void)rank, (void)size, (void)bytes, (void)opt;
  fail("the TCP / file id exchange needs a POSIX system");
#endif
}

}  // namespace sf::comm
