// What the CPU and the CUDA builds share, written once and compiled by both g++ and nvcc (host and device): the
// error type, the seven LoRA module names (in sf_module order), the layer-tensor shape table, the counter-based
// dropout hash (a checkpoint stores only seed + counter; either device rebuilds the same masks from it, bit for
// bit) and the seeded LoRA A initialisation. Nothing here allocates or launches work.
#pragma once
#include <sqlfocus.h>
#include <stddef.h>
#include <stdint.h>

#include <cmath>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define SF_HD __host__ __device__ __forceinline__
#else
#define SF_HD inline
#endif

namespace sf {

/** An error with the sf_status the C API returns for it (the addon's err.code). */
struct Error : std::runtime_error {
  int status;
  Error(int st, const std::string& msg) : std::runtime_error(msg), status(st) {}
};

/** dtype tag of double tensors (the finite-difference tests' engine); never crosses the C API. */
constexpr int SF_F64 = 100;
/** A BF16 value's bits (the CUDA build's activation type, seen from plain C++; same layout as __nv_bfloat16). */
struct bf16 {
  uint16_t bits;
};
/** The sf_dtype of an activation type. */
template <typename T>
constexpr int dtype_of() {
  return sizeof(T) == 8 ? SF_F64 : sizeof(T) == 2 ? int(SF_BF16) : int(SF_F32);
}

/** PEFT's module names, indexed by sf_module. */
inline constexpr const char* kModuleNames[SF_NUM_MODULES] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                             "gate_proj", "up_proj", "down_proj"};

/** Model dimensions derived from a config (head_dim resolved). */
struct Dims {
  int H, I, NH, KV, D, qD, kvD, V, L;
};
inline Dims dims_of(const sf_model_config& c) {
  Dims d;
  d.H = c.hidden_size, d.I = c.intermediate_size, d.NH = c.num_heads, d.KV = c.num_kv_heads, d.V = c.vocab_size,
  d.L = c.num_layers;
  d.D = c.head_dim > 0 ? c.head_dim : (c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  d.qD = d.NH * d.D, d.kvD = d.KV * d.D;
  return d;
}
/** Input and output width of each adapted projection (sf_module order): y[N, out] = x[N, in] · Wᵀ. */
inline void module_dims(const Dims& d, int m, int* in, int* out) {
  const int ins[SF_NUM_MODULES] = {d.H, d.H, d.H, d.qD, d.H, d.H, d.I};
  const int outs[SF_NUM_MODULES] = {d.qD, d.kvD, d.kvD, d.H, d.I, d.I, d.H};
  *in = ins[m], *out = outs[m];
}
/** Rows and columns of each layer tensor (sf_layer_tensor order; vectors have cols = 1). */
inline void layer_tensor_dims(const Dims& d, int k, size_t* rows, size_t* cols) {
  if (k < SF_NUM_MODULES) {
    int in, out;
    module_dims(d, k, &in, &out);
    *rows = size_t(out), *cols = size_t(in);
    return;
  }
  const int n[SF_LAYER_TENSORS - SF_NUM_MODULES] = {d.qD, d.kvD, d.kvD, d.H, d.H};
  *rows = size_t(n[k - SF_NUM_MODULES]), *cols = 1;
}

// ---- dropout: element i of LoRA input `stream` (= layer·7 + module) at micro-step `counter` is dropped when
// its uniform is < p. The forward, the backward and a recomputed forward rebuild the mask; it is never stored.
SF_HD uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/** The per-(seed, counter, stream) part of the hash, computed once per LoRA input. */
SF_HD uint64_t dropout_key(uint64_t seed, uint64_t counter, uint64_t stream) {
  return seed ^ mix64(counter * 0x100000001b3ull + stream);
}
/** Uniform [0, 1) of element i under a key (24 bits: exact in float). */
SF_HD float dropout_uniform_keyed(uint64_t key, uint64_t i) {
  return float(mix64(key ^ mix64(i + 0x632be59bd9b4e019ull)) >> 40) * (1.0f / 16777216.0f);
}
SF_HD float dropout_uniform(uint64_t seed, uint64_t counter, uint64_t stream, uint64_t i) {
  return dropout_uniform_keyed(dropout_key(seed, counter, stream), i);
}
SF_HD bool dropout_keep(uint64_t key, uint64_t i, float p) { return !(dropout_uniform_keyed(key, i) < p); }

/** LoRA A init (PEFT's Kaiming-uniform, a = √5): element i of the s-th LoRA tensor (A and B both counted, so A
 *  tensors have even s) is U(−1/√in, 1/√in) from this seeded hash; B starts at zero. */
inline double lora_init_value(uint64_t seed, uint64_t s, uint64_t i, int in) {
  uint64_t h = mix64(seed ^ mix64(0xa11a0000ull + s) ^ mix64(i));
  double u = double(h >> 11) * (1.0 / 9007199254740992.0);
  return (2 * u - 1) * (1.0 / std::sqrt(double(in)));
}

}  // namespace sf
