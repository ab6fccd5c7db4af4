#pragma once
// Writes a file so that readers see either the old file or the complete new
// one, never a partial write: the bytes go to a temporary file in the same
// folder, which is flushed to disk and renamed over the target on Commit().
// A writer destroyed without Commit() removes its temporary file.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace expsvc::lm {

class AtomicFileWriter {
 public:
  static absl::StatusOr<AtomicFileWriter> Create(const std::filesystem::path& path);

  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&& other) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  absl::Status Write(std::span<const std::byte> bytes);
  absl::Status Write(std::string_view text);
  // fsync, close, rename onto the target. The writer is spent afterwards.
  absl::Status Commit();

  const std::filesystem::path& path() const { return path_; }

 private:
  AtomicFileWriter(std::filesystem::path path, std::filesystem::path temp_path, int fd);
  void Abandon();

  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  int fd_ = -1;
};

// The whole of `contents` to `path`, atomically.
absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents);

// The whole file as a string; NotFound when it does not exist.
absl::StatusOr<std::string> ReadWholeFile(const std::filesystem::path& path);

}  // namespace expsvc::lm
