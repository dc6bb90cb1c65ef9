// The CUDA engine against PyTorch + transformers + PEFT (issue 9): reads the dump written by
// peft_reference.py (same base weights, LoRA tensors and batch), runs our step on the CUDA device (through the C
// API) in F32 and in BF16, and compares the mean loss, every LoRA gradient (first step) and the LoRA parameters
// after the same AdamW steps (clip, weight decay). Tolerances are printed with each check; exit 1 on failure.
// The dump's names are Hugging Face / PEFT names; mapping them to the C structs is this harness's job (the engine
// knows layers, modules and A/B only).
// Build: bench/cuda/build.sh (builds this too); run: build-cuda-nvcc/sqlfocus_cuda_parity DUMPDIR
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <sqlfocus.h>

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
        std::fprintf(stderr, "%s/manifest.txt line %d: %s is shorter than %zu floats\n", dir.c_str(), line,
                     file.c_str(), n);
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
  for (size_t i = 0; i < ids.size(); i++)
    ids[i] = int32_t(t.at("input_ids").data[i]), labels[i] = int32_t(t.at("labels").data[i]);

  const int V = mi("vocab"), H = mi("hidden"), I = mi("inter"), L = mi("layers"), NH = mi("heads"), KV = mi("kv_heads");
  sf_model_config cfg{V, H, I, L, NH, KV, 0, float(mf("rope_theta")), float(mf("eps")), 0};
  auto tensor = [&](const std::string& name, bool optional) -> sf_tensor {
    auto it = t.find(name);
    if (it == t.end()) {
      if (!optional) {
        std::fprintf(stderr, "dump: %s is missing\n", name.c_str());
        std::exit(2);
      }
      return sf_tensor{nullptr, SF_F32, 0};
    }
    return sf_tensor{it->second.data.data(), SF_F32, it->second.data.size() * sizeof(float)};
  };
  const char* layer_names[SF_LAYER_TENSORS] = {
      "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
      "self_attn.o_proj.weight", "mlp.gate_proj.weight",    "mlp.up_proj.weight",
      "mlp.down_proj.weight",    "self_attn.q_proj.bias",   "self_attn.k_proj.bias",
      "self_attn.v_proj.bias",   "input_layernorm.weight",  "post_attention_layernorm.weight"};
  std::vector<sf_tensor> layers(size_t(L) * SF_LAYER_TENSORS);
  for (int l = 0; l < L; l++)
    for (int k = 0; k < SF_LAYER_TENSORS; k++)
      layers[size_t(l) * SF_LAYER_TENSORS + k] =
          tensor("model.layers." + std::to_string(l) + "." + layer_names[k], k >= SF_B_Q && k <= SF_B_V);
  sf_model_weights w{tensor("model.embed_tokens.weight", false), tensor("lm_head.weight", false),
                     tensor("model.norm.weight", false), layers.data()};

  for (int act : {int(SF_F32), int(SF_BF16)}) {
    const bool bf16 = act == SF_BF16;
    const std::string tag = bf16 ? "bf16" : "f32";
    sf_trainer_params p = sf_trainer_default_params();
    p.device = SF_DEVICE_CUDA, p.activation_dtype = act;
    p.lora_rank = mi("rank"), p.lora_alpha = float(mf("alpha")), p.lora_dropout = 0;
    p.beta1 = 0.9f, p.beta2 = 0.999f, p.eps = 1e-8f, p.weight_decay = float(mf("weight_decay")),
    p.max_grad_norm = float(mf("clip"));
    p.max_batch = B, p.max_seq = T;
    sf_trainer* tr = nullptr;
    char err[512] = {0};
    if (int rc = sf_trainer_create(&cfg, &w, &p, &tr, err, sizeof err)) {
      std::fprintf(stderr, "sf_trainer_create: %s: %s\n", sf_status_name(rc), err);
      return 1;
    }
    // PEFT's name of each LoRA slot, and the flat buffer from the dump's named tensors
    const int nslots = sf_trainer_lora_count(tr);
    const size_t n = sf_trainer_lora_size(tr);
    std::vector<std::string> names(nslots);
    for (int i = 0; i < nslots; i++) {
      const sf_lora_info li = sf_trainer_lora_info(tr, i);
      names[i] = "base_model.model.model.layers." + std::to_string(li.layer) +
                 (li.module <= SF_O ? ".self_attn." : ".mlp.") + sf_module_name(li.module) +
                 (li.is_b ? ".lora_B.weight" : ".lora_A.weight");
    }
    auto flat = [&](const std::string& prefix) {
      std::vector<float> out(n);
      for (int i = 0; i < nslots; i++) {
        const sf_lora_info li = sf_trainer_lora_info(tr, i);
        const Tensor& src = t.at(prefix + names[i]);
        std::copy(src.data.begin(), src.data.end(), out.begin() + li.offset);
      }
      return out;
    };
    const std::vector<float> init = flat("init:"), grad_ref = flat("grad:"), final_ref = flat("final:");
    sf_trainer_write_lora(tr, SF_LORA_PARAMS, 0, n, init.data());
    const double tokens = mf("tokens");
    double max_gd = 0, max_g = 1e-30, dot = 0, nn = 0, rr = 0;
    std::vector<float> buf(n);
    for (int s = 0; s < steps; s++) {
      sf_loss_result r{};
      sf_trainer_forward_backward(tr, ids.data(), labels.data(), B, T, float(1.0 / tokens), &r);
      const double loss = r.loss_sum / double(r.tokens);
      const double le = std::fabs(loss - losses[s]) / std::fabs(losses[s]);
      const double ltol = bf16 ? 2e-2 : 5e-5;  // F32: HF's RoPE angles are F32 (ours double-computed)
      check(double(r.tokens) == tokens && le < ltol, tag + ": step " + std::to_string(s) + " mean loss vs PEFT", le,
            ltol);
      if (s == 0) {
        sf_trainer_read_lora(tr, SF_LORA_GRADS, 0, n, buf.data());
        for (size_t i = 0; i < n; i++) {
          max_gd = std::max(max_gd, std::fabs(double(buf[i]) - grad_ref[i]));
          max_g = std::max(max_g, std::fabs(double(grad_ref[i])));
          dot += double(buf[i]) * grad_ref[i], nn += double(buf[i]) * buf[i], rr += double(grad_ref[i]) * grad_ref[i];
        }
      }
      double norm = 0;
      const int orc = sf_trainer_optimizer_step(tr, float(mf("lr")), &norm, nullptr);
      const double ne = std::fabs(norm - norms[s]) / norms[s];
      const double ntol = bf16 ? 3e-2 : 1e-4;
      check(orc == SF_OK && ne < ntol, tag + ": step " + std::to_string(s) + " grad norm vs PEFT", ne, ntol);
    }
    if (bf16)
      check(1 - dot / std::sqrt(nn * rr) < 1e-2, tag + ": LoRA grads 1-cosine vs PEFT", 1 - dot / std::sqrt(nn * rr),
            1e-2);
    else
      check(max_gd / max_g < 1e-4, tag + ": LoRA grads vs PEFT (max abs diff / max abs)", max_gd / max_g, 1e-4);
    sf_trainer_read_lora(tr, SF_LORA_PARAMS, 0, n, buf.data());
    double pd = 0, pm = 1e-30;
    for (size_t i = 0; i < n; i++) {
      pd = std::max(pd, std::fabs(double(buf[i]) - final_ref[i]));
      pm = std::max(pm, std::fabs(double(final_ref[i]) - init[i]));
    }
    const double ptol = bf16 ? 0.5 : 1e-3;
    check(pd / pm < ptol, tag + ": LoRA params after the AdamW steps vs PEFT (diff / max update)", pd / pm, ptol);
    sf_trainer_free(tr);
  }
  std::printf(failures ? "%d parity check(s) failed\n" : "all parity checks passed\n", failures);
  return failures ? 1 : 0;
}
