#pragma once
// Tests only: a fresh, empty folder under the test temp dir, removed when
// the object goes out of scope.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace expsvc::lm {

class ScratchDir {
 public:
  explicit ScratchDir(std::string_view label) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::path(::testing::TempDir()) /
            (std::string(label) + "." + std::to_string(::getpid()) + "." + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace expsvc::lm
