// Device detection through the driver API, against a fake driver library
// (fake_cuda_driver.cc) so it runs without a GPU, and against the real
// library name, which on a machine without a driver must answer NotFound.
#include "worker/runtime/cuda_devices.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <utility>
#include <vector>

namespace expsvc::worker {
namespace {

// Set by ctest (expsvc_test); the fake library is built beside the test.
std::string FakeDriver() {
  const char* build_dir = std::getenv("EXPSVC_BUILD_DIR");
  return (std::filesystem::path(build_dir != nullptr ? build_dir : "build") / "worker" / "libfake_cuda_driver.so")
      .string();
}

TEST(CudaDevicesTest, ReadsIndexNameAndMemoryFromTheDriver) {
  setenv("FAKE_CUDA_DEVICES", "2", 1);
  unsetenv("FAKE_CUDA_INIT_ERROR");
  const auto devices = DetectCudaDevices(FakeDriver());
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(devices->size(), 2u);
  EXPECT_EQ((*devices)[1].index(), 1);
  EXPECT_EQ((*devices)[1].name(), "Fake GPU 1");
  EXPECT_EQ((*devices)[1].memory_mb(), 81 * 1024);
  EXPECT_EQ(DescribeCudaDevice((*devices)[0]), "0: Fake GPU 0, 81920 MiB");
}

TEST(CudaDevicesTest, MemoryInGibIsRoundedToNearestSoNominalSizesMatch) {
  expsvc::v1::CudaDevice device;
  for (const auto& [mib, gib] : std::vector<std::pair<int64_t, int32_t>>{
           {81559, 80}, {143771, 140}, {40960, 40}, {24564, 24}, {511, 0}}) {
    device.set_memory_mb(mib);
    EXPECT_EQ(DeviceMemoryGb(device), gib) << mib << " MiB";
  }
}

TEST(CudaDevicesTest, DriverErrorsAreNamed) {
  setenv("FAKE_CUDA_INIT_ERROR", "100", 1);
  const auto devices = DetectCudaDevices(FakeDriver());
  unsetenv("FAKE_CUDA_INIT_ERROR");
  ASSERT_FALSE(devices.ok());
  EXPECT_EQ(devices.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(devices.status().message().find("cuInit failed with error 100 (CUDA_ERROR_NO_DEVICE)"),
            std::string::npos)
      << devices.status();
}

TEST(CudaDevicesTest, NoDriverLibraryIsNotFound) {
  const auto devices = DetectCudaDevices("libexpsvc-no-such-driver.so.1");
  ASSERT_FALSE(devices.ok());
  EXPECT_EQ(devices.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(devices.status().message().find("no NVIDIA driver"), std::string::npos);
}

TEST(CudaDevicesTest, TheRealDriverAnswersOneWayOrTheOther) {
  // With a driver: devices (maybe none); without: NotFound; a driver that
  // cannot start (no device, version mismatch): Unavailable. Never a crash.
  const auto devices = DetectCudaDevices();
  if (devices.ok()) {
    for (const auto& device : *devices) EXPECT_GT(device.memory_mb(), 0) << DescribeCudaDevice(device);
  } else {
    EXPECT_TRUE(devices.status().code() == absl::StatusCode::kNotFound ||
                devices.status().code() == absl::StatusCode::kUnavailable)
        << devices.status();
  }
}

}  // namespace
}  // namespace expsvc::worker
