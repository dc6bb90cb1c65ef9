// Module entry: registers every exported class/function of the addon.
#include "addon.h"

namespace sqlfocus_addon {

// buildInfo() -> { cuda: boolean, simd: string, compiler: string }
static Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
#ifdef SQLFOCUS_WITH_CUDA
  out.Set("cuda", true);
#else
  out.Set("cuda", false);
#endif
#if defined(__AVX512F__)
  out.Set("simd", "avx512");
#elif defined(__AVX2__) && defined(__FMA__)
  out.Set("simd", "avx2");
#elif defined(__ARM_NEON)
  out.Set("simd", "neon");
#else
  out.Set("simd", "scalar");
#endif
#if defined(__clang__)
  out.Set("compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  out.Set("compiler", "gcc " __VERSION__);
#else
  out.Set("compiler", "unknown");
#endif
  return out;
}

void InitBuildInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
}

}  // namespace sqlfocus_addon

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  sqlfocus_addon::InitBuildInfo(env, exports);
  sqlfocus_addon::InitMappedFile(env, exports);
  sqlfocus_addon::InitTrainer(env, exports);
  sqlfocus_addon::InitQuantizer(env, exports);
  return exports;
}

NODE_API_MODULE(sqlfocus, Init)
