// GPU benchmark of the CUDA training step (issue 9): LoRA r16 / alpha 32 / dropout 0.05 on all seven
// projections of a Qwen2.5-Coder-7B-shaped model with random BF16 weights (generated on the device),
// batch 4 x 1024, loss on the second half of each sequence (as ../shared/bench/hf_peft_lora.py), one
// forward_backward + optimizer_step per step. Prints one JSON line with the same fields and the same
// model-FLOP formula as hf_peft_lora.py (tokens/s, step time, peak memory, MFU vs 790 TFLOP/s).
// Usage: sqlfocus_cuda_bench [--shape 7b|0.5b] [--layers N] [--batch B] [--seq S] [--steps K] [--recompute]
//        sqlfocus_cuda_bench --attention [--batch B] [--seq S]   (attention kernels alone, 7B heads: one JSON
//        line each for the BF16 tensor-core and the SIMT kernels, forward and backward TFLOP/s)
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/kernels.h"
#include "cuda/train_cuda.h"

using namespace sqlfocus::cuda;

// Attention kernels alone at the 7B head shape (28 query heads, 4 KV heads, head_dim 128).
template <typename T> static void bench_attention(const char* name, int B, int T_, int reps) {
  const int H = 28, KV = 4, D = 128;
  const size_t nq = size_t(B) * T_ * H * D, nk = size_t(B) * T_ * KV * D, ns = size_t(B) * H * T_;
  T *q, *k, *v, *o, *dout, *dq, *dk, *dv;
  float *lse, *dsum;
  for (T** p : {&q, &o, &dout, &dq}) cudaMalloc(p, nq * sizeof(T));
  for (T** p : {&k, &v, &dk, &dv}) cudaMalloc(p, nk * sizeof(T));
  cudaMalloc(&lse, ns * 4);
  cudaMalloc(&dsum, ns * 4);
  {  // random inputs (zeros would run the tensor cores at a higher clock than real data)
    std::vector<float> host(nq);
    uint64_t s = 7;
    for (auto& x : host) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      x = float(int64_t(s >> 40) - (1 << 23)) / float(1 << 23);
    }
    float* staging;
    cudaMalloc(&staging, nq * 4);
    cudaMemcpy(staging, host.data(), nq * 4, cudaMemcpyHostToDevice);
    convert_to<T>(q, staging, HostDType::F32, nq, nullptr);
    convert_to<T>(dout, staging, HostDType::F32, nq, nullptr);
    convert_to<T>(k, staging + 1, HostDType::F32, nk, nullptr);
    convert_to<T>(v, staging + 2, HostDType::F32, nk, nullptr);
    cudaDeviceSynchronize();
    cudaFree(staging);
  }
  cudaEvent_t e0, e1, e2;
  cudaEventCreate(&e0), cudaEventCreate(&e1), cudaEventCreate(&e2);
  float fwd = 0, bwd = 0;
  for (int r = 0; r < reps + 1; r++) {
    cudaEventRecord(e0);
    attention_forward<T>(o, lse, q, k, v, B, T_, H, KV, D, nullptr);
    cudaEventRecord(e1);
    attention_backward<T>(dq, dk, dv, dsum, dout, o, q, k, v, lse, B, T_, H, KV, D, nullptr);
    cudaEventRecord(e2);
    cudaEventSynchronize(e2);
    float a = 0, b = 0;
    cudaEventElapsedTime(&a, e0, e1);
    cudaEventElapsedTime(&b, e1, e2);
    if (r > 0) fwd += a / reps, bwd += b / reps;  // first run warms up
  }
  const double flops_fwd = 4.0 * B * H * (double(T_) * T_ / 2) * D;  // QK^T and PV, causal half
  std::printf("{\"kernel\": \"attention %s\", \"batch\": %d, \"seq\": %d, \"fwd_ms\": %.3f, \"bwd_ms\": %.3f, "
              "\"fwd_tflops\": %.1f, \"bwd_tflops\": %.1f, \"error\": \"%s\"}\n",
              name, B, T_, fwd, bwd, flops_fwd / fwd / 1e9, 2.5 * flops_fwd / bwd / 1e9, cudaGetErrorString(cudaGetLastError()));
  for (void* p : {(void*)q, (void*)k, (void*)v, (void*)o, (void*)dout, (void*)dq, (void*)dk, (void*)dv, (void*)lse, (void*)dsum}) cudaFree(p);
}

int main(int argc, char** argv) {
  std::string shape = "7b";
  int layers = -1, batch = 4, seq = 1024, steps = 8, warmup = 2;
  bool recompute = false, attention_only = false;
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
    else if (a == "--attention") attention_only = true;
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
  if (attention_only) {
    bench_attention<__nv_bfloat16>("bf16 tensor-core", batch, seq, 5);
    bench_attention<float>("f32 simt", batch, seq, 2);
    return 0;
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
