// mapFile(path[, offset, length]) -> ArrayBuffer backed by a private (copy-on-write) memory map of the whole
// file, or of bytes [offset, offset+length) of it (no copy). An ArrayBuffer holds at most 4 GiB in Node 20, so
// larger files must be mapped in windows (offset/length); asking for more throws a RangeError.
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

// Largest ArrayBuffer V8 hands out on 64-bit Node 20 (v8::TypedArray::kMaxByteLength).
static constexpr uint64_t kMaxMappedBytes = uint64_t(1) << 32;

static uint64_t OptionalIndex(const Napi::CallbackInfo& info, size_t i, const char* name, uint64_t fallback) {
  if (info.Length() <= i || info[i].IsUndefined()) return fallback;
  if (!info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string("mapFile: ") + name + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || v != static_cast<double>(static_cast<uint64_t>(v))) {
    throw Napi::RangeError::New(info.Env(), std::string("mapFile: ") + name + " must be a non-negative integer");
  }
  return static_cast<uint64_t>(v);
}

static Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "mapFile(path[, offset, length]): path must be a string");
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
  uint64_t fileSize = static_cast<uint64_t>(st.st_size);
  uint64_t offset = 0, length = 0;
  try {
    offset = OptionalIndex(info, 1, "offset", 0);
    if (offset > fileSize)
      throw Napi::RangeError::New(env, "mapFile: offset " + std::to_string(offset) + " is past the end of " + path +
                                           " (" + std::to_string(fileSize) + " bytes)");
    length = OptionalIndex(info, 2, "length", fileSize - offset);
    if (length > fileSize - offset)
      throw Napi::RangeError::New(
          env, "mapFile: offset + length runs past the end of " + path + " (" + std::to_string(fileSize) + " bytes)");
    if (length > kMaxMappedBytes) {
      throw Napi::RangeError::New(
          env, "mapFile: " + path + ": " + std::to_string(length) +
                   " bytes asked for, but an ArrayBuffer holds at most 4 GiB; map it in windows (offset, length)");
    }
  } catch (...) {
    close(fd);
    throw;
  }
  if (length == 0) {
    close(fd);
    return Napi::ArrayBuffer::New(env, 0);
  }
  // mmap offsets must be page-aligned: map from the page holding `offset`, hand out the view from `offset`.
  uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t start = offset - offset % page;
  size_t mapSize = static_cast<size_t>(length + (offset - start));
  void* addr = mmap(nullptr, mapSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, static_cast<off_t>(start));
  int e = errno;
  close(fd);
  if (addr == MAP_FAILED) throw Napi::Error::New(env, "mapFile: mmap failed for " + path + ": " + std::strerror(e));
  auto* m = new Mapping{addr, mapSize};
  return Napi::ArrayBuffer::New(env, static_cast<char*>(addr) + (offset - start), static_cast<size_t>(length), Unmap,
                                m);
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
