// A stand-in for libcuda.so.1 with the driver API calls cuda_devices.cc
// makes, for its test on machines without a GPU. FAKE_CUDA_DEVICES devices
// (default 2) named "Fake GPU <i>" with (80 + i) GiB; FAKE_CUDA_INIT_ERROR
// makes cuInit fail with that code.
#include <cstddef>
#include <cstdio>
#include <cstdlib>

extern "C" {

int cuInit(unsigned int) {
  const char* error = std::getenv("FAKE_CUDA_INIT_ERROR");
  return error != nullptr ? std::atoi(error) : 0;
}

int cuDeviceGetCount(int* count) {
  const char* devices = std::getenv("FAKE_CUDA_DEVICES");
  *count = devices != nullptr ? std::atoi(devices) : 2;
  return 0;
}

int cuDeviceGet(int* device, int ordinal) {
  *device = ordinal;
  return 0;
}

int cuDeviceGetName(char* name, int length, int device) {
  std::snprintf(name, static_cast<size_t>(length), "Fake GPU %d", device);
  return 0;
}

int cuDeviceTotalMem_v2(size_t* bytes, int device) {
  *bytes = static_cast<size_t>(80 + device) << 30;
  return 0;
}

int cuGetErrorString(int error, const char** text) {
  *text = error == 100 ? "CUDA_ERROR_NO_DEVICE" : "unknown";
  return 0;
}
}
