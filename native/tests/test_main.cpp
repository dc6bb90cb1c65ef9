// The core's tests (ctest): finite-difference gradient checks in double precision for every kernel and for the
// whole model (all LoRA targets, GQA, bias, dropout, ignore-index), SIMD float kernels against the double
// reference, AdamW against hand-computed values, and determinism. Prints one line per check; exit 1 on failure.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/engine.h"
#include "cpu/kernels.h"

using namespace sf;

static int failures = 0;
static void check(bool ok, const std::string& what, double value, double limit) {
  std::printf("%s %-52s %.3e (limit %.1e)\n", ok ? "ok  " : "FAIL", what.c_str(), value, limit);
  if (!ok) failures++;
}

struct Rng {
  uint64_t s;
  double uniform() { return double(mix64(s++) >> 11) * (1.0 / 9007199254740992.0); }
  double sym(double a = 1) { return (2 * uniform() - 1) * a; }
  std::vector<double> vec(size_t n, double a = 1) {
    std::vector<double> v(n);
    for (auto& x : v) x = sym(a);
    return v;
  }
};

/** max |analytic − numeric| / max |numeric| over the inputs x, where numeric = central differences of f. */
static double fd_error(double* x, size_t n, const std::vector<double>& analytic, const std::function<double()>& f,
                       double h = 1e-5) {
  double maxdiff = 0, maxref = 1e-12;
  for (size_t i = 0; i < n; i++) {
    double keep = x[i];
    x[i] = keep + h;
    double fp = f();
    x[i] = keep - h;
    double fm = f();
    x[i] = keep;
    double num = (fp - fm) / (2 * h);
    maxdiff = std::max(maxdiff, std::fabs(num - analytic[i]));
    maxref = std::max(maxref, std::fabs(num));
  }
  return maxdiff / maxref;
}
static double fd_error(std::vector<double>& x, const std::vector<double>& analytic, const std::function<double()>& f,
                       double h = 1e-5) {
  return fd_error(x.data(), x.size(), analytic, f, h);
}
static double dot(const std::vector<double>& a, const double* b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

static void test_kernels() {
  Rng rng{1};
  const int N = 6, C = 8, K = 5, th = 2;
  // rmsnorm
  {
    auto x = rng.vec(N * C), w = rng.vec(C), r = rng.vec(N * C);
    std::vector<double> out(N * C), rstd(N), dx(N * C);
    auto f = [&] {
      rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), SF_F64, N, C, 1e-6f, th);
      return dot(r, out.data());
    };
    f();
    rmsnorm_backward(dx.data(), r.data(), x.data(), rstd.data(), w.data(), SF_F64, N, C, false, th);
    double e = fd_error(x, dx, f);
    check(e < 1e-6, "rmsnorm_backward (fd, double)", e, 1e-6);
  }
  // matmul: input gradient, and the weight gradient kernel
  {
    auto x = rng.vec(N * C), w = rng.vec(K * C), b = rng.vec(K), r = rng.vec(N * K);
    std::vector<double> out(N * K), dx(N * C), dw(K * C, 0.0);
    auto f = [&] {
      matmul_forward(out.data(), x.data(), w.data(), SF_F64, b.data(), SF_F64, N, K, C, false, th);
      return dot(r, out.data());
    };
    f();
    matmul_backward_input(dx.data(), r.data(), w.data(), SF_F64, N, K, C, false, th);
    check(fd_error(x, dx, f) < 1e-6, "matmul_backward_input (fd, double)", fd_error(x, dx, f), 1e-6);
    matmul_backward_weight(dw.data(), r.data(), x.data(), N, K, C, 1.0, th);
    double e = fd_error(w, dw, f);
    check(e < 1e-6, "matmul_backward_weight (fd, double)", e, 1e-6);
  }
  // rope
  {
    const int B = 2, Tn = 3, heads = 2, D = 4;
    std::vector<double> cs;
    rope_tables(cs, Tn, D, 10000.0);
    auto x = rng.vec(B * Tn * heads * D), r = rng.vec(x.size());
    std::vector<double> y(x.size());
    auto f = [&] {
      y = x;
      rope_forward(y.data(), cs.data(), B, Tn, heads, D, th);
      return dot(r, y.data());
    };
    std::vector<double> dx = r;
    rope_backward(dx.data(), cs.data(), B, Tn, heads, D, th);
    double e = fd_error(x, dx, f);
    check(e < 1e-6, "rope_backward (fd, double)", e, 1e-6);
  }
  // attention (GQA)
  {
    const int B = 2, Tn = 5, NH = 4, KV = 2, D = 4;
    auto q = rng.vec(B * Tn * NH * D), k = rng.vec(B * Tn * KV * D), v = rng.vec(B * Tn * KV * D),
         r = rng.vec(q.size());
    std::vector<double> out(q.size()), lse(B * NH * Tn), dq(q.size()), dk(k.size()), dv(v.size());
    auto f = [&] {
      attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), B, Tn, NH, KV, D, th);
      return dot(r, out.data());
    };
    f();
    attention_backward(dq.data(), dk.data(), dv.data(), r.data(), lse.data(), q.data(), k.data(), v.data(), B, Tn, NH,
                       KV, D, th);
    double e = std::max({fd_error(q, dq, f), fd_error(k, dk, f), fd_error(v, dv, f)});
    check(e < 1e-6, "attention_backward q/k/v (fd, double)", e, 1e-6);
  }
  // swiglu
  {
    auto g = rng.vec(N * C, 3), u = rng.vec(N * C), r = rng.vec(N * C);
    std::vector<double> out(N * C), dg(N * C), du(N * C);
    auto f = [&] {
      swiglu_forward(out.data(), g.data(), u.data(), out.size(), th);
      return dot(r, out.data());
    };
    swiglu_backward(dg.data(), du.data(), r.data(), g.data(), u.data(), out.size(), th);
    double e = std::max(fd_error(g, dg, f), fd_error(u, du, f));
    check(e < 1e-6, "swiglu_backward (fd, double)", e, 1e-6);
  }
  // dropout
  {
    auto x = rng.vec(N * C), r = rng.vec(N * C);
    std::vector<double> out(N * C), dx(N * C, 0.0);
    auto f = [&] {
      dropout_forward(out.data(), x.data(), out.size(), 0.3f, dropout_key(7, 3, 2), th);
      return dot(r, out.data());
    };
    dropout_backward(dx.data(), r.data(), out.size(), 0.3f, dropout_key(7, 3, 2), th);
    double e = fd_error(x, dx, f);
    check(e < 1e-6, "dropout_backward (fd, double)", e, 1e-6);
  }
  // classifier (fused lm_head + cross-entropy)
  {
    const int Nc = 5, Vv = 11;
    auto h = rng.vec(Nc * C), w = rng.vec(Vv * C);
    std::vector<int32_t> lab = {0, 3, 10, 7, 3};
    std::vector<double> logits(Nc * Vv), dh(Nc * C);
    auto f = [&] {
      std::vector<double> tmp(Nc * C);
      return classifier_forward_backward(tmp.data(), h.data(), lab.data(), w.data(), SF_F64, Nc, Vv, C, 1.0,
                                         logits.data(), false, th);
    };
    double loss = classifier_forward_backward(dh.data(), h.data(), lab.data(), w.data(), SF_F64, Nc, Vv, C, 0.5,
                                              logits.data(), true, th);
    for (auto& x : dh) x *= 2;  // scale 0.5 → compare with the unscaled loss
    double e = fd_error(h, dh, f);
    check(e < 1e-6 && std::isfinite(loss), "classifier_forward_backward (fd, double)", e, 1e-6);
  }
}

// SIMD float kernels vs the double reference, every base dtype.
static uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
static double round_bf16(double v) { return bf16_to_f32(to_bf16(float(v))); }
static void test_float_kernels() {
  Rng rng{2};
  for (int dt : {SF_F32, SF_BF16}) {
    // BF16 compute (AVX-512 BF16 level, BF16 weights) rounds x and dout to BF16 at the matmul inputs: the double
    // reference gets the same inputs, so only the F32 summation differs
    const bool bf16_compute = dt == SF_BF16 && cpu_level() == CPU_AVX512_BF16;
    for (auto [M, N, K] :
         {std::tuple{7, 37, 40}, std::tuple{64, 300, 256}, std::tuple{33, 16, 768}, std::tuple{5, 1000, 16},
          std::tuple{50, 48, 16}, std::tuple{40, 16, 128}, std::tuple{29, 45, 301}}) {
      auto xd = rng.vec(size_t(M) * K), gd = rng.vec(size_t(M) * N);
      std::vector<float> x(xd.begin(), xd.end()), g(gd.begin(), gd.end()), wf(size_t(N) * K);
      auto xr = xd, gr = gd;
      if (bf16_compute)
        for (auto* v : {&xr, &gr})
          for (auto& e : *v) e = round_bf16(e);
      std::vector<uint16_t> wb(size_t(N) * K);
      for (size_t i = 0; i < wf.size(); i++) {
        wf[i] = float(rng.sym());
        wb[i] = to_bf16(wf[i]);
        if (dt == SF_BF16) wf[i] = bf16_to_f32(wb[i]);
      }
      std::vector<double> wd(wf.begin(), wf.end()), ref(size_t(M) * N), refdx(size_t(M) * K);
      const void* wp = dt == SF_F32 ? (const void*)wf.data() : (const void*)wb.data();
      std::vector<float> out(size_t(M) * N, 1.0f), dx(size_t(M) * K, 1.0f);
      matmul_forward(ref.data(), xr.data(), wd.data(), SF_F64, nullptr, 0, M, N, K, false, 1);
      matmul_forward(out.data(), x.data(), wp, dt, nullptr, 0, M, N, K, true, 2);  // accumulate onto 1
      matmul_backward_input(refdx.data(), gr.data(), wd.data(), SF_F64, M, N, K, false, 1);
      matmul_backward_input(dx.data(), g.data(), wp, dt, M, N, K, true, 2);
      // weight gradient (LoRA): dW[N, K] += 0.5 · gᵀ · x
      std::vector<double> refdw(size_t(N) * K, 0.0);
      std::vector<float> dw(size_t(N) * K, 1.0f);
      matmul_backward_weight(refdw.data(), gd.data(), xd.data(), M, N, K, 0.5, 1);
      matmul_backward_weight(dw.data(), g.data(), x.data(), M, N, K, 0.5f, 2);
      double e = 0;
      for (size_t i = 0; i < out.size(); i++) e = std::max(e, std::fabs(out[i] - 1.0 - ref[i]) / std::sqrt(double(K)));
      for (size_t i = 0; i < dx.size(); i++) e = std::max(e, std::fabs(dx[i] - 1.0 - refdx[i]) / std::sqrt(double(N)));
      for (size_t i = 0; i < dw.size(); i++) e = std::max(e, std::fabs(dw[i] - 1.0 - refdw[i]) / std::sqrt(double(M)));
      char name[96];
      std::snprintf(name, sizeof name, "float matmuls %s M%d N%d K%d vs double",
                    dt == SF_F32   ? "F32"
                    : bf16_compute ? "BF16 (bf16 compute)"
                                   : "BF16",
                    M, N, K);
      check(e < 1e-5, name, e, 1e-5);
    }
  }
}

// The float attention (SIMD, query blocks) vs the double reference, forward and backward.
static void test_float_attention() {
  Rng rng{6};
  for (int D : {16, 64}) {
    const int B = 2, Tn = 70, NH = 4, KV = 2;
    auto qd = rng.vec(size_t(B) * Tn * NH * D), kd = rng.vec(size_t(B) * Tn * KV * D), vd = rng.vec(kd.size()),
         gd = rng.vec(qd.size());
    std::vector<float> q(qd.begin(), qd.end()), k(kd.begin(), kd.end()), v(vd.begin(), vd.end()),
        g(gd.begin(), gd.end());
    std::vector<float> out(q.size()), lse(size_t(B) * NH * Tn), dq(q.size()), dk(k.size()), dv(v.size());
    std::vector<double> outd(q.size()), lsed(lse.size()), dqd(q.size()), dkd(k.size()), dvd(v.size());
    attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), B, Tn, NH, KV, D, 2);
    attention_backward(dq.data(), dk.data(), dv.data(), g.data(), lse.data(), q.data(), k.data(), v.data(), B, Tn, NH,
                       KV, D, 2);
    attention_forward(outd.data(), lsed.data(), qd.data(), kd.data(), vd.data(), B, Tn, NH, KV, D, 1);
    attention_backward(dqd.data(), dkd.data(), dvd.data(), gd.data(), lsed.data(), qd.data(), kd.data(), vd.data(), B,
                       Tn, NH, KV, D, 1);
    double e = 0;
    for (size_t i = 0; i < out.size(); i++) e = std::max({e, std::fabs(out[i] - outd[i]), std::fabs(dq[i] - dqd[i])});
    for (size_t i = 0; i < lse.size(); i++) e = std::max(e, std::fabs(lse[i] - lsed[i]));
    for (size_t i = 0; i < dk.size(); i++) e = std::max({e, std::fabs(dk[i] - dkd[i]), std::fabs(dv[i] - dvd[i])});
    char name[96];
    std::snprintf(name, sizeof name, "float attention D%d T%d (fwd+bwd) vs double", D, Tn);
    check(e < 2e-5, name, e, 2e-5);
  }
}

// The float classifier (SIMD: vocabulary-major logits, vector softmax) vs the double reference.
static void test_float_classifier() {
  Rng rng{4};
  for (int dt : {SF_F32, SF_BF16}) {
    const int Nc = 37, V = 1003, C = 64;
    auto hd = rng.vec(size_t(Nc) * C, 2);
    std::vector<float> h(hd.begin(), hd.end()), wf(size_t(V) * C), logits(size_t(V) * 48), dh(size_t(Nc) * C);
    std::vector<uint16_t> wb(wf.size());
    for (size_t i = 0; i < wf.size(); i++) {
      wf[i] = float(rng.sym());
      wb[i] = to_bf16(wf[i]);
      if (dt == SF_BF16) wf[i] = bf16_to_f32(wb[i]);
    }
    std::vector<double> wd(wf.begin(), wf.end()), dlog(size_t(V) * Nc), dhd(size_t(Nc) * C);
    std::vector<int32_t> lab(Nc);
    for (int i = 0; i < Nc; i++) lab[i] = int32_t(rng.uniform() * V);
    lab[3] = V - 1;
    const void* wp = dt == SF_F32 ? (const void*)wf.data() : (const void*)wb.data();
    double lf =
        classifier_forward_backward(dh.data(), h.data(), lab.data(), wp, dt, Nc, V, C, 0.5f, logits.data(), true, 2);
    double ld = classifier_forward_backward(dhd.data(), hd.data(), lab.data(), wd.data(), SF_F64, Nc, V, C, 0.5,
                                            dlog.data(), true, 1);
    double lf2 =
        classifier_forward_backward(dh.data(), h.data(), lab.data(), wp, dt, Nc, V, C, 0.5f, logits.data(), false, 2);
    double e = std::max(std::fabs(lf - ld), std::fabs(lf2 - ld)) / std::fabs(ld);
    for (size_t i = 0; i < dh.size(); i++) e = std::max(e, std::fabs(dh[i] - dhd[i]));
    char name[96];
    // BF16 compute: h and the softmax gradient are rounded to BF16 at the two matmuls (relative error ~2^-9)
    double limit = dt == SF_BF16 && cpu_level() == CPU_AVX512_BF16 ? 5e-3 : 1e-5;
    std::snprintf(name, sizeof name, "float classifier %s (loss rel, dh abs) vs double",
                  dt == SF_F32   ? "F32"
                  : limit > 1e-5 ? "BF16 (bf16 compute)"
                                 : "BF16");
    check(e < limit, name, e, limit);
  }
}

// A tiny Qwen2 with every feature the engine has.
struct TinyModel {
  sf_model_config cfg{};
  std::vector<std::vector<double>> store;
  std::vector<sf_tensor> layer;
  sf_model_weights w{};
  explicit TinyModel(bool tie, uint64_t seed = 3) {
    cfg.vocab_size = 23, cfg.hidden_size = 16, cfg.intermediate_size = 24, cfg.num_layers = 2, cfg.num_heads = 4,
    cfg.num_kv_heads = 2;
    cfg.head_dim = 0, cfg.rope_theta = 10000.0f, cfg.rms_norm_eps = 1e-6f, cfg.tie_word_embeddings = tie;
    Rng rng{seed};
    int H = 16, I = 24, kv = 8;
    auto t = [&](size_t n, double a, double base = 0) {
      store.push_back(rng.vec(n, a));
      for (auto& x : store.back()) x += base;
      return sf_tensor{store.back().data(), sf_dtype(SF_F64), 0};
    };
    store.reserve(64);
    w.embed_tokens = t(23 * H, 1);
    w.lm_head = t(23 * H, 0.5);
    w.norm = t(H, 0.2, 1);
    for (int l = 0; l < 2; l++) {
      const size_t sizes[SF_LAYER_TENSORS] = {size_t(H * H), size_t(kv * H), size_t(kv * H), size_t(H * H),
                                              size_t(I * H), size_t(I * H),  size_t(H * I),  size_t(H),
                                              size_t(kv),    size_t(kv),     size_t(H),      size_t(H)};
      for (int k = 0; k < SF_LAYER_TENSORS; k++)
        layer.push_back(k >= SF_W_LN1 ? t(sizes[k], 0.2, 1) : t(sizes[k], 0.4));
    }
    w.layers = layer.data();
  }
};

static sf_trainer_params tiny_params(float dropout) {
  sf_trainer_params p = sf_trainer_default_params();
  p.lora_rank = 3, p.lora_alpha = 5, p.lora_dropout = dropout, p.max_batch = 2, p.max_seq = 7, p.seed = 11,
  p.ce_chunk = 4;
  return p;
}

static void test_model_gradients() {
  for (int variant = 0; variant < 3; variant++) {
    TinyModel tm(variant == 1);
    sf_trainer_params p = tiny_params(variant == 2 ? 0.0f : 0.2f);
    p.recompute = variant == 1;
    p.threads = 1;  // thousands of tiny steps: threads would only add overhead here
    Engine<cpu::Ops<double>> e(tm.cfg, tm.w, p);
    Rng rng{5};
    for (size_t i = 0; i < e.lora_size; i++) e.param[i] = rng.sym(0.5);  // B ≠ 0 so every path carries gradient
    std::vector<int32_t> ids = {1, 5, 22, 7, 0, 3, 9, 4, 4, 18, 2, 11, 6, 13};
    std::vector<int32_t> labels = {-100, -100, 22, 7, 0, 3, -100, -100, 4, 18, -100, 11, 6, 13};
    const double scale = 0.25;
    uint64_t counter = e.rng_counter;
    int64_t tokens = 0;
    e.zero_grad();
    e.forward_backward(ids.data(), labels.data(), 2, 7, scale, &tokens);
    std::vector<double> analytic(e.grad, e.grad + e.lora_size);
    auto f = [&] {
      e.rng_counter = counter;
      int64_t tk;
      double l = e.forward_backward(ids.data(), labels.data(), 2, 7, scale, &tk);
      return scale * l;
    };
    double err = fd_error(e.param, e.lora_size, analytic, f);
    const char* names[] = {"whole model lora grads (fd, dropout 0.2, untied)",
                           "whole model lora grads (fd, tied, recompute)", "whole model lora grads (fd, no dropout)"};
    check(err < 1e-6 && tokens == 9, names[variant], err, 1e-6);
  }
}

// The dropout stream is part of the checkpoint format (seed + counter) and mirrored by the CUDA engine: pin it.
static void test_dropout_stream() {
  float a = dropout_uniform(42, 3, 5, 7), b = dropout_uniform(0, 0, 0, 0);
  float c = dropout_uniform_keyed(42 ^ mix64(3 * 0x100000001b3ull + 5), 7);
  double e = std::max({std::fabs(a - 0.124066889), std::fabs(b - 0.945880771), std::fabs(double(c) - double(a))});
  check(e < 1e-8, "dropout stream golden values", e, 1e-8);
}

static void test_adamw() {
  // Two steps by hand (PyTorch AdamW), lr 0.1, wd 0.01, betas (0.9, 0.999), eps 1e-8.
  double p[2] = {1.0, -2.0}, g1[2] = {0.5, -1.5}, g2[2] = {-0.25, 2.0}, m[2] = {0, 0}, v[2] = {0, 0};
  adamw_update(p, g1, m, v, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 1.0, 1);
  adamw_update(p, g2, m, v, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 2, 1.0, 1);
  double lr = double(0.1f), wd = double(0.01f), b1 = double(0.9f), b2 = double(0.999f), eps = double(1e-8f);
  double err = 0;
  double pe[2] = {1.0, -2.0};
  for (int i = 0; i < 2; i++) {
    double mm = 0, vv = 0;
    double gs[2] = {g1[i], g2[i]};
    for (int t = 1; t <= 2; t++) {
      pe[i] *= 1 - lr * wd;
      mm = b1 * mm + (1 - b1) * gs[t - 1];
      vv = b2 * vv + (1 - b2) * gs[t - 1] * gs[t - 1];
      pe[i] -= lr / (1 - std::pow(b1, t)) * mm / (std::sqrt(vv) / std::sqrt(1 - std::pow(b2, t)) + eps);
    }
    err = std::max(err, std::fabs(pe[i] - p[i]));
  }
  // first step of Adam moves each parameter by ≈ lr against the gradient's sign
  check(err < 1e-12 && std::fabs(p[0] - (1.0 * 0.999 - 0.1)) < 0.2, "adamw_update vs hand-computed (2 steps)", err,
        1e-12);
}

static void test_determinism_and_clipping() {
  TinyModel tm(false);
  std::vector<float> store;
  // float engine on F32 copies of the weights
  std::vector<std::vector<float>> f32;
  auto conv = [&](sf_tensor t, size_t n) {
    const double* d = static_cast<const double*>(t.data);
    f32.emplace_back(d, d + n);
    return sf_tensor{f32.back().data(), SF_F32, f32.back().size() * 4};
  };
  f32.reserve(64);
  sf_model_weights w{};
  std::vector<sf_tensor> layers;
  w.embed_tokens = conv(tm.w.embed_tokens, 23 * 16);
  w.lm_head = conv(tm.w.lm_head, 23 * 16);
  w.norm = conv(tm.w.norm, 16);
  for (size_t i = 0; i < tm.layer.size(); i++) layers.push_back(conv(tm.layer[i], tm.store[3 + i].size()));
  w.layers = layers.data();
  std::vector<int32_t> ids = {1, 5, 22, 7, 0, 3, 9, 4, 4, 18, 2, 11, 6, 13};
  std::vector<int32_t> labels = {-100, -100, 22, 7, 0, 3, -100, -100, 4, 18, -100, 11, 6, 13};
  std::vector<float> finals[2];
  double norms[2][3];
  for (int run = 0; run < 2; run++) {
    Engine<cpu::Ops<float>> e(tm.cfg, w, tiny_params(0.1f));
    for (int s = 0; s < 3; s++) {
      int64_t tk;
      e.forward_backward(ids.data(), labels.data(), 2, 7, 1.0f / 9, &tk);
      norms[run][s] = e.optimizer_step(1e-2f);
    }
    finals[run].assign(e.param, e.param + e.lora_size);
  }
  bool same = finals[0] == finals[1] && norms[0][2] == norms[1][2];
  check(same, "determinism: two runs, same seed, bitwise equal", same ? 0 : 1, 0);
  // clipping: the update uses g · max_norm / (norm + 1e-6) when norm > max_norm
  Engine<cpu::Ops<float>> e(tm.cfg, w, tiny_params(0.0f));
  e.params.max_grad_norm = 1e-3f;
  for (size_t i = 0; i < e.lora_size; i++) e.grad[i] = 1.0f;
  double norm = e.optimizer_step(0.0f);
  double expect_m = 0.1 * (1e-3 / (norm + 1e-6));
  check(std::fabs(e.adam_m[0] - expect_m) < 1e-9, "clipping: m after one step = (1-b1)·g·clip",
        std::fabs(e.adam_m[0] - expect_m), 1e-9);
  for (size_t i = 0; i < e.lora_size; i++) e.grad[i] = NAN;
  bool threw = false;
  std::vector<float> before(e.param, e.param + e.lora_size);
  try {
    e.optimizer_step(0.1f);
  } catch (const Error& err) { threw = err.status == SF_ERR_NONFINITE_GRADIENTS; }
  bool untouched = before == std::vector<float>(e.param, e.param + e.lora_size) && e.grad[0] == 0.0f;
  check(threw && untouched, "optimizer_step rejects NaN grads (SF_ERR_NONFINITE_GRADIENTS), no update, grads zeroed",
        threw ? 0 : 1, 0);
}

int quant_tests();  // test_quant.cpp

// Every SIMD level the CPU has against the portable level (the templates as written), kernel by kernel, in one
// process (cpu_set_level); the ctest variants sqlfocus_core_tests_<level> run the float tests under SQLFOCUS_CPU.
static void test_levels() {
  Rng rng{9};
  struct Out {
    std::vector<float> fwd, bwd, wg, att, lse, dq, dk, dv, xent, sw, dg, du, dr, drb;
    double loss = 0;
  };
  const int M = 37, N = 70, K = 48;  // tails at every level (K multiple of 16; N, M not)
  auto xd = rng.vec(size_t(M) * K), gd = rng.vec(size_t(M) * N);
  std::vector<float> x(xd.begin(), xd.end()), g(gd.begin(), gd.end()), wf(size_t(N) * K);
  std::vector<uint16_t> wb(wf.size());
  for (size_t i = 0; i < wf.size(); i++) {
    wf[i] = float(rng.sym());
    wb[i] = to_bf16(wf[i]);
  }
  const int B = 1, Tn = 90, NH = 4, KV = 2, D = 32;
  auto qd = rng.vec(size_t(B) * Tn * NH * D), kd = rng.vec(size_t(B) * Tn * KV * D), vd = rng.vec(kd.size());
  std::vector<float> q(qd.begin(), qd.end()), k(kd.begin(), kd.end()), v(vd.begin(), vd.end());
  std::vector<int32_t> lab(M);
  for (int i = 0; i < M; i++) lab[i] = int32_t(rng.uniform() * N);
  auto run = [&](int level) {
    cpu_set_level(level);
    Out o;
    o.fwd.assign(size_t(M) * N, 0.5f), o.bwd.assign(size_t(M) * K, 0.5f), o.wg.assign(size_t(N) * K, 0.5f);
    matmul_forward(o.fwd.data(), x.data(), wb.data(), SF_BF16, nullptr, 0, M, N, K, true, 2);
    std::vector<float> f32(size_t(M) * N);
    matmul_forward(f32.data(), x.data(), wf.data(), SF_F32, nullptr, 0, M, N, K, false, 2);
    o.fwd.insert(o.fwd.end(), f32.begin(), f32.end());
    matmul_backward_input(o.bwd.data(), g.data(), wb.data(), SF_BF16, M, N, K, true, 2);
    matmul_backward_weight(o.wg.data(), g.data(), x.data(), M, N, K, 0.5f, 2);
    o.att.resize(q.size()), o.lse.resize(size_t(B) * NH * Tn), o.dq.resize(q.size()), o.dk.resize(k.size()),
        o.dv.resize(v.size());
    attention_forward(o.att.data(), o.lse.data(), q.data(), k.data(), v.data(), B, Tn, NH, KV, D, 2);
    attention_backward(o.dq.data(), o.dk.data(), o.dv.data(), q.data(), o.lse.data(), q.data(), k.data(), v.data(), B,
                       Tn, NH, KV, D, 2);
    o.xent = f32;
    o.loss = classifier_forward_backward(o.bwd.data(), x.data(), lab.data(), wb.data(), SF_BF16, M, N, K, 0.25f,
                                         o.xent.data(), true, 2);
    o.sw.resize(g.size()), o.dg.resize(g.size()), o.du.resize(g.size()), o.dr.resize(g.size()),
        o.drb.assign(g.size(), 1.0f);
    swiglu_forward(o.sw.data(), g.data(), f32.data(), g.size(), 2);
    swiglu_backward(o.dg.data(), o.du.data(), o.sw.data(), g.data(), f32.data(), g.size(), 2);
    dropout_forward(o.dr.data(), g.data(), g.size(), 0.3f, dropout_key(7, 3, 11), 2);
    dropout_backward(o.drb.data(), g.data(), g.size(), 0.3f, dropout_key(7, 3, 11), 2);
    return o;
  };
  int top = cpu_detected_level();
  Out ref = run(CPU_PORTABLE);
  auto diff = [](const std::vector<float>& a, const std::vector<float>& b) {
    double e = 0, m = 1e-6;
    for (size_t i = 0; i < a.size(); i++)
      e = std::max(e, double(std::fabs(a[i] - b[i]))), m = std::max(m, double(std::fabs(b[i])));
    return e / m;
  };
  for (int level = CPU_AVX2; level <= top; level++) {
    Out o = run(level);
    double e = std::max({diff(o.fwd, ref.fwd), diff(o.bwd, ref.bwd), diff(o.wg, ref.wg), diff(o.att, ref.att),
                         diff(o.lse, ref.lse), diff(o.dq, ref.dq), diff(o.dk, ref.dk), diff(o.dv, ref.dv),
                         diff(o.xent, ref.xent), diff(o.sw, ref.sw), diff(o.dg, ref.dg), diff(o.du, ref.du),
                         std::fabs(o.loss - ref.loss) / std::fabs(ref.loss)});
    // BF16 compute rounds the activations at the matmul inputs: BF16 tolerance there
    double limit = level == CPU_AVX512_BF16 ? 2e-2 : 1e-5;
    check(e < limit, std::string("level ") + cpu_level_name(level) + " vs portable (all kernels)", e, limit);
    bool same_dropout = o.dr == ref.dr && o.drb == ref.drb;
    check(same_dropout, std::string("level ") + cpu_level_name(level) + " dropout bitwise = portable",
          same_dropout ? 0 : 1, 0);
  }
  cpu_set_level(top);
}

int main(int argc, char** argv) {
  std::printf("cpu level %s (detected %s)\n", cpu_level_name(cpu_level()), cpu_level_name(cpu_detected_level()));
  if (argc > 1 && std::string(argv[1]) == "--level-only") {
    // run under SQLFOCUS_CPU=<level>: the level is honoured (or clamped to what the CPU has) and its float kernels
    // match the double reference
    const char* env = std::getenv("SQLFOCUS_CPU");
    int want = -1;
    for (int l = 0; l <= CPU_AVX512_BF16; l++)
      if (env && std::string(env) == cpu_level_name(l)) want = l;
    bool honoured = want >= 0 && cpu_level() == std::min(want, cpu_detected_level()) && !*cpu_env_error();
    check(honoured, std::string("SQLFOCUS_CPU=") + (env ? env : "") + " selects that level", honoured ? 0 : 1, 0);
    test_float_kernels();
    test_float_classifier();
    test_float_attention();
    std::printf("%s (%d failure%s)\n", failures ? "FAILED" : "all passed", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
  }
  test_levels();
  failures += quant_tests();
  test_kernels();
  test_float_kernels();
  test_float_classifier();
  test_float_attention();
  test_model_gradients();
  test_dropout_stream();
  test_adamw();
  test_determinism_and_clipping();
  std::printf("%s (%d failure%s)\n", failures ? "FAILED" : "all passed", failures, failures == 1 ? "" : "s");
  return failures ? 1 : 0;
}
