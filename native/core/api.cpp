// The C API (native/include/sqlfocus.h): a thin layer over sf::Trainer. It catches errors into (status, message),
// times the calls and copies plain structs; the device was chosen once, in sf::make_trainer.
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "core/engine.h"

struct sf_trainer {
  std::unique_ptr<sf::Trainer> impl;
  std::string err;
};

namespace {
double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/** Runs body, turning exceptions into (status, message). */
template <typename F>
int guarded(std::string& err, F&& body) {
  try {
    body();
    return SF_OK;
  } catch (const sf::Error& e) {
    err = e.what();
    return e.status;
  } catch (const std::bad_alloc&) {
    err = "out of memory";
    return SF_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    err = e.what();
    return SF_ERR_DEVICE;
  }
}
}  // namespace

extern "C" {

const char* sf_status_name(int status) {
  switch (status) {
    case SF_OK:
      return "SF_OK";
    case SF_ERR_INVALID_ARGUMENT:
      return "SF_ERR_INVALID_ARGUMENT";
    case SF_ERR_NONFINITE_GRADIENTS:
      return "SF_ERR_NONFINITE_GRADIENTS";
    case SF_ERR_OUT_OF_MEMORY:
      return "SF_ERR_OUT_OF_MEMORY";
    case SF_ERR_DEVICE:
      return "SF_ERR_DEVICE";
    case SF_ERR_UNSUPPORTED:
      return "SF_ERR_UNSUPPORTED";
  }
  return "SF_ERR_UNKNOWN";
}

sf_trainer_params sf_trainer_default_params(void) {
  sf_trainer_params p;
  std::memset(&p, 0, sizeof p);
  p.lora_rank = 16, p.lora_alpha = 32, p.lora_dropout = 0.05f, p.use_rslora = 0;
  p.target_mask = (1u << SF_NUM_MODULES) - 1;
  p.max_batch = 4, p.max_seq = 1024, p.threads = 2, p.seed = 42, p.recompute = 0;
  p.beta1 = 0.9f, p.beta2 = 0.999f, p.eps = 1e-8f, p.weight_decay = 0.0f, p.max_grad_norm = 1.0f;
  p.device = SF_DEVICE_CPU, p.ce_chunk = 0, p.activation_dtype = 0;
  return p;
}

int sf_check_config(const sf_model_config* cfg, const sf_trainer_params* p, char* err, size_t err_len) {
  std::string msg;
  int rc = guarded(msg, [&] {
    if (!cfg || !p) throw sf::Error(SF_ERR_INVALID_ARGUMENT, "sf_check_config: cfg and p must not be NULL");
    sf::validate_config(*cfg, *p);
  });
  if (rc != SF_OK && err && err_len) {
    std::strncpy(err, msg.c_str(), err_len - 1);
    err[err_len - 1] = 0;
  }
  return rc;
}

int sf_trainer_create(const sf_model_config* cfg, const sf_model_weights* w, const sf_trainer_params* p,
                      sf_trainer** out, char* err, size_t err_len) {
  std::string msg;
  std::unique_ptr<sf_trainer> t;
  int rc = guarded(msg, [&] {
    if (!cfg || !w || !p || !out)
      throw sf::Error(SF_ERR_INVALID_ARGUMENT, "sf_trainer_create: cfg, w, p and out must not be NULL");
    t = std::make_unique<sf_trainer>();
    t->impl = sf::make_trainer(*cfg, *w, *p);
  });
  if (out) *out = rc == SF_OK ? t.release() : nullptr;
  if (rc != SF_OK && err && err_len) {
    std::strncpy(err, msg.c_str(), err_len - 1);
    err[err_len - 1] = 0;
  }
  return rc;
}

void sf_trainer_free(sf_trainer* t) { delete t; }
const char* sf_trainer_last_error(const sf_trainer* t) { return t->err.c_str(); }

int sf_trainer_forward_backward(sf_trainer* t, const int32_t* ids, const int32_t* labels, int batch, int seq,
                                float loss_scale, sf_loss_result* out) {
  return guarded(t->err, [&] {
    double t0 = now_ms();
    out->loss_sum = t->impl->forward_backward(ids, labels, batch, seq, loss_scale, &out->tokens);
    out->ms = now_ms() - t0;
  });
}
int sf_trainer_evaluate(sf_trainer* t, const int32_t* ids, const int32_t* labels, int batch, int seq,
                        sf_loss_result* out) {
  return guarded(t->err, [&] {
    double t0 = now_ms();
    out->loss_sum = t->impl->evaluate(ids, labels, batch, seq, &out->tokens);
    out->ms = now_ms() - t0;
  });
}
int sf_trainer_logits(sf_trainer* t, const int32_t* ids, int batch, int seq, float* out) {
  return guarded(t->err, [&] { t->impl->logits(ids, batch, seq, out); });
}
int sf_trainer_optimizer_step(sf_trainer* t, float lr, double* grad_norm, double* ms) {
  return guarded(t->err, [&] {
    double t0 = now_ms();
    *grad_norm = t->impl->optimizer_step(lr);
    if (ms) *ms = now_ms() - t0;
  });
}
int sf_trainer_zero_grad(sf_trainer* t) {
  return guarded(t->err, [&] { t->impl->zero_grad(); });
}

int sf_trainer_lora_count(const sf_trainer* t) { return int(t->impl->slots.size()); }
sf_lora_info sf_trainer_lora_info(const sf_trainer* t, int i) {
  if (i < 0 || size_t(i) >= t->impl->slots.size()) return sf_lora_info{-1, SF_Q, 0, 0, 0, 0};
  const sf::LoraSlot& s = t->impl->slots[size_t(i)];
  return sf_lora_info{s.layer, sf_module(s.module), s.is_b, s.rows, s.cols, s.offset};
}
size_t sf_trainer_lora_size(const sf_trainer* t) { return t->impl->lora_size; }
int sf_trainer_read_lora(sf_trainer* t, sf_lora_buffer which, size_t offset, size_t count, float* out) {
  return guarded(t->err, [&] { t->impl->read_lora(which, offset, count, out); });
}
int sf_trainer_write_lora(sf_trainer* t, sf_lora_buffer which, size_t offset, size_t count, const float* in) {
  return guarded(t->err, [&] { t->impl->write_lora(which, offset, count, in); });
}
float* sf_trainer_lora_buffer(sf_trainer* t, sf_lora_buffer which) {
  float* p = nullptr;
  guarded(t->err, [&] { p = t->impl->lora_buffer(which); });
  return p;
}

int64_t sf_trainer_get_step(const sf_trainer* t) { return t->impl->step; }
void sf_trainer_set_step(sf_trainer* t, int64_t step) { t->impl->step = step; }
void sf_trainer_get_rng(const sf_trainer* t, uint64_t* seed, uint64_t* counter) {
  *seed = t->impl->rng_seed;
  *counter = t->impl->rng_counter;
}
void sf_trainer_set_rng(sf_trainer* t, uint64_t seed, uint64_t counter) {
  t->impl->rng_seed = seed;
  t->impl->rng_counter = counter;
}
sf_memory sf_trainer_memory(const sf_trainer* t) { return t->impl->memory(); }
const char* sf_module_name(sf_module m) { return m >= 0 && m < SF_NUM_MODULES ? sf::kModuleNames[m] : "?"; }

}  // extern "C"
