// mapFile(path) -> ArrayBuffer backed by a private (copy-on-write) memory map of the whole file (no copy).
// The mapping lives as long as the ArrayBuffer (and every view on it) is reachable.
// Used by src/model to read safetensors tensors of any size without holding them in the JS heap,
// and to hand the training engine pointers into the mapped weights.
#include "addon.h"

#include <cerrno>
#include <cstring>
#include <string>

#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace sqlfocus_addon {

#ifndef _WIN32
struct Mapping {
  void* addr;
  size_t size;
};

static void Unmap(Napi::Env, void*, Mapping* m) {
  if (m->addr && m->size) munmap(m->addr, m->size);
  delete m;
}

static Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "mapFile(path): path must be a string");
  }
  std::string path = info[0].As<Napi::String>();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(env, "mapFile: cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    throw Napi::Error::New(env, "mapFile: cannot stat " + path + ": " + std::strerror(e));
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    close(fd);
    return Napi::ArrayBuffer::New(env, 0);
  }
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (addr == MAP_FAILED) throw Napi::Error::New(env, "mapFile: mmap failed for " + path + ": " + std::strerror(e));
  auto* m = new Mapping{addr, size};
  return Napi::ArrayBuffer::New(env, addr, size, Unmap, m);
}
#else
static Napi::Value MapFile(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "mapFile: memory mapping is not implemented on Windows yet");
}
#endif

void InitMappedFile(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
}

}  // namespace sqlfocus_addon
