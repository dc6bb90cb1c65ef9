// The CUDA engine against PyTorch + transformers + PEFT (issue 9): reads the dump written by
// peft_reference.py (same base weights, LoRA tensors and batch), runs our CUDA step on it in F32 and in
// BF16, and compares the mean loss, every LoRA gradient (first step) and the LoRA parameters after the
// same AdamW steps (clip, weight decay). Tolerances are printed with each check; exit 1 on failure.
// Build: bench/cuda/build.sh (builds this too); run: build-cuda-nvcc/sqlfocus_cuda_parity DUMPDIR
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/train_cuda.h"

using namespace sqlfocus::cuda;

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};
static int failures = 0;
static void check(bool ok, const std::string& what, double value, double limit) {
  std::printf("%s %-58s %.3e (limit %.1e)\n", ok ? "ok  " : "FAIL", what.c_str(), value, limit);
  if (!ok) failures++;
}
static std::vector<double> split_doubles(const std::string& s) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stod(item));
  return out;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DUMPDIR (from test/parity/peft_reference.py)\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::map<std::string, Tensor> t;
  {
    std::ifstream mf(dir + "/manifest.txt");
    if (!mf) {
      std::fprintf(stderr, "%s/manifest.txt: cannot open\n", dir.c_str());
      return 2;
    }
    std::string name, dims, file;
    int line = 0;
    while (mf >> name >> dims >> file) {
      line++;
      Tensor x;
      size_t n = 1;
      for (double d : split_doubles(dims)) x.shape.push_back(int64_t(d)), n *= size_t(d);
      x.data.resize(n);
      std::ifstream bf(dir + "/" + file, std::ios::binary);
      if (!bf.read(reinterpret_cast<char*>(x.data.data()), std::streamsize(n * 4))) {
        std::fprintf(stderr, "%s/manifest.txt line %d: %s is shorter than %zu floats\n", dir.c_str(), line, file.c_str(), n);
        return 2;
      }
      t[name] = std::move(x);
    }
  }
  std::map<std::string, std::string> meta;
  {
    std::ifstream f(dir + "/meta.txt");
    std::string l;
    while (std::getline(f, l))
      if (auto eq = l.find('='); eq != std::string::npos) meta[l.substr(0, eq)] = l.substr(eq + 1);
  }
  auto mi = [&](const char* k) { return std::stoi(meta.at(k)); };
  auto mf = [&](const char* k) { return std::stod(meta.at(k)); };
  const int B = mi("batch"), T = mi("seq"), steps = mi("steps");
  const std::vector<double> losses = split_doubles(meta.at("losses")), norms = split_doubles(meta.at("norms"));
  std::vector<int32_t> ids(size_t(B) * T), labels(size_t(B) * T);
  for (size_t i = 0; i < ids.size(); i++) ids[i] = int32_t(t.at("input_ids").data[i]), labels[i] = int32_t(t.at("labels").data[i]);

  for (CudaPrecision prec : {CudaPrecision::F32, CudaPrecision::BF16}) {
    const bool bf16 = prec == CudaPrecision::BF16;
    const std::string tag = bf16 ? "bf16" : "f32";
    CudaTrainerParams p;
    p.config = {mi("vocab"), mi("hidden"), mi("inter"), mi("layers"), mi("heads"), mi("kv_heads"), 0,
                float(mf("rope_theta")), float(mf("eps")), false};
    p.lora.rank = mi("rank");
    p.lora.alpha = float(mf("alpha"));
    p.lora.dropout = 0;
    p.lora.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    p.optimizer = {0.9f, 0.999f, 1e-8f, float(mf("weight_decay")), float(mf("clip"))};
    p.max_batch = B, p.max_seq_len = T, p.precision = prec;
    WeightSource source = [&](const std::string& name) -> WeightView {
      auto it = t.find(name);
      if (it == t.end()) return WeightView{};
      return WeightView{it->second.data.data(), WeightDType::F32, it->second.shape};
    };
    auto tr = CudaTrainer::create(p, source);
    std::vector<CudaLoraTensor> init;
    for (const auto& x : tr->lora_tensors()) {
      const Tensor& src = t.at("init:" + x.name);
      init.push_back({x.name, src.shape, src.data});
    }
    tr->set_lora_tensors(init);
    const double tokens = mf("tokens");
    double max_gd = 0, max_g = 1e-30, dot = 0, nn = 0, rr = 0;
    for (int s = 0; s < steps; s++) {
      const CudaLossResult r = tr->forward_backward(ids.data(), labels.data(), B, T, float(1.0 / tokens));
      const double loss = r.loss_sum / double(r.tokens);
      const double le = std::fabs(loss - losses[s]) / std::fabs(losses[s]);
      const double ltol = bf16 ? 2e-2 : 5e-5;  // F32: HF's RoPE angles are F32 (ours double-computed)
      check(double(r.tokens) == tokens && le < ltol, tag + ": step " + std::to_string(s) + " mean loss vs PEFT", le, ltol);
      if (s == 0)
        for (const auto& g : tr->lora_grads()) {
          const Tensor& ref = t.at("grad:" + g.name);
          for (size_t i = 0; i < g.data.size(); i++) {
            max_gd = std::max(max_gd, std::fabs(double(g.data[i]) - ref.data[i]));
            max_g = std::max(max_g, std::fabs(double(ref.data[i])));
            dot += double(g.data[i]) * ref.data[i], nn += double(g.data[i]) * g.data[i], rr += double(ref.data[i]) * ref.data[i];
          }
        }
      const CudaOptimizerResult o = tr->optimizer_step(float(mf("lr")));
      const double ne = std::fabs(o.grad_norm - norms[s]) / norms[s];
      const double ntol = bf16 ? 3e-2 : 1e-4;
      check(o.applied && ne < ntol, tag + ": step " + std::to_string(s) + " grad norm vs PEFT", ne, ntol);
    }
    if (bf16) check(1 - dot / std::sqrt(nn * rr) < 1e-2, tag + ": LoRA grads 1-cosine vs PEFT", 1 - dot / std::sqrt(nn * rr), 1e-2);
    else check(max_gd / max_g < 1e-4, tag + ": LoRA grads vs PEFT (max abs diff / max abs)", max_gd / max_g, 1e-4);
    double pd = 0, pm = 1e-30;
    for (const auto& x : tr->lora_tensors()) {
      const Tensor& ref = t.at("final:" + x.name);
      const Tensor& start = t.at("init:" + x.name);
      for (size_t i = 0; i < x.data.size(); i++) {
        pd = std::max(pd, std::fabs(double(x.data[i]) - ref.data[i]));
        pm = std::max(pm, std::fabs(double(ref.data[i]) - start.data[i]));
      }
    }
    const double ptol = bf16 ? 0.5 : 1e-3;
    check(pd / pm < ptol, tag + ": LoRA params after the AdamW steps vs PEFT (diff / max update)", pd / pm, ptol);
  }
  std::printf(failures ? "%d parity check(s) failed\n" : "all parity checks passed\n", failures);
  return failures ? 1 : 0;
}
