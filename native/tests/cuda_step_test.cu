// CUDA engine tests (built only with CUDA + cuBLAS; run on a GPU machine by ctest as sqlfocus_cuda_tests).
// The one training step (native/core/train.cpp) on the CUDA device against the same step on the CPU device, both
// through the C API, on the same tiny models: logits, loss, every LoRA gradient, three AdamW steps with dropout on
// (both devices draw the same masks from core/shared.h's hash), the F32 config to tight tolerances and the BF16
// config to BF16 ones; plus recompute == no recompute, accumulation == one big batch, rejection of non-finite
// gradients (SF_ERR_NONFINITE_GRADIENTS), LoRA state round trips, and the attention / cross-entropy kernels alone.
// Prints one line per check like the core tests; exit 1 on failure, 77 (ctest: skipped) without a GPU.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <sqlfocus.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "cuda/kernels.h"
#include "cuda/ops.h"

using namespace sf::cuda;

static int failures = 0;
static void check(bool ok, const std::string& what, double value, double limit) {
  std::printf("%s %-60s %.3e (limit %.1e)\n", ok ? "ok  " : "FAIL", what.c_str(), value, limit);
  if (!ok) failures++;
}

struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float sym(float a) { return float((double(next() >> 11) / 9007199254740992.0 * 2 - 1) * a); }
  int below(int n) { return int(next() % uint64_t(n)); }
};

// max |a - b| / max |b|
static double rel_err(const float* a, const float* b, size_t n) {
  double d = 0, r = 1e-30;
  for (size_t i = 0; i < n; i++) {
    d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
    r = std::max(r, std::fabs(double(b[i])));
  }
  return d / r;
}
static double cosine(const float* a, const float* b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; i++) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
  return ab / std::sqrt(aa * bb + 1e-300);
}

// A tiny Qwen2 with F32 weights owned here, in the C API's structs.
struct TinyModel {
  sf_model_config cfg{};
  std::vector<std::vector<float>> store;
  std::vector<sf_tensor> layers;
  sf_model_weights w{};
  sf_tensor make(size_t n, Rng& rng, float a, float center = 0) {
    store.emplace_back(n);
    for (auto& x : store.back()) x = center + rng.sym(a);
    return sf_tensor{store.back().data(), SF_F32, n * sizeof(float)};
  }
  TinyModel(int V, int H, int I, int L, int NH, int KV, int D, uint64_t seed) {
    cfg.vocab_size = V, cfg.hidden_size = H, cfg.intermediate_size = I, cfg.num_layers = L, cfg.num_heads = NH;
    cfg.num_kv_heads = KV, cfg.head_dim = D, cfg.rope_theta = 10000.0f, cfg.rms_norm_eps = 1e-6f;
    cfg.tie_word_embeddings = 0;
    Rng rng{seed};
    store.reserve(4 + size_t(L) * SF_LAYER_TENSORS);
    const size_t qD = size_t(NH) * D, kvD = size_t(KV) * D;
    w.embed_tokens = make(size_t(V) * H, rng, 0.5f);
    w.lm_head = make(size_t(V) * H, rng, 0.2f);
    w.norm = make(H, rng, 0.1f, 1.0f);
    layers.resize(size_t(L) * SF_LAYER_TENSORS);
    const size_t sizes[SF_LAYER_TENSORS] = {qD * H,        kvD * H, kvD * H, H * qD, size_t(I) * H, size_t(I) * H,
                                            size_t(H) * I, qD,      kvD,     kvD,    size_t(H),     size_t(H)};
    const int fan_in[SF_LAYER_TENSORS] = {H, H, H, int(qD), H, H, I, 0, 0, 0, 0, 0};
    for (int l = 0; l < L; l++)
      for (int k = 0; k < SF_LAYER_TENSORS; k++) {
        const bool norm = k == SF_W_LN1 || k == SF_W_LN2;
        const bool bias = k >= SF_B_Q && k <= SF_B_V;
        const float a = norm ? 0.1f : bias ? 0.05f : 1.0f / std::sqrt(float(fan_in[k]));
        layers[size_t(l) * SF_LAYER_TENSORS + k] = make(sizes[k], rng, a, norm ? 1.0f : 0.0f);
      }
    w.layers = layers.data();
  }
};

struct Batch {
  int B, T;
  std::vector<int32_t> ids, labels;
  Batch(int B_, int T_, int V, uint64_t seed) : B(B_), T(T_), ids(size_t(B_) * T_), labels(size_t(B_) * T_) {
    Rng rng{seed};
    for (int b = 0; b < B; b++)
      for (int t = 0; t < T; t++) {
        const size_t i = size_t(b) * T + t;
        ids[i] = rng.below(V);
        const bool prompt = t < T / 4, pad = b == 1 && t >= T - 5;  // prompt tokens and right padding
        labels[i] = prompt || pad ? -100 : ids[i];
      }
  }
};

static sf_trainer_params params_for(float dropout, int recompute, int device, int act) {
  sf_trainer_params p = sf_trainer_default_params();
  p.lora_rank = 4, p.lora_alpha = 8, p.lora_dropout = dropout, p.max_batch = 2, p.max_seq = 160, p.threads = 2;
  p.seed = 7, p.recompute = recompute, p.weight_decay = 0.01f, p.max_grad_norm = 0.5f;
  p.device = device, p.activation_dtype = act;
  return p;
}

/** One trainer through the C API, with its flat LoRA buffers copied out on demand. */
struct Trainer {
  sf_trainer* t = nullptr;
  Trainer(const TinyModel& m, const sf_trainer_params& p) {
    char err[512] = {0};
    if (int rc = sf_trainer_create(&m.cfg, &m.w, &p, &t, err, sizeof err)) {
      std::fprintf(stderr, "%s trainer: %s: %s\n", p.device == SF_DEVICE_CUDA ? "CUDA" : "CPU", sf_status_name(rc),
                   err);
      std::exit(1);
    }
  }
  ~Trainer() { sf_trainer_free(t); }
  size_t size() const { return sf_trainer_lora_size(t); }
  std::vector<float> read(sf_lora_buffer which) const {
    std::vector<float> v(size());
    if (sf_trainer_read_lora(t, which, 0, v.size(), v.data())) std::exit(1);
    return v;
  }
  void write(sf_lora_buffer which, const std::vector<float>& v) {
    if (sf_trainer_write_lora(t, which, 0, v.size(), v.data())) std::exit(1);
  }
  sf_loss_result fb(const int32_t* ids, const int32_t* labels, int B, int T, float scale) {
    sf_loss_result r{};
    if (int rc = sf_trainer_forward_backward(t, ids, labels, B, T, scale, &r)) {
      std::fprintf(stderr, "forward_backward: %s: %s\n", sf_status_name(rc), sf_trainer_last_error(t));
      std::exit(1);
    }
    return r;
  }
};

// B is zero at init; give both engines the same non-zero B so every gradient path carries signal.
static void randomise_b(Trainer& cpu, Trainer& gpu, uint64_t seed) {
  Rng rng{seed};
  std::vector<float> prm = cpu.read(SF_LORA_PARAMS);
  const int n = sf_trainer_lora_count(cpu.t);
  for (int i = 0; i < n; i++) {
    const sf_lora_info info = sf_trainer_lora_info(cpu.t, i);
    if (!info.is_b) continue;
    for (int k = 0; k < info.rows * info.cols; k++) prm[info.offset + k] = rng.sym(0.2f);
  }
  cpu.write(SF_LORA_PARAMS, prm);
  gpu.write(SF_LORA_PARAMS, prm);
}

static void compare_engines(const char* name, int V, int H, int I, int L, int NH, int KV, int D, int T, int act,
                            double tol_logits, double tol_loss, double tol_grad, double tol_params) {
  const bool bf16 = act == SF_BF16;
  const std::string tag = std::string(name) + (bf16 ? " bf16" : " f32");
  TinyModel m(V, H, I, L, NH, KV, D, 11);
  Trainer cpu(m, params_for(0.1f, 0, SF_DEVICE_CPU, 0));
  Trainer gpu(m, params_for(0.1f, 0, SF_DEVICE_CUDA, act));
  const size_t n = cpu.size();
  check(gpu.size() == n, tag + ": LoRA buffer sizes", double(gpu.size()) - double(n), 0);
  check(rel_err(gpu.read(SF_LORA_PARAMS).data(), cpu.read(SF_LORA_PARAMS).data(), n) == 0.0,
        tag + ": LoRA A init identical", 0, 0);
  randomise_b(cpu, gpu, 5);
  const std::vector<float> start = cpu.read(SF_LORA_PARAMS);
  Batch batch(2, T, V, 3);

  std::vector<float> lc(size_t(2) * T * V), lg(lc.size());
  sf_trainer_logits(cpu.t, batch.ids.data(), 2, T, lc.data());
  const int lrc = sf_trainer_logits(gpu.t, batch.ids.data(), 2, T, lg.data());
  check(lrc == 0 && rel_err(lg.data(), lc.data(), lc.size()) < tol_logits, tag + ": logits vs CPU",
        rel_err(lg.data(), lc.data(), lc.size()), tol_logits);

  // three accumulation windows of one micro-batch each, dropout on, then AdamW
  for (int step = 0; step < 3; step++) {
    const sf_loss_result rc = cpu.fb(batch.ids.data(), batch.labels.data(), 2, T, 1.0f / 50);
    const sf_loss_result rg = gpu.fb(batch.ids.data(), batch.labels.data(), 2, T, 1.0f / 50);
    const double le = std::fabs(rg.loss_sum - rc.loss_sum) / std::fabs(rc.loss_sum);
    check(rg.tokens == rc.tokens && le < tol_loss, tag + ": step " + std::to_string(step) + " loss vs CPU", le,
          tol_loss);
    const std::vector<float> gg = gpu.read(SF_LORA_GRADS), gc = cpu.read(SF_LORA_GRADS);
    const double ge = bf16 ? 1.0 - cosine(gg.data(), gc.data(), n) : rel_err(gg.data(), gc.data(), n);
    check(ge < tol_grad, tag + ": step " + std::to_string(step) + (bf16 ? " grads 1-cosine vs CPU" : " grads vs CPU"),
          ge, tol_grad);
    double nc = 0, ng = 0;
    sf_trainer_optimizer_step(cpu.t, 1e-2f, &nc, nullptr);
    const int orc = sf_trainer_optimizer_step(gpu.t, 1e-2f, &ng, nullptr);
    check(orc == SF_OK && std::fabs(ng - nc) / nc < tol_grad * 10,
          tag + ": step " + std::to_string(step) + " grad norm vs CPU", std::fabs(ng - nc) / nc, tol_grad * 10);
  }
  // compare the updates (params - start): F32 element-wise, BF16 by direction
  std::vector<float> dg(n), dc(n);
  const std::vector<float> pg = gpu.read(SF_LORA_PARAMS), pc = cpu.read(SF_LORA_PARAMS);
  for (size_t i = 0; i < n; i++) dg[i] = pg[i] - start[i], dc[i] = pc[i] - start[i];
  const double pe = bf16 ? 1.0 - cosine(dg.data(), dc.data(), n) : rel_err(dg.data(), dc.data(), n);
  check(pe < tol_params, tag + (bf16 ? ": 3 AdamW updates 1-cosine vs CPU" : ": 3 AdamW updates vs CPU"), pe,
        tol_params);
  const double me = rel_err(gpu.read(SF_ADAM_V).data(), cpu.read(SF_ADAM_V).data(), n);
  check(me < tol_params * 10, tag + ": AdamW second moments vs CPU", me, tol_params * 10);
  sf_loss_result ec{}, eg{};
  sf_trainer_evaluate(cpu.t, batch.ids.data(), batch.labels.data(), 2, T, &ec);
  sf_trainer_evaluate(gpu.t, batch.ids.data(), batch.labels.data(), 2, T, &eg);
  const double ee = std::fabs(eg.loss_sum - ec.loss_sum) / std::fabs(ec.loss_sum);
  check(ee < tol_loss * 2, tag + ": evaluate loss vs CPU", ee, tol_loss * 2);
  uint64_t s1, c1, s2, c2;
  sf_trainer_get_rng(cpu.t, &s1, &c1), sf_trainer_get_rng(gpu.t, &s2, &c2);
  check(s1 == s2 && c1 == c2 && sf_trainer_get_step(gpu.t) == 3, tag + ": dropout stream and step count as on the CPU",
        0, 0);
}

// recompute must not change anything; two half batches (same loss scale) must give one batch's gradient
static void self_consistency() {
  TinyModel m(96, 64, 160, 2, 4, 2, 16, 21);
  Batch batch(2, 48, 96, 9);
  Trainer a(m, params_for(0.1f, 0, SF_DEVICE_CUDA, SF_F32));
  Trainer b(m, params_for(0.1f, 1, SF_DEVICE_CUDA, SF_F32));
  Trainer c(m, params_for(0.0f, 0, SF_DEVICE_CUDA, SF_F32));
  Trainer d(m, params_for(0.0f, 0, SF_DEVICE_CUDA, SF_F32));
  for (Trainer* t : {&a, &b, &c, &d}) {
    Rng rng{77};
    std::vector<float> prm = t->read(SF_LORA_PARAMS);
    for (auto& x : prm) x += rng.sym(0.05f);
    t->write(SF_LORA_PARAMS, prm);
  }
  a.fb(batch.ids.data(), batch.labels.data(), 2, 48, 0.01f);
  b.fb(batch.ids.data(), batch.labels.data(), 2, 48, 0.01f);
  const size_t n = a.size();
  const double re = rel_err(b.read(SF_LORA_GRADS).data(), a.read(SF_LORA_GRADS).data(), n);
  check(re <= 1e-6, "recompute == stored activations (grads, dropout on)", re, 1e-6);

  c.fb(batch.ids.data(), batch.labels.data(), 2, 48, 0.01f);
  d.fb(batch.ids.data(), batch.labels.data(), 1, 48, 0.01f);
  d.fb(batch.ids.data() + 48, batch.labels.data() + 48, 1, 48, 0.01f);
  const double ae = rel_err(d.read(SF_LORA_GRADS).data(), c.read(SF_LORA_GRADS).data(), n);
  check(ae < 1e-5, "two half batches == one batch (grads)", ae, 1e-5);

  // non-finite gradients: rejected, no update, grads zeroed
  const std::vector<float> before = c.read(SF_LORA_PARAMS);
  std::vector<float> g = c.read(SF_LORA_GRADS);
  g[0] = NAN;
  c.write(SF_LORA_GRADS, g);
  double norm = 0;
  const int rc = sf_trainer_optimizer_step(c.t, 1e-3f, &norm, nullptr);
  const std::vector<float> after = c.read(SF_LORA_PARAMS), g2 = c.read(SF_LORA_GRADS);
  double gmax = 0;
  for (float x : g2) gmax = std::max(gmax, double(std::fabs(x)));
  check(rc == SF_ERR_NONFINITE_GRADIENTS && rel_err(after.data(), before.data(), n) == 0 && gmax == 0 &&
            sf_trainer_get_step(c.t) == 0,
        "non-finite grads rejected (SF_ERR_NONFINITE_GRADIENTS), zeroed, no update", gmax, 0);

  // bad input names the field
  std::vector<int32_t> bad = batch.ids;
  bad[5] = 96;
  sf_loss_result r{};
  const int brc = sf_trainer_forward_backward(c.t, bad.data(), batch.labels.data(), 2, 48, 1.0f, &r);
  check(brc == SF_ERR_INVALID_ARGUMENT &&
            std::string(sf_trainer_last_error(c.t)).find("inputIds[5]") != std::string::npos,
        "out-of-vocabulary id rejected naming inputIds[5]", 0, 0);

  // the flat gradient buffer is device memory an all-reduce can work on in place
  float* dev_grads = sf_trainer_lora_buffer(c.t, SF_LORA_GRADS);
  cudaPointerAttributes attr{};
  check(dev_grads && cudaPointerGetAttributes(&attr, dev_grads) == cudaSuccess && attr.type == cudaMemoryTypeDevice,
        "sf_trainer_lora_buffer(SF_LORA_GRADS) is device memory", 0, 0);
}

// ---- kernel-level checks (localise a failure of the step comparisons) ------------------------------
template <typename T>
struct DeviceArray {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceArray(size_t n_) : n(n_) {
    if (cudaMalloc(&p, n * sizeof(T)) != cudaSuccess) std::exit(1);
    cudaMemset(p, 0, n * sizeof(T));
  }
  ~DeviceArray() { cudaFree(p); }
};
template <typename T>
static T to_t(float x);
template <>
float to_t<float>(float x) {
  return x;
}
template <>
__nv_bfloat16 to_t<__nv_bfloat16>(float x) {
  return __float2bfloat16(x);
}
static float from_t(float x) { return x; }
static float from_t(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
static void upload(DeviceArray<T>& d, std::vector<float>& host) {
  std::vector<T> t(host.size());
  for (size_t i = 0; i < host.size(); i++)
    t[i] = to_t<T>(host[i]), host[i] = from_t(t[i]);  // host keeps the rounded value
  cudaMemcpy(d.p, t.data(), t.size() * sizeof(T), cudaMemcpyHostToDevice);
}
template <typename T>
static std::vector<float> download(const DeviceArray<T>& d) {
  std::vector<T> t(d.n);
  cudaMemcpy(t.data(), d.p, d.n * sizeof(T), cudaMemcpyDeviceToHost);
  std::vector<float> out(d.n);
  for (size_t i = 0; i < d.n; i++) out[i] = from_t(t[i]);
  return out;
}

// causal GQA attention forward + backward in double on the host
static void attention_reference(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                                const std::vector<float>& dout, int B, int T, int H, int KV, int D,
                                std::vector<float>& out, std::vector<float>& dq, std::vector<float>& dk,
                                std::vector<float>& dv) {
  const double scale = 1.0 / std::sqrt(double(D));
  out.assign(q.size(), 0), dq.assign(q.size(), 0), dk.assign(k.size(), 0), dv.assign(v.size(), 0);
  std::vector<double> p(T), dp(T);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      const int kh = h / (H / KV);
      for (int t = 0; t < T; t++) {
        const float* qt = &q[((size_t(b) * T + t) * H + h) * D];
        double mx = -1e300, z = 0;
        for (int s2 = 0; s2 <= t; s2++) {
          const float* ks = &k[((size_t(b) * T + s2) * KV + kh) * D];
          double d = 0;
          for (int i = 0; i < D; i++) d += double(qt[i]) * ks[i];
          p[s2] = d * scale;
          mx = std::max(mx, p[s2]);
        }
        for (int s2 = 0; s2 <= t; s2++) z += (p[s2] = std::exp(p[s2] - mx));
        for (int s2 = 0; s2 <= t; s2++) p[s2] /= z;
        float* ot = &out[((size_t(b) * T + t) * H + h) * D];
        const float* dot = &dout[((size_t(b) * T + t) * H + h) * D];
        double sum = 0;
        for (int s2 = 0; s2 <= t; s2++) {
          const float* vs = &v[((size_t(b) * T + s2) * KV + kh) * D];
          double d = 0;
          for (int i = 0; i < D; i++) ot[i] += float(p[s2] * vs[i]), d += double(dot[i]) * vs[i];
          dp[s2] = d;
          sum += d * p[s2];
        }
        for (int s2 = 0; s2 <= t; s2++) {
          const double ds = p[s2] * (dp[s2] - sum) * scale;
          const float* ks = &k[((size_t(b) * T + s2) * KV + kh) * D];
          float* dks = &dk[((size_t(b) * T + s2) * KV + kh) * D];
          float* dvs = &dv[((size_t(b) * T + s2) * KV + kh) * D];
          float* dqt = &dq[((size_t(b) * T + t) * H + h) * D];
          for (int i = 0; i < D; i++) {
            dqt[i] += float(ds * ks[i]);
            dks[i] += float(ds * qt[i]);
            dvs[i] += float(p[s2] * dot[i]);
          }
        }
      }
    }
}

template <typename T>
static void attention_kernels(int D, int T_, double tol) {
  const int B = 2, H = 4, KV = 2;
  const bool bf = sizeof(T) == 2;
  const std::string tag = std::string("attention ") + (bf ? "bf16 tensor-core" : "f32 SIMT") + " D" +
                          std::to_string(D) + " T" + std::to_string(T_);
  Rng rng{uint64_t(D * 131 + T_)};
  const size_t nq = size_t(B) * T_ * H * D, nk = size_t(B) * T_ * KV * D;
  std::vector<float> q(nq), k(nk), v(nk), dout(nq);
  for (auto* a : {&q, &k, &v, &dout})
    for (auto& x : *a) x = rng.sym(1.0f);
  DeviceArray<T> dq_(nq), dk_(nk), dv_(nk), dd(nq), o(nq), gq(nq), gk(nk), gv(nk);
  DeviceArray<float> lse(size_t(B) * H * T_), dsum(size_t(B) * H * T_);
  upload(dq_, q), upload(dk_, k), upload(dv_, v), upload(dd, dout);
  attention_forward<T>(o.p, lse.p, dq_.p, dk_.p, dv_.p, B, T_, H, KV, D, nullptr);
  attention_backward<T>(gq.p, gk.p, gv.p, dd.p, o.p, lse.p, dq_.p, dk_.p, dv_.p, B, T_, H, KV, D, dsum.p, nullptr);
  const cudaError_t e = cudaDeviceSynchronize();
  check(e == cudaSuccess, tag + ": kernels ran (" + cudaGetErrorString(e) + ")", 0, 0);
  std::vector<float> ro, rq, rk, rv;
  attention_reference(q, k, v, dout, B, T_, H, KV, D, ro, rq, rk, rv);
  const auto go = download(o), gqh = download(gq), gkh = download(gk), gvh = download(gv);
  check(rel_err(go.data(), ro.data(), nq) < tol, tag + ": out vs double", rel_err(go.data(), ro.data(), nq), tol);
  check(rel_err(gqh.data(), rq.data(), nq) < tol, tag + ": dq vs double", rel_err(gqh.data(), rq.data(), nq), tol);
  check(rel_err(gkh.data(), rk.data(), nk) < tol, tag + ": dk vs double", rel_err(gkh.data(), rk.data(), nk), tol);
  check(rel_err(gvh.data(), rv.data(), nk) < tol, tag + ": dv vs double", rel_err(gvh.data(), rv.data(), nk), tol);
}

static void cross_entropy_kernel() {
  const int n = 5, V = 3001;
  Rng rng{99};
  std::vector<float> logits(size_t(n) * V);
  for (auto& x : logits) x = rng.sym(8.0f);
  std::vector<int32_t> targets = {0, 3000, -100, 17, 1500};
  DeviceArray<float> dl(logits.size()), losses(n);
  DeviceArray<float> grad(logits.size());
  DeviceArray<int32_t> dt(n);
  cudaMemcpy(dl.p, logits.data(), logits.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dt.p, targets.data(), n * 4, cudaMemcpyHostToDevice);
  cross_entropy_forward_backward<float>(losses.p, grad.p, dl.p, dt.p, n, V, 0.5f, nullptr);
  cudaDeviceSynchronize();
  const auto gl = download(losses), gg = download(grad);
  double le = 0, ge = 0;
  for (int i = 0; i < n; i++) {
    const float* x = &logits[size_t(i) * V];
    double mx = -1e300, z = 0;
    for (int j = 0; j < V; j++) mx = std::max(mx, double(x[j]));
    for (int j = 0; j < V; j++) z += std::exp(x[j] - mx);
    const double lse = mx + std::log(z);
    const double loss = targets[i] < 0 ? 0 : lse - x[targets[i]];
    le = std::max(le, std::fabs(gl[i] - loss));
    for (int j = 0; j < V; j++) {
      const double g = targets[i] < 0 ? 0 : 0.5 * (std::exp(x[j] - lse) - (j == targets[i]));
      ge = std::max(ge, std::fabs(gg[size_t(i) * V + j] - g));
    }
  }
  check(le < 1e-4, "cross_entropy_forward_backward: losses vs double (abs)", le, 1e-4);
  check(ge < 1e-6, "cross_entropy_forward_backward: dlogits vs double (abs)", ge, 1e-6);
}

int main() {
  std::string why;
  if (!device_available(&why)) {
    std::printf("skip: no CUDA device (%s)\n", why.c_str());
    return 77;
  }
  attention_kernels<float>(16, 70, 1e-5);
  attention_kernels<float>(128, 100, 1e-5);
  attention_kernels<__nv_bfloat16>(16, 70, 3e-2);
  attention_kernels<__nv_bfloat16>(64, 130, 3e-2);
  attention_kernels<__nv_bfloat16>(128, 100, 3e-2);
  cross_entropy_kernel();
  // head_dim 16 (2 layers, GQA 4:2, T = 40: a partial tile) and head_dim 128 (the 7B head size, T = 100)
  compare_engines("tiny D16", 96, 64, 160, 2, 4, 2, 16, 40, SF_F32, 1e-5, 1e-5, 1e-4, 1e-3);
  compare_engines("tiny D128", 80, 256, 320, 1, 2, 1, 128, 100, SF_F32, 1e-5, 1e-5, 1e-4, 1e-3);
  compare_engines("tiny D64", 96, 128, 192, 1, 2, 2, 64, 70, SF_F32, 1e-5, 1e-5, 1e-4, 1e-3);
  // BF16: the tensor-core attention (attention_tc.cu) at head_dim 16 and 128, partial 64-row tiles
  compare_engines("tiny D16", 96, 64, 160, 2, 4, 2, 16, 40, SF_BF16, 5e-2, 2e-2, 2e-2, 5e-2);
  compare_engines("tiny D128", 80, 256, 320, 1, 2, 1, 128, 100, SF_BF16, 5e-2, 2e-2, 2e-2, 5e-2);
  self_consistency();
  std::printf(failures ? "%d check(s) failed\n" : "all CUDA checks passed\n", failures);
  return failures ? 1 : 0;
}
