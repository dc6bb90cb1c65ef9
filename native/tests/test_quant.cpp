// Tests of the quantized frozen base (ggml block types, native/cpu/quant.h): every SIMD level's dequantizers equal the
// portable ones bit for bit; matmuls on ggml blocks equal the same matmuls on the dequantized weights; and a whole
// training step (loss, logits, LoRA gradients) on a quantized model equals the step on its dequantized weights at
// every level; and the BF16-compute path against the F32 path within BF16 tolerance. (That the portable
// dequantizers equal ggml's own is checked against libggml-base in test/gguf-quantized-base.test.ts.) Called from
// test_main.cpp.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/engine.h"
#include "cpu/kernels.h"
#include "cpu/quant.h"

using namespace sf;

namespace {

int failures = 0;
void check(bool ok, const std::string& what, double value, double limit) {
  std::printf("%s %-52s %.3e (limit %.1e)\n", ok ? "ok  " : "FAIL", what.c_str(), value, limit);
  if (!ok) failures++;
}

struct TypeInfo {
  int dt;
  const char* name;
  std::vector<int> f16_offsets;  // the block's f16 scale fields
};
const TypeInfo kTypes[] = {{SF_Q4_0, "Q4_0", {0}},    {SF_Q4_1, "Q4_1", {0, 2}}, {SF_Q5_0, "Q5_0", {0}},
                           {SF_Q5_1, "Q5_1", {0, 2}}, {SF_Q8_0, "Q8_0", {0}},    {SF_Q4_K, "Q4_K", {0, 2}},
                           {SF_Q5_K, "Q5_K", {0, 2}}, {SF_Q6_K, "Q6_K", {208}}};

/** Random blocks of dtype dt for rows × cols elements: random quants, scales f16 in [2^-12, 2^-10). */
std::vector<uint8_t> random_blocks(int dt, size_t rows, int cols, uint64_t seed) {
  int block = 0, bytes = 0;
  quant_geometry(dt, &block, &bytes);
  size_t nb = rows * size_t(cols / block);
  std::vector<uint8_t> b(nb * bytes);
  for (size_t i = 0; i < b.size(); i++) b[i] = uint8_t(mix64(seed * 0x9e37 + i) >> 24);
  for (const TypeInfo& t : kTypes)
    if (t.dt == dt)
      for (size_t k = 0; k < nb; k++)
        for (int off : t.f16_offsets) {
          uint16_t h = uint16_t(0x1000 + mix64(seed + 7 * k + off) % 0x800);
          std::memcpy(&b[k * bytes + off], &h, 2);
        }
  return b;
}
std::vector<float> dequantized(int dt, const std::vector<uint8_t>& b, size_t n) {
  std::vector<float> f(n);
  sf_dequantize(dt, b.data(), f.data(), int64_t(n), 1);
  return f;
}
uint16_t bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); i++) e = std::max(e, double(std::fabs(a[i] - b[i])));
  return e;
}

void test_dequantizers() {
  // a hand-made Q8_0 block: d = 0.5 (f16 0x3800), q = -128..-97 → q·0.5
  std::vector<uint8_t> q8(34);
  uint16_t half = 0x3800;
  std::memcpy(q8.data(), &half, 2);
  for (int j = 0; j < 32; j++) q8[2 + j] = uint8_t(int8_t(-128 + j));
  float y[32];
  sf_dequantize(SF_Q8_0, q8.data(), y, 32, 1);
  double e = 0;
  for (int j = 0; j < 32; j++) e = std::max(e, std::fabs(y[j] - (-128 + j) * 0.5));
  check(e == 0, "Q8_0 hand-made block dequantizes to q·d", e, 0);
  int top = cpu_detected_level();
  for (const TypeInfo& t : kTypes) {
    int block, bytes;
    quant_geometry(t.dt, &block, &bytes);
    const int n = block * 37;
    auto b = random_blocks(t.dt, 1, n, 5 + t.dt);
    std::vector<float> ref = dequantized(t.dt, b, n);
    bool finite = true;
    for (float v : ref) finite = finite && std::isfinite(v);
    for (int level = CPU_PORTABLE; level <= top; level++) {
      cpu_set_level(level);
      std::vector<float> got(n, -1.0f);
      int rc = sf_dequantize(t.dt, b.data(), got.data(), n, 0);
      bool same = rc == 0 && finite && std::memcmp(got.data(), ref.data(), n * 4) == 0;
      check(same, std::string(t.name) + " dequantize at " + cpu_level_name(level) + " = portable, bitwise",
            same ? 0 : max_diff(got, ref), 0);
    }
    cpu_set_level(top);
  }
  float out[64];
  bool refused =
      sf_dequantize(SF_Q4_K, q8.data(), out, 64, 0) != 0 && sf_dequantize(SF_GGML_TYPE(20), q8.data(), out, 32, 0) != 0;
  check(refused, "dequantize refuses a partial block and an unregistered type", refused ? 0 : 1, 0);
}

/** matmul_forward / matmul_backward_input on ggml blocks = the same on the dequantized weights (F32 levels), or on
 *  them rounded to BF16 (the BF16 level, which packs blocks into the same BF16 panels): bitwise. */
void test_quant_matmuls() {
  int top = cpu_detected_level();
  for (const TypeInfo& t : kTypes) {
    int block, bytes;
    quant_geometry(t.dt, &block, &bytes);
    const int M = 29, N = 70, K = 2 * block + (block == 32 ? 64 : 256);  // K: several blocks; N, M: tails
    auto b = random_blocks(t.dt, N, K, 11 + t.dt);
    std::vector<float> wf = dequantized(t.dt, b, size_t(N) * K), x(size_t(M) * K), g(size_t(M) * N);
    std::vector<uint16_t> wb(wf.size());
    for (size_t i = 0; i < wf.size(); i++) wb[i] = bf16_bits(wf[i]);
    for (size_t i = 0; i < x.size(); i++) x[i] = float(int(mix64(i + 3) % 2001) - 1000) / 1000.0f;
    for (size_t i = 0; i < g.size(); i++) g[i] = float(int(mix64(i + 9) % 2001) - 1000) / 1000.0f;
    for (int level = CPU_PORTABLE; level <= top; level++) {
      cpu_set_level(level);
      const void* ref_w = level == CPU_AVX512_BF16 ? static_cast<const void*>(wb.data()) : wf.data();
      int ref_dt = level == CPU_AVX512_BF16 ? SF_BF16 : SF_F32;
      std::vector<float> o1(size_t(M) * N, 0.5f), o2 = o1, d1(size_t(M) * K, 0.5f), d2 = d1;
      matmul_forward(o1.data(), x.data(), b.data(), t.dt, nullptr, 0, M, N, K, true, 2);
      matmul_forward(o2.data(), x.data(), ref_w, ref_dt, nullptr, 0, M, N, K, true, 2);
      matmul_backward_input(d1.data(), g.data(), b.data(), t.dt, M, N, K, false, 2);
      matmul_backward_input(d2.data(), g.data(), ref_w, ref_dt, M, N, K, false, 2);
      double e = std::max(max_diff(o1, o2), max_diff(d1, d2));
      check(e == 0, std::string(t.name) + " matmuls at " + cpu_level_name(level) + " = on dequantized W, bitwise", e,
            0);
    }
    cpu_set_level(top);
  }
}

/** A small Qwen2 whose matrices are in ggml block types (K-quants like a Q4_K_M file, or the 32-element types),
 *  and the same model with those matrices dequantized (rounded to BF16 where the level computes in BF16). */
struct QuantModel {
  sf_model_config cfg{};
  std::vector<std::vector<uint8_t>> blocks;
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint16_t>> bf16;
  std::vector<sf_tensor> qlayers, rlayers;
  sf_model_weights q{}, ref{};
  QuantModel(bool kquants, bool bf16_matmuls) {
    const int H = kquants ? 256 : 64, I = kquants ? 512 : 128, V = 61, NH = 4, KV = 2, D = H / NH;
    cfg.vocab_size = V, cfg.hidden_size = H, cfg.intermediate_size = I, cfg.num_layers = 2, cfg.num_heads = NH,
    cfg.num_kv_heads = KV;
    cfg.head_dim = 0, cfg.rope_theta = 10000.0f, cfg.rms_norm_eps = 1e-6f, cfg.tie_word_embeddings = 0;
    blocks.reserve(64), f32.reserve(64), bf16.reserve(64);
    uint64_t seed = 100;
    // matrices: type per role, as a Q4_K_M file mixes them (or every 32-element type)
    auto matrix = [&](int dt, size_t rows, int cols, bool embedding, sf_tensor* qt, sf_tensor* rt) {
      blocks.push_back(random_blocks(dt, rows, cols, seed++));
      f32.push_back(dequantized(dt, blocks.back(), rows * cols));
      *qt = sf_tensor{blocks.back().data(), sf_dtype(dt)};
      if (bf16_matmuls && !embedding) {
        bf16.emplace_back(f32.back().size());
        for (size_t i = 0; i < f32.back().size(); i++) bf16.back()[i] = bf16_bits(f32.back()[i]);
        *rt = sf_tensor{bf16.back().data(), SF_BF16};
      } else {
        *rt = sf_tensor{f32.back().data(), SF_F32};
      }
    };
    auto vec = [&](size_t n, float base, sf_tensor* qt, sf_tensor* rt) {
      f32.emplace_back(n);
      for (size_t i = 0; i < n; i++) f32.back()[i] = base + float(int(mix64(seed * 31 + i) % 201) - 100) / 1000.0f;
      seed++;
      *qt = *rt = sf_tensor{f32.back().data(), SF_F32};
    };
    const int k_types[7] = {SF_Q4_K, SF_Q4_K, SF_Q6_K, SF_Q4_K, SF_Q5_K, SF_Q4_K, SF_Q6_K};
    const int s_types[7] = {SF_Q8_0, SF_Q5_0, SF_Q4_0, SF_Q4_1, SF_Q5_1, SF_Q8_0, SF_Q5_0};
    matrix(kquants ? SF_Q4_K : SF_Q8_0, V, H, true, &q.embed_tokens, &ref.embed_tokens);
    matrix(kquants ? SF_Q6_K : SF_Q5_0, V, H, false, &q.lm_head, &ref.lm_head);
    vec(H, 1.0f, &q.norm, &ref.norm);
    const size_t rows[7] = {size_t(H), size_t(KV * D), size_t(KV * D), size_t(H), size_t(I), size_t(I), size_t(H)};
    const int cols[7] = {H, H, H, H, H, H, I};
    qlayers.resize(2 * SF_LAYER_TENSORS), rlayers.resize(2 * SF_LAYER_TENSORS);
    for (int l = 0; l < 2; l++) {
      sf_tensor* qt = &qlayers[l * SF_LAYER_TENSORS];
      sf_tensor* rt = &rlayers[l * SF_LAYER_TENSORS];
      for (int m = 0; m < 7; m++)
        matrix(kquants ? k_types[(m + l) % 7] : s_types[(m + l) % 7], rows[m], cols[m], false, &qt[m], &rt[m]);
      vec(H, 0.0f, &qt[SF_B_Q], &rt[SF_B_Q]);
      vec(KV * D, 0.0f, &qt[SF_B_K], &rt[SF_B_K]);
      vec(KV * D, 0.0f, &qt[SF_B_V], &rt[SF_B_V]);
      vec(H, 1.0f, &qt[SF_W_LN1], &rt[SF_W_LN1]);
      vec(H, 1.0f, &qt[SF_W_LN2], &rt[SF_W_LN2]);
    }
    q.layers = qlayers.data(), ref.layers = rlayers.data();
  }
};

/** One training step (dropout on) and the logits on the quantized model = on its dequantized weights, every level. */
void test_quant_engine() {
  int top = cpu_detected_level();
  for (bool kquants : {true, false})
    for (int level = CPU_PORTABLE; level <= top; level++) {
      cpu_set_level(level);
      QuantModel qm(kquants, level == CPU_AVX512_BF16);
      sf_trainer_params p = sf_trainer_default_params();
      p.lora_rank = 4, p.lora_alpha = 8, p.lora_dropout = 0.1f, p.max_batch = 2, p.max_seq = 9, p.seed = 3,
      p.threads = 2, p.ce_chunk = 5;
      Engine<cpu::Ops<float>> eq(qm.cfg, qm.q, p), er(qm.cfg, qm.ref, p);
      for (size_t i = 0; i < eq.lora_size; i++)
        eq.param[i] = er.param[i] = float(int(mix64(i + 77) % 2001) - 1000) / 4000.0f;
      std::vector<int32_t> ids(18), labels(18);
      for (int i = 0; i < 18; i++) ids[i] = int32_t(mix64(i + 5) % 61), labels[i] = i % 9 < 3 ? -100 : ids[i];
      int64_t tq = 0, tr = 0;
      double lq = eq.forward_backward(ids.data(), labels.data(), 2, 9, 1.0f / 12, &tq);
      double lr = er.forward_backward(ids.data(), labels.data(), 2, 9, 1.0f / 12, &tr);
      std::vector<float> gq(eq.grad, eq.grad + eq.lora_size), gr(er.grad, er.grad + er.lora_size),
          logq(size_t(18) * 61), logr(logq.size());
      eq.logits(ids.data(), 2, 9, logq.data());
      er.logits(ids.data(), 2, 9, logr.data());
      double gmax = 0;
      for (float v : gr) gmax = std::max(gmax, double(std::fabs(v)));
      double e = std::max({std::fabs(lq - lr) / std::fabs(lr), max_diff(gq, gr) / gmax, max_diff(logq, logr)});
      bool ok = tq == tr && tq > 0 && std::isfinite(lq) && gmax > 0 && e <= 1e-6;
      check(ok,
            std::string(kquants ? "K-quant" : "32-block") + " model step at " + cpu_level_name(level) +
                " = dequantized (loss, grads, logits)",
            e, 1e-6);
    }
  cpu_set_level(top);
  // whole blocks only: a Q4_K matrix with 64-element rows is refused with the tensor's name
  QuantModel qm(false, false);
  qm.qlayers[SF_W_Q] = sf_tensor{qm.blocks[2].data(), SF_Q4_K};
  std::string msg;
  try {
    Engine<cpu::Ops<float>> e(qm.cfg, qm.q, sf_trainer_default_params());
  } catch (const std::exception& ex) { msg = ex.what(); }
  bool named =
      msg.find("layer 0 q_proj.weight") != std::string::npos && msg.find("256-element blocks") != std::string::npos;
  check(named, "a matrix whose rows are not whole blocks is refused by name", named ? 0 : 1, 0);
}

/** The BF16-compute path (AVX-512 BF16: activations rounded to BF16 at the base matmuls) against the F32 path on the
 *  same BF16 weights: one training step's loss, LoRA gradients and logits within BF16 tolerance. */
void test_bf16_parity() {
  if (cpu_detected_level() < CPU_AVX512_BF16) {
    std::printf("skip BF16-compute parity (this CPU has no AVX-512 BF16)\n");
    return;
  }
  // a small Qwen2 initialised like a real one (matrices ±0.05, the embeddings ±1, norms 1): BF16 matrices
  const int H = 256, I = 512, V = 61, KV = 2, D = 64;
  sf_model_config cfg{};
  cfg.vocab_size = V, cfg.hidden_size = H, cfg.intermediate_size = I, cfg.num_layers = 2, cfg.num_heads = 4,
  cfg.num_kv_heads = KV;
  cfg.rope_theta = 10000.0f, cfg.rms_norm_eps = 1e-6f;
  std::vector<std::vector<uint16_t>> mats;
  std::vector<std::vector<float>> vecs;
  mats.reserve(32), vecs.reserve(32);
  uint64_t seed = 900;
  auto mat = [&](size_t n) {
    mats.emplace_back(n);
    for (size_t i = 0; i < n; i++)
      mats.back()[i] = bf16_bits(float(int(mix64(seed * 131 + i) % 2001) - 1000) / 20000.0f);
    seed++;
    return sf_tensor{mats.back().data(), SF_BF16, 0};
  };
  auto vec = [&](size_t n, float base, float spread) {
    vecs.emplace_back(n);
    for (size_t i = 0; i < n; i++)
      vecs.back()[i] = base + spread * float(int(mix64(seed * 77 + i) % 2001) - 1000) / 1000.0f;
    seed++;
    return sf_tensor{vecs.back().data(), SF_F32, 0};
  };
  sf_model_weights w{};
  w.embed_tokens = vec(size_t(V) * H, 0, 1), w.lm_head = mat(size_t(V) * H), w.norm = vec(H, 1, 0.1f);
  std::vector<sf_tensor> layers;
  for (int l = 0; l < 2; l++) {
    const size_t n[7] = {size_t(H) * H, size_t(KV * D) * H, size_t(KV * D) * H, size_t(H) * H,
                         size_t(I) * H, size_t(I) * H,      size_t(H) * I};
    for (int m = 0; m < 7; m++) layers.push_back(mat(n[m]));
    layers.push_back(vec(H, 0, 0.1f)), layers.push_back(vec(KV * D, 0, 0.1f)), layers.push_back(vec(KV * D, 0, 0.1f));
    layers.push_back(vec(H, 1, 0.1f)), layers.push_back(vec(H, 1, 0.1f));
  }
  w.layers = layers.data();
  sf_trainer_params p = sf_trainer_default_params();
  p.lora_rank = 4, p.lora_alpha = 8, p.lora_dropout = 0.1f, p.max_batch = 2, p.max_seq = 9, p.seed = 3, p.threads = 2,
  p.ce_chunk = 5;
  std::vector<int32_t> ids(18), labels(18);
  for (int i = 0; i < 18; i++) ids[i] = int32_t(mix64(i + 5) % 61), labels[i] = i % 9 < 3 ? -100 : ids[i];
  struct Out {
    double loss;
    std::vector<float> grad, logits;
  } out[2];
  for (int k = 0; k < 2; k++) {
    cpu_set_level(k == 0 ? CPU_AVX512 : CPU_AVX512_BF16);
    Engine<cpu::Ops<float>> e(cfg, w, p);
    for (size_t i = 0; i < e.lora_size; i++) e.param[i] = float(int(mix64(i + 77) % 2001) - 1000) / 4000.0f;
    int64_t tk = 0;
    out[k].loss = e.forward_backward(ids.data(), labels.data(), 2, 9, 1.0f / 12, &tk);
    out[k].grad.assign(e.grad, e.grad + e.lora_size);
    out[k].logits.resize(size_t(18) * 61);
    e.logits(ids.data(), 2, 9, out[k].logits.data());
  }
  cpu_set_level(cpu_detected_level());
  double gmax = 0, lmax = 0;
  for (float v : out[0].grad) gmax = std::max(gmax, double(std::fabs(v)));
  for (float v : out[0].logits) lmax = std::max(lmax, double(std::fabs(v)));
  double el = std::fabs(out[1].loss - out[0].loss) / std::fabs(out[0].loss);
  double eg = max_diff(out[1].grad, out[0].grad) / gmax, eo = max_diff(out[1].logits, out[0].logits) / lmax;
  check(el < 1e-3 && el > 0, "BF16 compute vs F32 on BF16 weights: loss (rel)", el, 1e-3);
  check(eg < 3e-2, "BF16 compute vs F32 on BF16 weights: LoRA grads (rel to max)", eg, 3e-2);
  check(eo < 2e-2, "BF16 compute vs F32 on BF16 weights: logits (rel to max)", eo, 2e-2);
}

}  // namespace

int quant_tests() {
  test_dequantizers();
  test_quant_matmuls();
  test_quant_engine();
  test_bf16_parity();
  return failures;
}
