// The engine alone (no Node), through the C API: wall and process CPU seconds per training step (forward_backward +
// optimizer_step), tokens/s and peak RSS, with random base weights generated directly in the benchmark's dtype (no
// F32 copy of the model is ever made: a 7B BF16 base costs its 15 GB and nothing more).
// Build (after `npm test` or a cmake build of build-tests/):
//   g++ -O3 -fopenmp -std=c++17 -Inative -Inative/include bench/train/engine_step.cpp build-tests/libsqlfocus_core.a -o
//   build-tests/engine_step
// Positional form (the baseline of bench/train/cpu.ts: hidden 256, 4 layers, 4/2 heads, inter 768, vocab 151,936,
// batch 4 × 256, loss on the second half, LoRA r16 on all seven, BF16 base):
//   build-tests/engine_step [threads] [steps] [seq] [answer] [0.5b]
// seq and answer (label tokens at the end of each sequence, default seq/2) model other workloads, e.g. `4 1024 64`;
// `0.5b` switches to the Qwen2.5-0.5B shape (hidden 896, 24 layers, 14/2 heads, inter 4864, tied) with batch 1 and
// recompute on. Named form (any shape):
//   build-tests/engine_step --shape tiny|0.5b|7b [--layers N] [--dtype bf16|f32|q8_0|q4_k] [--threads 2] [--steps 2]
//                           [--batch 1] [--seq 512] [--answer 128] [--recompute 0|1]
// 7b is Qwen2.5-Coder-7B (hidden 3584, inter 18944, 28 layers, 28/4 heads, vocab 152,064, untied). q8_0 / q4_k put
// every matrix (embeddings and lm_head included) in ggml's Q8_0 / Q4_K blocks, filled with random quants and small
// fixed scales (valid blocks, weights of about ±0.05); norms and biases stay F32. Prints one JSON line per step
// (step 0 included: it pays the first touches of the buffers) and a summary line.
#include <sqlfocus.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

static double cpu_s() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}
static double peak_rss_mb() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}
[[maybe_unused]] static uint16_t f32_to_f16(float f) {  // finite, normal values only (the block scales below)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000, exp = (u >> 23) & 0xff, mant = u & 0x7fffff;
  return uint16_t(sign | ((exp - 127 + 15) << 10) | (mant >> 13));
}
static uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Shape {
  int V, H, I, L, NH, KV, tied;
};

int main(int argc, char** argv) {
  Shape s{151936, 256, 768, 4, 4, 2, 0};
  std::string dtype = "bf16", shape = "tiny";
  int threads = 2, steps = 4, B = 4, T = 256, answer = -1, recompute = 0, layers = -1;
  if (argc > 1 && std::strncmp(argv[1], "--", 2) == 0) {
    steps = 2, B = 1, T = 512, answer = 128, recompute = -1;
    for (int i = 1; i < argc; i++) {
      std::string a = argv[i];
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        return 2;
      }
      std::string v = argv[++i];
      if (a == "--shape")
        shape = v;
      else if (a == "--dtype")
        dtype = v;
      else if (a == "--layers")
        layers = std::atoi(v.c_str());
      else if (a == "--threads")
        threads = std::atoi(v.c_str());
      else if (a == "--steps")
        steps = std::atoi(v.c_str());
      else if (a == "--batch")
        B = std::atoi(v.c_str());
      else if (a == "--seq")
        T = std::atoi(v.c_str());
      else if (a == "--answer")
        answer = std::atoi(v.c_str());
      else if (a == "--recompute")
        recompute = std::atoi(v.c_str());
      else {
        std::fprintf(stderr, "unknown option %s\n", a.c_str());
        return 2;
      }
    }
  } else {
    threads = argc > 1 ? std::atoi(argv[1]) : 2, steps = argc > 2 ? std::atoi(argv[2]) : 4;
    T = argc > 3 ? std::atoi(argv[3]) : 256, answer = argc > 4 ? std::atoi(argv[4]) : -1;
    if (argc > 5 && std::string(argv[5]) == "0.5b") shape = "0.5b", B = 1, recompute = 1;
  }
  if (shape == "0.5b")
    s = {151936, 896, 4864, 24, 14, 2, 1};
  else if (shape == "7b")
    s = {152064, 3584, 18944, 28, 28, 4, 0};
  else if (shape != "tiny") {
    std::fprintf(stderr, "--shape must be tiny, 0.5b or 7b\n");
    return 2;
  }
  if (layers > 0) s.L = layers;
  if (recompute < 0) recompute = shape != "tiny";
  if (answer < 0) answer = T / 2;
#ifdef SF_GGML_TYPE
  const bool quant = dtype == "q8_0" || dtype == "q4_k";
#else
  const bool quant = false;
#endif
  if (dtype != "bf16" && dtype != "f32" && !quant) {
    std::fprintf(stderr, "--dtype must be bf16, f32, q8_0 or q4_k\n");
    return 2;
  }
  const bool bf16 = dtype == "bf16";
  const int D = s.H / s.NH, kvD = s.KV * D;
  sf_model_config c{s.V, s.H, s.I, s.L, s.NH, s.KV, 0, 1e6f, 1e-6f, s.tied};

  // weights: matrices and biases ±1/16 in a hashed sign pattern (BF16 0x3d80 = 0.0625), norms 1; filled in place
  auto t0 = std::chrono::steady_clock::now();
  std::vector<void*> store;
  auto tensor = [&](size_t n, bool norm, size_t cols = 1) {
#ifdef SF_GGML_TYPE
    if (quant &&
        cols > 1) {  // ggml blocks: Q8_0 {f16 d; int8 q[32]}, Q4_K {f16 d, dmin; u8 scales[12]; u8 q[128]} per 256
      const bool q8 = dtype == "q8_0";
      const size_t blk = q8 ? 32 : 256, bb = q8 ? 34 : 144, nb = n / blk;
      uint8_t* p = static_cast<uint8_t*>(std::malloc(nb * bb));
      if (!p) {
        std::fprintf(stderr, "out of memory for the weights\n");
        std::exit(1);
      }
      store.push_back(p);
      const uint16_t d = f32_to_f16(q8 ? 0.0004f : 0.0001f), dmin = f32_to_f16(0.0001f);
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int64_t b = 0; b < int64_t(nb); b++) {
        uint8_t* q = p + size_t(b) * bb;
        std::memcpy(q, &d, 2);
        if (!q8) std::memcpy(q + 2, &dmin, 2);
        for (size_t i = q8 ? 2 : 4; i < bb; i += 8) {
          uint64_t r = mix(uint64_t(b) * 64 + i + n);
          std::memcpy(q + i, &r, std::min<size_t>(8, bb - i));
        }
      }
      return sf_tensor{p, q8 ? SF_Q8_0 : SF_Q4_K, nb * bb};
    }
#endif
    (void)cols;
    size_t bytes = n * (bf16 && !quant ? 2 : 4);
    void* p = std::malloc(bytes);
    if (!p) {
      std::fprintf(stderr, "out of memory for the weights\n");
      std::exit(1);
    }
    store.push_back(p);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < int64_t(n); i++) {
      bool neg = !(mix(uint64_t(i) + n) & 1);
      if (bf16 && !quant)
        static_cast<uint16_t*>(p)[i] = norm ? 0x3f80 : neg ? 0xbd80 : 0x3d80;
      else
        static_cast<float*>(p)[i] = norm ? 1.0f : neg ? -0.0625f : 0.0625f;
    }
    return sf_tensor{p, bf16 && !quant ? SF_BF16 : SF_F32, bytes};
  };
  sf_model_weights w{};
  w.embed_tokens = tensor(size_t(s.V) * s.H, false, s.H);
  w.lm_head = s.tied ? sf_tensor{nullptr, SF_F32, 0} : tensor(size_t(s.V) * s.H, false, s.H);
  w.norm = tensor(s.H, true);
  std::vector<sf_tensor> lt;
  for (int l = 0; l < s.L; l++) {
    const size_t sizes[SF_LAYER_TENSORS] = {size_t(s.H) * s.H, size_t(kvD) * s.H, size_t(kvD) * s.H, size_t(s.H) * s.H,
                                            size_t(s.I) * s.H, size_t(s.I) * s.H, size_t(s.H) * s.I, size_t(s.H),
                                            size_t(kvD),       size_t(kvD),       size_t(s.H),       size_t(s.H)};
    const size_t cols[SF_LAYER_TENSORS] = {size_t(s.H), size_t(s.H), size_t(s.H), size_t(s.H), size_t(s.H), size_t(s.H),
                                           size_t(s.I), 1,           1,           1,           1,           1};
    for (int k = 0; k < SF_LAYER_TENSORS; k++) lt.push_back(tensor(sizes[k], k >= SF_W_LN1, cols[k]));
  }
  w.layers = lt.data();
  double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  sf_trainer_params p = sf_trainer_default_params();
  p.max_batch = B, p.max_seq = T, p.threads = threads, p.recompute = recompute;
  char err[256];
  sf_trainer* tr = nullptr;
  if (int rc = sf_trainer_create(&c, &w, &p, &tr, err, sizeof err)) {
    std::printf("%s: %s\n", sf_status_name(rc), err);
    return 1;
  }
  std::vector<int32_t> ids(size_t(B) * T), labels(size_t(B) * T);
  for (int i = 0; i < B * T; i++) {
    ids[i] = int32_t(mix(uint64_t(i)) % uint64_t(s.V));
    labels[i] = (i % T) < T - answer ? -100 : ids[i];
  }
  std::vector<double> walls;
  for (int st = 0; st <= steps; st++) {
    auto t1 = std::chrono::steady_clock::now();
    double c0 = cpu_s();
    sf_loss_result r;
    double gn, ms;
    if (sf_trainer_forward_backward(tr, ids.data(), labels.data(), B, T, 1.0f / float(B * answer), &r) ||
        sf_trainer_optimizer_step(tr, 2e-4f, &gn, &ms)) {
      std::printf("%s\n", sf_trainer_last_error(tr));
      return 1;
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count(), cpu = cpu_s() - c0;
    if (st > 0) walls.push_back(wall);
    std::printf(
        "{\"seq\":%d,\"step\":%d,\"threads\":%d,\"wall_s\":%.3f,\"cpu_s\":%.3f,\"tokens_per_s\":%.1f,\"tokens_per_cpu_"
        "s\":%.1f,\"loss\":%.4f}\n",
        T, st, threads, wall, cpu, B * T / wall, B * T / cpu, r.loss_sum / double(r.tokens));
    std::fflush(stdout);
  }
  sf_memory mem = sf_trainer_memory(tr);
  std::sort(walls.begin(), walls.end());  // the median step after the first (the first pays first touches)
  double best = walls.empty()      ? 0
                : walls.size() % 2 ? walls[walls.size() / 2]
                                   : (walls[walls.size() / 2 - 1] + walls[walls.size() / 2]) / 2;
  std::printf(
      "{\"shape\":\"%s\",\"layers\":%d,\"dtype\":\"%s\",\"threads\":%d,\"batch\":%d,\"seq\":%d,\"answer\":%d,"
      "\"recompute\":%d,\"weights_gen_s\":%.1f,"
      "\"median_step_s\":%.3f,\"tokens_per_s\":%.1f,\"peak_rss_mb\":%.0f,\"weights_mb\":%zu,\"activations_mb\":%zu,"
      "\"lora_mb\":%zu,\"optimizer_mb\":%zu}\n",
      shape.c_str(), s.L, dtype.c_str(), threads, B, T, answer, recompute, gen_s, best, best > 0 ? B * T / best : 0.0,
      peak_rss_mb(), mem.weights_bytes >> 20, mem.activations_bytes >> 20, mem.lora_bytes >> 20,
      mem.optimizer_bytes >> 20);
  sf_trainer_free(tr);
  for (void* q : store) std::free(q);
}
