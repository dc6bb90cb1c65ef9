// Module entry: registers every exported class/function of the addon.
#include "addon.h"

#include "cpu/dispatch.h"

namespace sqlfocus_addon {

// buildInfo() -> { cuda: boolean, simd: string, simdDetected: string, compiler: string }
static Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
#ifdef SQLFOCUS_WITH_CUDA
  out.Set("cuda", true);
#else
  out.Set("cuda", false);
#endif
  // the SIMD level the CPU kernels run at (chosen at run time; SQLFOCUS_CPU forces a lower one) and the best
  // level this CPU and build support
  out.Set("simd", sf::cpu_level_name(sf::cpu_level()));
  out.Set("simdDetected", sf::cpu_level_name(sf::cpu_detected_level()));
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
  sqlfocus_addon::InitComm(env, exports);
  return exports;
}

NODE_API_MODULE(sqlfocus, Init)
