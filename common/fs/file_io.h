#pragma once
// Whole-file reads and atomic whole-file writes, with errors that name the
// file. The one copy for every binary: the scheduler's TLS files, the
// worker's MIDI, tokenizer, corpus and checkpoint files, expctl's inputs.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace expsvc::fs {

// The whole file. NotFound when it does not exist, PermissionDenied when it
// cannot be opened for another reason, DataLoss when a read fails midway.
absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path);

// Writes a file so that readers see either the old file or the complete new
// one, never a partial write: the bytes go to a temporary file in the same
// folder, which is flushed to disk and renamed over the target on Commit().
// A writer destroyed without Commit() removes its temporary file.
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

}  // namespace expsvc::fs
