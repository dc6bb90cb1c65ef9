// GFLOP/s of the engine's frozen-base matmuls at a model's layer shapes, per SIMD level and weight dtype:
// matmul_forward (out = x·Wᵀ) and matmul_backward_input (dx = dout·W), M tokens. One JSON line per kernel:
// wall and thread-CPU seconds (the CPU figure is what to compare on a loaded machine: 2 threads → 2 CPU s per s).
// Built with the core tests (cmake -DSQLFOCUS_TESTS=ON): build-tests/sqlfocus_gemm_bench
//   sqlfocus_gemm_bench [threads=2] [M=512] [hidden=3584] [inter=18944] [kv_dim=512] [vocab=152064] [reps=3] [level]
// (level: only that SIMD level, e.g. avx512bf16; default every level the CPU has)
// bench/train/gemm.ts runs it next to PyTorch's F32 and BF16 GEMMs on the same shapes.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "cpu/kernels.h"

using namespace sf;

static double cpu_s() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}
static double wall_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char** argv) {
  auto arg = [&](int i, int def) { return argc > i ? std::atoi(argv[i]) : def; };
  int threads = arg(1, 2), M = arg(2, 512), H = arg(3, 3584), I = arg(4, 18944), KVD = arg(5, 512), V = arg(6, 152064),
      reps = arg(7, 3);
  struct Shape {
    const char* name;
    int N, K, M;
  };
  // the lm_head runs on chunks of 128 label tokens (ce_chunk)
  std::vector<Shape> shapes = {{"q_proj/o_proj", H, H, M},
                               {"k_proj/v_proj", KVD, H, M},
                               {"gate_proj/up_proj", I, H, M},
                               {"down_proj", H, I, M},
                               {"lm_head", V, H, 128}};
  size_t maxw = 0, maxx = 0;
  for (auto& s : shapes)
    maxw = std::max(maxw, size_t(s.N) * s.K), maxx = std::max({maxx, size_t(s.M) * s.K, size_t(s.M) * s.N});
  std::vector<uint16_t> w(maxw);
  for (size_t i = 0; i < maxw; i++)
    w[i] = uint16_t(0x3c00 + (mix64(i) & 0x3ff)) ^ uint16_t((mix64(i) >> 20 & 1) << 15);  // ±[2^-7, 2^-6)
  std::vector<float> x(maxx), y(maxx);
  for (size_t i = 0; i < maxx; i++) x[i] = float(int(mix64(i + 7) % 2001) - 1000) / 1000.0f;
  int top = cpu_detected_level();
  std::string only = argc > 8 ? argv[8] : "";
  for (int level : {CPU_AVX512, CPU_AVX512_BF16, CPU_AVX2}) {
    if (level > top || (!only.empty() && only != cpu_level_name(level))) continue;
    cpu_set_level(level);
    for (auto& s : shapes)
      for (int pass = 0; pass < 2; pass++) {
        double flop = 2.0 * s.M * s.N * s.K, best_wall = 1e30, best_cpu = 1e30;
        for (int r = 0; r <= reps; r++) {
          double w0 = wall_s(), c0 = cpu_s();
          if (pass == 0)
            matmul_forward(y.data(), x.data(), w.data(), SF_BF16, nullptr, 0, s.M, s.N, s.K, false, threads);
          else
            matmul_backward_input(y.data(), x.data(), w.data(), SF_BF16, s.M, s.N, s.K, false, threads);
          double dw = wall_s() - w0, dc = cpu_s() - c0;
          if (r > 0) best_wall = std::min(best_wall, dw), best_cpu = std::min(best_cpu, dc);  // first call warms up
        }
        std::printf(
            "{\"level\":\"%s\",\"kernel\":\"%s\",\"shape\":\"%s\",\"M\":%d,\"N\":%d,\"K\":%d,\"threads\":%d,\"wall_s\":"
            "%.4f,\"cpu_s\":%.4f,"
            "\"gflops_wall\":%.1f,\"gflops_per_cpu_s\":%.1f}\n",
            cpu_level_name(level), pass == 0 ? "matmul_forward" : "matmul_backward_input", s.name, s.M, s.N, s.K,
            threads, best_wall, best_cpu, flop / best_wall / 1e9, flop / best_cpu / 1e9);
        std::fflush(stdout);
      }
  }
  return 0;
}
