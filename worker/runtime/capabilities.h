#pragma once
// What this machine offers, advertised when the worker registers.

#include <cstdint>
#include <vector>

#include "expsvc/v1/workers.pb.h"

namespace expsvc::worker {

// std::thread::hardware_concurrency(), at least 1.
int DetectCpuCores();
// MemTotal from /proc/meminfo in MiB; 0 when it cannot be read.
int64_t DetectMemoryMb();
// CUDA devices this worker can use. Empty until the CUDA-enabled job kinds
// land (they will fill this in from the CUDA runtime / LibTorch).
std::vector<expsvc::v1::CudaDevice> DetectCudaDevices();

}  // namespace expsvc::worker
