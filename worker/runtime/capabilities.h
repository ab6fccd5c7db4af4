#pragma once
// What this machine offers, advertised when the worker registers.

#include <cstdint>

namespace expsvc::worker {

// std::thread::hardware_concurrency(), at least 1.
int DetectCpuCores();
// MemTotal from /proc/meminfo in MiB; 0 when it cannot be read.
int64_t DetectMemoryMb();
// GPUs: cuda_devices.h.

}  // namespace expsvc::worker
