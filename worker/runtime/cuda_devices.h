#pragma once
// The NVIDIA GPUs of this machine, read from the driver (libcuda) at run
// time, so the worker needs no CUDA toolkit or CUDA LibTorch to advertise
// them: a CPU-built worker on a GPU host still reports its devices (and
// hands them to command jobs), and a host without a driver reports none.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "expsvc/v1/workers.pb.h"

namespace expsvc::worker {

// The driver library the worker opens by default.
inline constexpr char kCudaDriverLibrary[] = "libcuda.so.1";

// Index (as CUDA numbers them, after CUDA_VISIBLE_DEVICES), name and memory
// of every device the driver shows. NotFound when the library is missing (no
// driver); Unavailable when the driver fails (cuInit's error named).
absl::StatusOr<std::vector<expsvc::v1::CudaDevice>> DetectCudaDevices(
    const std::string& driver_library = kCudaDriverLibrary);

// The device's memory in whole GiB, rounded to nearest, as jobs'
// gpu_memory_gb and a worker's free resources count it: an "80 GB" H100
// (81,559 MiB) is 80, an H200 (143,771 MiB) 140, a 40 GB A100 40.
int32_t DeviceMemoryGb(const expsvc::v1::CudaDevice& device);

// "0: NVIDIA H200, 143771 MiB" for the worker's and jobs' logs.
std::string DescribeCudaDevice(const expsvc::v1::CudaDevice& device);

}  // namespace expsvc::worker
