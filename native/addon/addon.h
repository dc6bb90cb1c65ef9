// N-API layer of sqlfocus: one small class (or function group) per object exposed to JS.
// Each file registers its exports through one Init function called from addon.cpp.
#pragma once
#include <napi.h>

namespace sqlfocus_addon {
void InitBuildInfo(Napi::Env env, Napi::Object exports);   // addon.cpp
void InitMappedFile(Napi::Env env, Napi::Object exports);  // mapped_file.cpp
void InitTrainer(Napi::Env env, Napi::Object exports);     // trainer.cpp
void InitQuantizer(Napi::Env env, Napi::Object exports);   // quantizer.cpp
}  // namespace sqlfocus_addon
