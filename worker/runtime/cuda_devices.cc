#include "worker/runtime/cuda_devices.h"

#include <dlfcn.h>

#include <cstddef>

#include "absl/strings/str_cat.h"

namespace expsvc::worker {
namespace {

// The few driver API entry points used, declared by hand (the driver's
// cuda.h is not needed): CUresult is an int, CUdevice an int.
using CuInit = int (*)(unsigned int flags);
using CuDeviceGetCount = int (*)(int* count);
using CuDeviceGet = int (*)(int* device, int ordinal);
using CuDeviceGetName = int (*)(char* name, int length, int device);
using CuDeviceTotalMem = int (*)(size_t* bytes, int device);
using CuGetErrorString = int (*)(int error, const char** text);

class DriverLibrary {
 public:
  // RTLD_NODELETE: once cuInit ran, the driver may keep threads and exit
  // handlers of its own, so it must stay mapped after dlclose.
  explicit DriverLibrary(const std::string& path)
      : handle_(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) {}
  ~DriverLibrary() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  DriverLibrary(const DriverLibrary&) = delete;
  DriverLibrary& operator=(const DriverLibrary&) = delete;
  bool loaded() const { return handle_ != nullptr; }
  template <typename Function>
  Function Find(const char* name) const {
    return reinterpret_cast<Function>(dlsym(handle_, name));
  }

 private:
  void* handle_;
};

}  // namespace

absl::StatusOr<std::vector<v1::CudaDevice>> DetectCudaDevices(const std::string& driver_library) {
  const DriverLibrary driver(driver_library);
  if (!driver.loaded()) {
    const char* why = dlerror();
    return absl::NotFoundError(absl::StrCat("no NVIDIA driver: cannot load ", driver_library, ": ",
                                            why != nullptr ? why : "unknown error"));
  }
  const auto init = driver.Find<CuInit>("cuInit");
  const auto get_count = driver.Find<CuDeviceGetCount>("cuDeviceGetCount");
  const auto get_device = driver.Find<CuDeviceGet>("cuDeviceGet");
  const auto get_name = driver.Find<CuDeviceGetName>("cuDeviceGetName");
  const auto total_memory = driver.Find<CuDeviceTotalMem>("cuDeviceTotalMem_v2");
  const auto error_string = driver.Find<CuGetErrorString>("cuGetErrorString");
  if (init == nullptr || get_count == nullptr || get_device == nullptr || get_name == nullptr ||
      total_memory == nullptr) {
    return absl::UnavailableError(absl::StrCat(driver_library, " lacks the driver API's device queries"));
  }
  auto failed = [&](const char* call, int error) {
    const char* text = nullptr;
    if (error_string != nullptr) error_string(error, &text);
    return absl::UnavailableError(
        absl::StrCat("CUDA driver: ", call, " failed with error ", error, text != nullptr ? absl::StrCat(" (", text, ")") : ""));
  };
  if (const int error = init(0); error != 0) return failed("cuInit", error);
  int count = 0;
  if (const int error = get_count(&count); error != 0) return failed("cuDeviceGetCount", error);
  std::vector<v1::CudaDevice> devices;
  for (int ordinal = 0; ordinal < count; ++ordinal) {
    int device = 0;
    if (const int error = get_device(&device, ordinal); error != 0) return failed("cuDeviceGet", error);
    char name[256] = {};
    if (const int error = get_name(name, sizeof(name) - 1, device); error != 0) return failed("cuDeviceGetName", error);
    size_t bytes = 0;
    if (const int error = total_memory(&bytes, device); error != 0) return failed("cuDeviceTotalMem", error);
    v1::CudaDevice& entry = devices.emplace_back();
    entry.set_index(ordinal);
    entry.set_name(name);
    entry.set_memory_mb(static_cast<int64_t>(bytes >> 20));
  }
  return devices;
}

int32_t DeviceMemoryGb(const v1::CudaDevice& device) {
  return static_cast<int32_t>((device.memory_mb() + 512) / 1024);
}

std::string DescribeCudaDevice(const v1::CudaDevice& device) {
  return absl::StrCat(device.index(), ": ", device.name().empty() ? "unnamed device" : device.name(),
                      device.memory_mb() > 0 ? absl::StrCat(", ", device.memory_mb(), " MiB") : "");
}

}  // namespace expsvc::worker
