#pragma once
// What the kernels' gpu-labelled tests share: the skip (or failure) without
// a usable device, and device buffers that free themselves.

#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include "worker/kernels/gpu_required.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace expsvc::kernels {

#define ASSERT_CUDA(call)                                                 \
  do {                                                                    \
    const cudaError_t cuda_error = (call);                                \
    ASSERT_EQ(cuda_error, cudaSuccess) << cudaGetErrorString(cuda_error); \
  } while (false)

// Why there is no device to test on, or "" when there is one.
inline std::string NoDeviceReason() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) return cudaGetErrorString(error);
  return count > 0 ? "" : "no CUDA device";
}

// Skips without a device, or fails under EXPSVC_REQUIRE_GPU=1 (gpu_required.h).
#define SKIP_WITHOUT_GPU()                                                                 \
  if (const std::string reason = ::expsvc::kernels::NoDeviceReason(); !reason.empty()) {   \
    if (::expsvc::kernels::GpuRequired()) FAIL() << "EXPSVC_REQUIRE_GPU=1 but " << reason; \
    GTEST_SKIP() << "gpu test skipped: " << reason;                                        \
  }

// A device buffer holding a copy of `host`, freed at scope exit.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t count) : count_(count) {
    Check(cudaMalloc(reinterpret_cast<void**>(&data_), std::max<size_t>(count, 1) * sizeof(T)), "cudaMalloc");
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    Check(cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy to device");
  }
  ~DeviceBuffer() { cudaFree(data_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return data_; }
  std::vector<T> ToHost() const {
    std::vector<T> host(count_);
    Check(cudaMemcpy(host.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy to host");
    return host;
  }

 private:
  // A failed allocation or copy fails the test that made the buffer.
  static void Check(cudaError_t error, const char* what) {
    if (error != cudaSuccess) ADD_FAILURE() << what << ": " << cudaGetErrorString(error);
  }

  T* data_ = nullptr;
  size_t count_;
};

}  // namespace expsvc::kernels
