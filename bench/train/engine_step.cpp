// The engine alone (no Node): wall and process CPU seconds per training step at the baseline config of
// bench/train/cpu.ts (hidden 256, 4 layers, 4/2 heads, inter 768, vocab 151,936, batch 4 × 256, loss on the
// second half, LoRA r16 on all seven, BF16 base weights). CPU seconds are what to compare on a loaded machine.
// Build (after `npm test` or a cmake build of build-tests/):
//   g++ -O3 -fopenmp -std=c++17 -Inative -Inative/include bench/train/engine_step.cpp \
//       build-tests/libsqlfocus_core.a -o build-tests/engine_step && build-tests/engine_step [threads] [steps] [seq] [answer]
// seq (default 256) and answer (label tokens at the end of each sequence, default seq/2) model other workloads,
// e.g. `4 1024 64` for text-to-SQL: long prompts, short answers. A fifth argument `0.5b` switches to the
// Qwen2.5-0.5B shape (hidden 896, 24 layers, 14/2 heads, inter 4864, tied) with batch 1 and recompute on.
#include <sqlfocus.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

static double cpu_s() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}
static uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int main(int argc, char** argv) {
  const bool big = argc > 5 && std::string(argv[5]) == "0.5b";
  const int H = big ? 896 : 256, L = big ? 24 : 4, NH = big ? 14 : 4, KV = 2, I = big ? 4864 : 768, V = 151936, B = big ? 1 : 4, D = H / NH;
  int threads = argc > 1 ? std::atoi(argv[1]) : 2, steps = argc > 2 ? std::atoi(argv[2]) : 4;
  const int T = argc > 3 ? std::atoi(argv[3]) : 256, answer = argc > 4 ? std::atoi(argv[4]) : T / 2;
  sf_model_config c{V, H, I, L, NH, KV, 0, 1e6f, 1e-6f, big ? 1 : 0};
  std::vector<std::vector<uint16_t>> store;
  store.reserve(128);
  auto tensor = [&](size_t n, bool norm) {
    store.emplace_back(n);
    // BF16 values ±1/16 (matrices) or 1.0 (norms): 0x3d80 = 0.0625, 0x3f80 = 1.0
    for (size_t i = 0; i < n; i++) store.back()[i] = norm ? 0x3f80 : uint16_t((mix(i + n) & 1 ? 0x3d80 : 0xbd80));
    return sf_tensor{store.back().data(), SF_BF16, n * 2};
  };
  sf_model_weights w{};
  w.embed_tokens = tensor(size_t(V) * H, false);
  w.lm_head = tensor(size_t(V) * H, false);
  w.norm = tensor(H, true);
  std::vector<sf_tensor> layers;
  for (int l = 0; l < L; l++) {
    const size_t sizes[SF_LAYER_TENSORS] = {size_t(H) * H, size_t(KV) * D * H, size_t(KV) * D * H, size_t(H) * H, size_t(I) * H, size_t(I) * H,
                                            size_t(H) * I, size_t(H), size_t(KV) * D, size_t(KV) * D, size_t(H), size_t(H)};
    for (int k = 0; k < SF_LAYER_TENSORS; k++) layers.push_back(tensor(sizes[k], k >= SF_W_LN1));
  }
  w.layers = layers.data();
  sf_trainer_params p = sf_trainer_default_params();
  p.max_batch = B, p.max_seq = T, p.threads = threads, p.recompute = big;
  char err[256];
  sf_trainer* tr = nullptr;
  if (int rc = sf_trainer_create(&c, &w, &p, &tr, err, sizeof err)) {
    std::printf("%s: %s\n", sf_status_name(rc), err);
    return 1;
  }
  std::vector<int32_t> ids(B * T), labels(B * T);
  for (int i = 0; i < B * T; i++) {
    ids[i] = int32_t(mix(uint64_t(i)) % V);
    labels[i] = (i % T) < T - answer ? -100 : ids[i];
  }
  for (int s = 0; s <= steps; s++) {
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpu_s();
    sf_loss_result r;
    double gn, ms;
    if (sf_trainer_forward_backward(tr, ids.data(), labels.data(), B, T, 1.0f / float(B * answer), &r) || sf_trainer_optimizer_step(tr, 2e-4f, &gn, &ms)) {
      std::printf("%s\n", sf_trainer_last_error(tr));
      return 1;
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), cpu = cpu_s() - c0;
    std::printf("{\"seq\":%d,\"step\":%d,\"threads\":%d,\"wall_s\":%.3f,\"cpu_s\":%.3f,\"tokens_per_s\":%.0f,\"tokens_per_cpu_s\":%.0f,\"loss\":%.4f}\n", T, s, threads, wall, cpu,
                B * T / wall, B * T / cpu, r.loss_sum / double(r.tokens));
  }
  sf_memory mem = sf_trainer_memory(tr);
  std::printf("{\"weights_mb\":%zu,\"activations_mb\":%zu,\"lora_mb\":%zu,\"optimizer_mb\":%zu}\n", mem.weights_bytes >> 20, mem.activations_bytes >> 20, mem.lora_bytes >> 20, mem.optimizer_bytes >> 20);
  sf_trainer_free(tr);
}
