// GPU benchmark of the CUDA training step (issue 9): LoRA r16 / alpha 32 / dropout 0.05 on all seven
// projections of a Qwen2.5-Coder-7B-shaped model with random BF16 weights (generated on the device),
// batch 4 x 1024, loss on the second half of each sequence (as ../shared/bench/hf_peft_lora.py), one
// forward_backward + optimizer_step per step. Prints one JSON line with the same fields and the same
// model-FLOP formula as hf_peft_lora.py (tokens/s, step time, peak memory, MFU vs 790 TFLOP/s).
// Usage: sqlfocus_cuda_bench [--shape 7b|0.5b] [--layers N] [--batch B] [--seq S] [--steps K] [--recompute]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/train_cuda.h"

using namespace sqlfocus::cuda;

int main(int argc, char** argv) {
  std::string shape = "7b";
  int layers = -1, batch = 4, seq = 1024, steps = 8, warmup = 2;
  bool recompute = false;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--shape") shape = next();
    else if (a == "--layers") layers = std::atoi(next());
    else if (a == "--batch") batch = std::atoi(next());
    else if (a == "--seq") seq = std::atoi(next());
    else if (a == "--steps") steps = std::atoi(next());
    else if (a == "--recompute" || a == "--ckpt") recompute = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  CudaTrainerParams p;
  if (shape == "7b") p.config = {152064, 3584, 18944, 28, 28, 4, 0, 1e6f, 1e-6f, false};
  else if (shape == "0.5b") p.config = {151936, 896, 4864, 24, 14, 2, 0, 1e6f, 1e-6f, true};
  else {
    std::fprintf(stderr, "--shape must be 7b or 0.5b\n");
    return 2;
  }
  if (layers > 0) p.config.num_layers = layers;
  p.lora.rank = 16;
  p.lora.alpha = 32;
  p.lora.dropout = 0.05f;
  p.lora.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  p.max_batch = batch;
  p.max_seq_len = seq;
  p.seed = 0;
  p.recompute = recompute;
  p.precision = CudaPrecision::BF16;
  p.ce_chunk_rows = 1024;

  std::string why;
  if (!cuda_device_available(&why)) {
    std::fprintf(stderr, "no CUDA device: %s\n", why.c_str());
    return 1;
  }
  size_t free0 = 0, total = 0;
  cudaMemGetInfo(&free0, &total);
  auto trainer = CudaTrainer::create(p, WeightSource{});  // random BF16 weights on the device

  const int N = batch * seq;
  std::vector<int32_t> ids(N), labels(N);
  uint64_t s = 12345;
  for (int i = 0; i < N; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    ids[i] = int32_t((s >> 33) % uint64_t(p.config.vocab_size));
    labels[i] = (i % seq) < seq / 2 ? -100 : ids[i];
  }
  size_t min_free = free0;
  std::vector<double> times;
  double loss = 0;
  for (int k = 0; k < steps + warmup; k++) {
    const auto t0 = std::chrono::steady_clock::now();
    // loss scale 1 / label tokens: the mean loss, as Hugging Face's loss
    const CudaLossResult r = trainer->forward_backward(ids.data(), labels.data(), batch, seq, 1.0f / (batch * (seq / 2)));
    trainer->optimizer_step(2e-4f);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    times.push_back(dt);
    loss = r.loss_sum / double(std::max<int64_t>(r.tokens, 1));
    size_t f = 0, t = 0;
    cudaMemGetInfo(&f, &t);
    min_free = std::min(min_free, f);
  }
  std::vector<double> timed(times.begin() + warmup, times.end());
  std::sort(timed.begin(), timed.end());
  const double dt = timed[timed.size() / 2];
  const auto& c = p.config;
  const double H = c.hidden_size, I = c.intermediate_size, L = c.num_layers, V = c.vocab_size;
  const double KV = H / c.num_heads * c.num_kv_heads;
  const double mm = L * (H * H * 2 + H * KV * 2 + 3 * H * I) + H * V;
  const double attn = L * 2 * 2 * double(seq) * H / 2;
  const double per_tok = (2 * mm + attn) * (2 + (recompute ? 1 : 0));
  const double tok = double(N);
  const CudaMemoryReport m = trainer->memory();
  const double gib = 1024.0 * 1024.0 * 1024.0;
  std::printf(
      "{\"engine\": \"sqlfocus-cuda\", \"shape\": \"%s\", \"layers\": %d, \"batch\": %d, \"seq\": %d, \"ckpt\": %s, "
      "\"step_s\": %.4f, \"tokens_per_s\": %.0f, \"model_tflops\": %.1f, \"mfu_vs_790\": %.3f, "
      "\"peak_mem_gb\": %.1f, \"trainer_mem_gb\": {\"weights\": %.2f, \"lora\": %.2f, \"optimizer\": %.2f, "
      "\"activations\": %.2f}, \"loss\": %.3f}\n",
      shape.c_str(), c.num_layers, batch, seq, recompute ? "true" : "false", dt, tok / dt, per_tok * tok / dt / 1e12,
      per_tok * tok / dt / 790e12, double(total - min_free) / gib, m.weights_bytes / gib, m.lora_bytes / gib,
      m.optimizer_bytes / gib, m.activations_bytes / gib, loss);
  return 0;
}
