// N-API layer of sqlfocus: one small class (or function group) per object exposed to JS.
// Each file registers its exports through one Init function called from addon.cpp.
#pragma once
#include <napi.h>
#include <sqlfocus.h>

namespace sqlfocus_addon {
void InitBuildInfo(Napi::Env env, Napi::Object exports);   // addon.cpp
void InitMappedFile(Napi::Env env, Napi::Object exports);  // mapped_file.cpp
void InitTrainer(Napi::Env env, Napi::Object exports);     // trainer.cpp
void InitQuantizer(Napi::Env env, Napi::Object exports);   // quantizer.cpp
void InitComm(Napi::Env env, Napi::Object exports);        // comm.cpp

/** A JS Trainer's engine lent to another class's async work: the trainer is busy (its own calls refuse) until
 *  ReturnTrainer, which must run on the JS thread (OnOK/OnError). */
struct TrainerLease {
  void* owner = nullptr;
  sf_trainer* engine = nullptr;
  float* grads = nullptr;        // the flat LoRA gradient buffer (all tensors back to back, sf_lora_info order)
  size_t grad_count = 0;         // its F32 elements
  bool grads_on_device = false;  // GPU memory (CUDA engine), else host memory
  Napi::ObjectReference ref;
};
TrainerLease LeaseTrainer(Napi::Env env, Napi::Value trainer, const char* method);  // trainer.cpp
void ReturnTrainer(TrainerLease& lease);
}  // namespace sqlfocus_addon
