// GPU benchmark of the training step on the CUDA device (issue 9), through the C API: LoRA r16 / alpha 32 /
// dropout 0.05 on all seven projections of a Qwen2.5-Coder-7B-shaped model with random BF16 weights (generated on
// the host with OpenMP, uploaded once),
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

#include <sqlfocus.h>

#include "core/shared.h"
#include "cuda/kernels.h"
#include "cuda/ops.h"

using namespace sf::cuda;

// Attention kernels alone at the 7B head shape (28 query heads, 4 KV heads, head_dim 128).
template <typename T>
static void bench_attention(const char* name, int B, int T_, int reps) {
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
    attention_backward<T>(dq, dk, dv, dout, o, lse, q, k, v, B, T_, H, KV, D, dsum, nullptr);
    cudaEventRecord(e2);
    cudaEventSynchronize(e2);
    float a = 0, b = 0;
    cudaEventElapsedTime(&a, e0, e1);
    cudaEventElapsedTime(&b, e1, e2);
    if (r > 0) fwd += a / reps, bwd += b / reps;  // first run warms up
  }
  const double flops_fwd = 4.0 * B * H * (double(T_) * T_ / 2) * D;  // QK^T and PV, causal half
  std::printf(
      "{\"kernel\": \"attention %s\", \"batch\": %d, \"seq\": %d, \"fwd_ms\": %.3f, \"bwd_ms\": %.3f, "
      "\"fwd_tflops\": %.1f, \"bwd_tflops\": %.1f, \"error\": \"%s\"}\n",
      name, B, T_, fwd, bwd, flops_fwd / fwd / 1e9, 2.5 * flops_fwd / bwd / 1e9,
      cudaGetErrorString(cudaGetLastError()));
  for (void* p :
       {(void*)q, (void*)k, (void*)v, (void*)o, (void*)dout, (void*)dq, (void*)dk, (void*)dv, (void*)lse, (void*)dsum})
    cudaFree(p);
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
    if (a == "--shape")
      shape = next();
    else if (a == "--layers")
      layers = std::atoi(next());
    else if (a == "--batch")
      batch = std::atoi(next());
    else if (a == "--seq")
      seq = std::atoi(next());
    else if (a == "--steps")
      steps = std::atoi(next());
    else if (a == "--recompute" || a == "--ckpt")
      recompute = true;
    else if (a == "--attention")
      attention_only = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  sf_model_config c{};
  if (shape == "7b")
    c = {152064, 3584, 18944, 28, 28, 4, 0, 1e6f, 1e-6f, 0};
  else if (shape == "0.5b")
    c = {151936, 896, 4864, 24, 14, 2, 0, 1e6f, 1e-6f, 1};
  else {
    std::fprintf(stderr, "--shape must be 7b or 0.5b\n");
    return 2;
  }
  if (layers > 0) c.num_layers = layers;
  sf_trainer_params p = sf_trainer_default_params();
  p.device = SF_DEVICE_CUDA, p.activation_dtype = SF_BF16;
  p.lora_rank = 16, p.lora_alpha = 32, p.lora_dropout = 0.05f;
  p.max_batch = batch, p.max_seq = seq, p.seed = 0, p.recompute = recompute, p.ce_chunk = 1024;

  std::string why;
  if (!device_available(&why)) {
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
  // random BF16 weights, uniform with the std of HF's initializer_range 0.02; norms 1, biases 0
  const sf::Dims d = sf::dims_of(c);
  std::vector<std::vector<uint16_t>> store;
  auto tensor = [&](size_t n, int kind) {  // kind 0: matrix, 1: norm, 2: bias
    store.emplace_back(n);
    uint16_t* w = store.back().data();
    const uint64_t key = sf::mix64(store.size());
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < int64_t(n); i++) {
      float x = kind == 1   ? 1.0f
                : kind == 2 ? 0.0f
                            : (float(sf::mix64(key ^ uint64_t(i)) >> 40) / 16777216.0f * 2 - 1) * 0.0346f;
      uint32_t u;
      std::memcpy(&u, &x, 4);
      w[i] = uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
    }
    return sf_tensor{w, SF_BF16, n * 2};
  };
  store.reserve(3 + size_t(c.num_layers) * SF_LAYER_TENSORS);
  sf_model_weights w{};
  w.embed_tokens = tensor(size_t(d.V) * d.H, 0);
  w.lm_head = c.tie_word_embeddings ? sf_tensor{nullptr, SF_BF16, 0} : tensor(size_t(d.V) * d.H, 0);
  w.norm = tensor(d.H, 1);
  std::vector<sf_tensor> lt;
  for (int l = 0; l < c.num_layers; l++)
    for (int k = 0; k < SF_LAYER_TENSORS; k++) {
      size_t rows, cols;
      sf::layer_tensor_dims(d, k, &rows, &cols);
      lt.push_back(tensor(rows * cols, k >= SF_W_LN1 ? 1 : k >= SF_B_Q ? 2 : 0));
    }
  w.layers = lt.data();
  sf_trainer* trainer = nullptr;
  char err[512] = {0};
  if (int rc = sf_trainer_create(&c, &w, &p, &trainer, err, sizeof err)) {
    std::fprintf(stderr, "sf_trainer_create: %s: %s\n", sf_status_name(rc), err);
    return 1;
  }
  store.clear();  // uploaded: the host copies can go

  const int N = batch * seq;
  std::vector<int32_t> ids(N), labels(N);
  uint64_t s = 12345;
  for (int i = 0; i < N; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    ids[i] = int32_t((s >> 33) % uint64_t(c.vocab_size));
    labels[i] = (i % seq) < seq / 2 ? -100 : ids[i];
  }
  size_t min_free = free0;
  std::vector<double> times;
  double loss = 0;
  for (int k = 0; k < steps + warmup; k++) {
    const auto t0 = std::chrono::steady_clock::now();
    // loss scale 1 / label tokens: the mean loss, as Hugging Face's loss
    sf_loss_result r{};
    double norm = 0;
    if (sf_trainer_forward_backward(trainer, ids.data(), labels.data(), batch, seq, 1.0f / (batch * (seq / 2)), &r) ||
        sf_trainer_optimizer_step(trainer, 2e-4f, &norm, nullptr)) {
      std::fprintf(stderr, "step: %s\n", sf_trainer_last_error(trainer));
      return 1;
    }
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
  const double H = c.hidden_size, I = c.intermediate_size, L = c.num_layers, V = c.vocab_size;
  const double KV = H / c.num_heads * c.num_kv_heads;
  const double mm = L * (H * H * 2 + H * KV * 2 + 3 * H * I) + H * V;
  const double attn = L * 2 * 2 * double(seq) * H / 2;
  const double per_tok = (2 * mm + attn) * (2 + (recompute ? 1 : 0));
  const double tok = double(N);
  const sf_memory m = sf_trainer_memory(trainer);
  const double gib = 1024.0 * 1024.0 * 1024.0;
  std::printf(
      "{\"engine\": \"sqlfocus-cuda\", \"shape\": \"%s\", \"layers\": %d, \"batch\": %d, \"seq\": %d, \"ckpt\": %s, "
      "\"step_s\": %.4f, \"tokens_per_s\": %.0f, \"model_tflops\": %.1f, \"mfu_vs_790\": %.3f, "
      "\"peak_mem_gb\": %.1f, \"trainer_mem_gb\": {\"weights\": %.2f, \"lora\": %.2f, \"optimizer\": %.2f, "
      "\"activations\": %.2f}, \"loss\": %.3f}\n",
      shape.c_str(), c.num_layers, batch, seq, recompute ? "true" : "false", dt, tok / dt, per_tok * tok / dt / 1e12,
      per_tok * tok / dt / 790e12, double(total - min_free) / gib, m.weights_bytes / gib, m.lora_bytes / gib,
      m.optimizer_bytes / gib, m.activations_bytes / gib, loss);
  sf_trainer_free(trainer);
  return 0;
}
