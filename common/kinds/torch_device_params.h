#pragma once
// Where a LibTorch job runs: the two parameters every Torch job kind takes,
// bound once for all of them.

#include <cstdint>
#include <string>

#include "common/kinds/kind_definition.h"

namespace expsvc::kinds {

struct TorchDeviceParams {
  std::string device = "auto";
  int64_t threads = 0;
};

template <typename P>
void AddTorchDeviceParams(KindDefinition<P>& d) {
  d.Choice("device", &P::device, {"auto", "cpu", "cuda"}, "auto picks CUDA when available.")
      .Int("threads", &P::threads, "CPU threads for Torch (0 = Torch's default: its count of physical cores).", {0, 1024});
}

}  // namespace expsvc::kinds
