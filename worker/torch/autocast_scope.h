#pragma once
// Mixed precision for a block of Torch code: while an AutocastScope lives,
// the calling thread's matrix products on `device` run in bfloat16 (Torch's
// autocast: weights stay float32, ops that need range, such as softmax and
// the losses, stay float32). Backward passes run outside it, as Torch
// advises. A no-op when not enabled. Written against both LibTorch 1.13
// (Debian) and 2.x (whose autocast calls take the device type).

#include <torch/torch.h>

namespace expsvc::worker {

class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  torch::DeviceType device_type_ = torch::kCPU;
  bool was_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kFloat32;
};

}  // namespace expsvc::worker
