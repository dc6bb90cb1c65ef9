// Portable dequantizers of ggml's block formats (layouts as in GGUF / ggml-common.h, arithmetic in the same order
// as ggml's dequantize_row_* so results are bit-identical), and the registry of ggml's own to_float functions for
// the other types (sf_register_ggml_type: the addon registers libggml-base's).
#include "cpu/quant.h"

#include <atomic>
#include <cstring>
#include <mutex>

#include "cpu/kernels.h"

namespace sf {

namespace {

inline float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

/** The 6-bit scale and min j (0..7) of a Q4_K / Q5_K super-block's 12 packed bytes. */
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Each: nb blocks from x into y.
void deq_q4_0(const uint8_t* x, float* y, int64_t nb) {  // {f16 d; u8 qs[16]}: (nibble − 8)·d, low nibbles first
  for (int64_t i = 0; i < nb; i++, x += 18, y += 32) {
    float d = half(x);
    for (int j = 0; j < 16; j++) {
      y[j] = float((x[2 + j] & 0x0F) - 8) * d;
      y[j + 16] = float((x[2 + j] >> 4) - 8) * d;
    }
  }
}
void deq_q4_1(const uint8_t* x, float* y, int64_t nb) {  // {f16 d, m; u8 qs[16]}: nibble·d + m
  for (int64_t i = 0; i < nb; i++, x += 20, y += 32) {
    float d = half(x), m = half(x + 2);
    for (int j = 0; j < 16; j++) {
      y[j] = float(x[4 + j] & 0x0F) * d + m;
      y[j + 16] = float(x[4 + j] >> 4) * d + m;
    }
  }
}
void deq_q5_0(const uint8_t* x, float* y, int64_t nb) {  // {f16 d; u32 qh; u8 qs[16]}: (5-bit − 16)·d, bit e of qh
  for (int64_t i = 0; i < nb; i++, x += 22, y += 32) {
    float d = half(x);
    uint32_t qh;
    std::memcpy(&qh, x + 2, 4);
    for (int j = 0; j < 16; j++) {
      int x0 = int((x[6 + j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16;
      int x1 = int((x[6 + j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
      y[j] = float(x0) * d;
      y[j + 16] = float(x1) * d;
    }
  }
}
void deq_q5_1(const uint8_t* x, float* y, int64_t nb) {  // {f16 d, m; u32 qh; u8 qs[16]}: 5-bit·d + m
  for (int64_t i = 0; i < nb; i++, x += 24, y += 32) {
    float d = half(x), m = half(x + 2);
    uint32_t qh;
    std::memcpy(&qh, x + 4, 4);
    for (int j = 0; j < 16; j++) {
      int x0 = int((x[8 + j] & 0x0F) | (((qh >> j) << 4) & 0x10));
      int x1 = int((x[8 + j] >> 4) | ((qh >> (j + 12)) & 0x10));
      y[j] = float(x0) * d + m;
      y[j + 16] = float(x1) * d + m;
    }
  }
}
void deq_q8_0(const uint8_t* x, float* y, int64_t nb) {  // {f16 d; i8 qs[32]}: q·d
  for (int64_t i = 0; i < nb; i++, x += 34, y += 32) {
    float d = half(x);
    for (int j = 0; j < 32; j++) y[j] = float(int8_t(x[2 + j])) * d;
  }
}
void deq_q4_k(const uint8_t* x, float* y, int64_t nb) {  // {f16 d, dmin; u8 scales[12]; u8 qs[128]} per 256
  for (int64_t i = 0; i < nb; i++, x += 144) {
    float d = half(x), mn = half(x + 2);
    const uint8_t* sc = x + 4;
    const uint8_t* q = x + 16;
    for (int j = 0; j < 4; j++, q += 32) {
      uint8_t s, m;
      scale_min_k4(2 * j, sc, &s, &m);
      float d1 = d * float(s), m1 = mn * float(m);
      scale_min_k4(2 * j + 1, sc, &s, &m);
      float d2 = d * float(s), m2 = mn * float(m);
      for (int l = 0; l < 32; l++) *y++ = d1 * float(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * float(q[l] >> 4) - m2;
    }
  }
}
void deq_q5_k(const uint8_t* x, float* y, int64_t nb) {  // {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}
  for (int64_t i = 0; i < nb; i++, x += 176) {
    float d = half(x), mn = half(x + 2);
    const uint8_t* sc = x + 4;
    const uint8_t* qh = x + 16;
    const uint8_t* ql = x + 48;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < 4; j++, ql += 32, u1 <<= 2, u2 <<= 2) {
      uint8_t s, m;
      scale_min_k4(2 * j, sc, &s, &m);
      float d1 = d * float(s), m1 = mn * float(m);
      scale_min_k4(2 * j + 1, sc, &s, &m);
      float d2 = d * float(s), m2 = mn * float(m);
      for (int l = 0; l < 32; l++) *y++ = d1 * float((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * float((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}
void deq_q6_k(const uint8_t* x, float* y, int64_t nb) {  // {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d} per 256
  for (int64_t i = 0; i < nb; i++, x += 210) {
    float d = half(x + 208);
    const uint8_t* ql = x;
    const uint8_t* qh = x + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(x + 192);
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
      for (int l = 0; l < 32; l++) {
        int is = l / 16;
        int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * float(sc[is]) * float(q1);
        y[l + 32] = d * float(sc[is + 2]) * float(q2);
        y[l + 64] = d * float(sc[is + 4]) * float(q3);
        y[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
  }
}

struct TypeEntry {
  int block = 0, bytes = 0;
  void (*builtin)(const uint8_t*, float*, int64_t) = nullptr;
  std::atomic<sf_to_float_fn> ggml{nullptr};
};
constexpr int kMaxGgmlType = 64;

TypeEntry* types() {
  static TypeEntry t[kMaxGgmlType];
  static std::once_flag once;
  std::call_once(once, [] {
    auto set = [](int id, int block, int bytes, void (*f)(const uint8_t*, float*, int64_t)) {
      t[id].block = block, t[id].bytes = bytes, t[id].builtin = f;
    };
    set(2, 32, 18, deq_q4_0);
    set(3, 32, 20, deq_q4_1);
    set(6, 32, 22, deq_q5_0);
    set(7, 32, 24, deq_q5_1);
    set(8, 32, 34, deq_q8_0);
    set(12, 256, 144, deq_q4_k);
    set(13, 256, 176, deq_q5_k);
    set(14, 256, 210, deq_q6_k);
  });
  return t;
}
std::mutex registry_mutex;

TypeEntry* entry(int dt) {
  int id = dt - SF_GGML_TYPE(0);
  if (id < 0 || id >= kMaxGgmlType || id == 0 || id == 1 || id == 30) return nullptr;  // F32/F16/BF16 are not blocks
  TypeEntry* e = &types()[id];
  return e->block > 0 && (e->builtin || e->ggml.load()) ? e : nullptr;
}

}  // namespace

bool quant_geometry(int dt, int* block, int* bytes) {
  TypeEntry* e = entry(dt);
  if (!e) return false;
  *block = e->block, *bytes = e->bytes;
  return true;
}
bool is_quant_dtype(int dt) { return entry(dt) != nullptr; }
bool weight_dtype_known(int dt) { return dt == SF_F32 || dt == SF_F16 || dt == SF_BF16 || is_quant_dtype(dt); }

size_t weight_span_bytes(int dt, int64_t n) {
  if (dt == SF_F32) return size_t(n) * 4;
  if (dt == SF_F16 || dt == SF_BF16) return size_t(n) * 2;
  if (dt == SF_F64) return size_t(n) * 8;
  int block, bytes;
  if (!quant_geometry(dt, &block, &bytes)) return 0;
  return size_t(n / block) * size_t(bytes);
}

bool dequantize_portable(float* out, const void* blocks, int dt, int64_t n, bool ggml_ref) {
  TypeEntry* e = entry(dt);
  if (!e || n % e->block != 0) return false;
  sf_to_float_fn g = e->ggml.load();
  if (ggml_ref && !g) return false;
  if (e->builtin && !ggml_ref)
    e->builtin(static_cast<const uint8_t*>(blocks), out, n / e->block);
  else
    g(blocks, out, n);
  return true;
}

void weight_row_f32(float* out, const void* w, int dt, int K, size_t row, int k0, int n) {
  if (!is_quant_dtype(dt)) {
    load_weight_row(out, static_cast<const char*>(w) + weight_span_bytes(dt, int64_t(row) * K + k0), dt, 0, n);
    return;
  }
  const char* p = static_cast<const char*>(w) + row * weight_span_bytes(dt, K) + weight_span_bytes(dt, k0);
  dequantize_portable(out, p, dt, n);
}

}  // namespace sf

extern "C" {

size_t sf_dtype_bytes(int dtype, int64_t n) {
  if (n < 0) return 0;
  if (sf::is_quant_dtype(dtype)) {
    int block, bytes;
    sf::quant_geometry(dtype, &block, &bytes);
    if (n % block != 0) return 0;
  } else if (dtype != SF_F32 && dtype != SF_F16 && dtype != SF_BF16) {
    return 0;
  }
  return sf::weight_span_bytes(dtype, n);
}

int sf_dtype_from_name(const char* name) {
  // ggml's type names by id (ggml.h: enum ggml_type); removed ids are empty
  static const char* const kNames[] = {
      "F32",   "F16",    "Q4_0",  "Q4_1", "",     "",        "Q5_0",   "Q5_1",    "Q8_0",  "Q8_1",   "Q2_K",
      "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
      "IQ2_S", "IQ4_XS", "I8",    "I16",  "I32",  "I64",     "F64",    "IQ1_M",   "BF16",  "",       "",
      "",      "TQ1_0",  "TQ2_0", "",     "",     "",        "MXFP4",  "NVFP4"};
  if (!name) return -1;
  if (std::strcmp(name, "F32") == 0) return SF_F32;
  if (std::strcmp(name, "F16") == 0) return SF_F16;
  if (std::strcmp(name, "BF16") == 0) return SF_BF16;
  for (int t = 0; t < int(sizeof kNames / sizeof kNames[0]); t++)
    if (*kNames[t] && std::strcmp(name, kNames[t]) == 0)
      return sf::is_quant_dtype(SF_GGML_TYPE(t)) ? SF_GGML_TYPE(t) : -1;
  return -1;
}

int sf_register_ggml_type(int ggml_type, int64_t block_size, size_t type_size, sf_to_float_fn to_float) {
  if (ggml_type < 2 || ggml_type >= sf::kMaxGgmlType || ggml_type == 30 || block_size <= 0 || block_size > 4096 ||
      type_size == 0 || type_size > 65536 || !to_float)
    return -1;
  std::lock_guard<std::mutex> lock(sf::registry_mutex);
  sf::TypeEntry& e = sf::types()[ggml_type];
  if (e.builtin && (e.block != block_size || size_t(e.bytes) != type_size)) return -1;  // not the format we know
  e.block = int(block_size), e.bytes = int(type_size);
  e.ggml.store(to_float);
  return 0;
}

}  // extern "C"
