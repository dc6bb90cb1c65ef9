// Placeholder: replaced by the trainer implementation.
#include "addon.h"
namespace sqlfocus_addon {
void InitTrainer(Napi::Env, Napi::Object) {}
}  // namespace sqlfocus_addon
