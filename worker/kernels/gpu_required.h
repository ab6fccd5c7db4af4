#pragma once
// EXPSVC_REQUIRE_GPU=1 (scripts/gpu-check sets it): a gpu-labelled test that
// finds no usable GPU fails instead of skipping, so a broken driver on a GPU
// machine cannot pass as a skip. Free of CUDA headers, for tests that see
// CUDA through Torch only.

#include <cstdlib>
#include <string>

namespace expsvc::kernels {

inline bool GpuRequired() {
  const char* required = std::getenv("EXPSVC_REQUIRE_GPU");
  return required != nullptr && std::string(required) == "1";
}

}  // namespace expsvc::kernels
