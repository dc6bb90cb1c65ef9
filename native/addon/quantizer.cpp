// Placeholder: replaced by the quantizer implementation.
#include "addon.h"
namespace sqlfocus_addon {
void InitQuantizer(Napi::Env, Napi::Object) {}
}  // namespace sqlfocus_addon
