#include "worker/torch/autocast_scope.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace expsvc::worker {
namespace {

// LibTorch 2.4 replaced the per-device calls with ones taking the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool IsEnabled(torch::DeviceType type) {
  return at::autocast::is_autocast_enabled(type);
}
void SetEnabled(torch::DeviceType type, bool enabled) {
  at::autocast::set_autocast_enabled(type, enabled);
}
torch::ScalarType GetDtype(torch::DeviceType type) {
  return at::autocast::get_autocast_dtype(type);
}
void SetDtype(torch::DeviceType type, torch::ScalarType dtype) {
  at::autocast::set_autocast_dtype(type, dtype);
}
#else
bool IsEnabled(torch::DeviceType type) {
  return type == torch::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void SetEnabled(torch::DeviceType type, bool enabled) {
  if (type == torch::kCUDA) {
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_cpu_enabled(enabled);
  }
}
torch::ScalarType GetDtype(torch::DeviceType type) {
  return type == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void SetDtype(torch::DeviceType type, torch::ScalarType dtype) {
  if (type == torch::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
}
#endif

}  // namespace

AutocastScope::AutocastScope(const torch::Device& device, bool enabled) {
  if (!enabled || (!device.is_cpu() && !device.is_cuda())) return;
  active_ = true;
  device_type_ = device.type();
  was_enabled_ = IsEnabled(device_type_);
  previous_dtype_ = GetDtype(device_type_);
  SetEnabled(device_type_, true);
  SetDtype(device_type_, torch::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The weights' bf16 copies are cached while any scope is open.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  SetDtype(device_type_, previous_dtype_);
  SetEnabled(device_type_, was_enabled_);
}

}  // namespace expsvc::worker
