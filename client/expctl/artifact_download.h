#pragma once
// Writes a streamed artifact to disk safely: into a temporary file beside
// the destination, checked against the recorded size and SHA-256, then
// renamed into place, so a failed or corrupt download never leaves a file
// that looks complete.

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "common/sha256.h"

namespace expsvc::expctl {

// Where `artifacts get` writes: `output` when it names a file, inside it
// when it is an existing directory, else the artifact name's last path
// component in the current directory ("artifact-ID" when the name has no
// usable component, e.g. "" or "..").
std::string DownloadDestination(absl::string_view artifact_name, int64_t artifact_id, absl::string_view output);

class VerifiedFileWriter {
 public:
  VerifiedFileWriter() = default;
  ~VerifiedFileWriter();  // removes the temporary file unless committed
  VerifiedFileWriter(const VerifiedFileWriter&) = delete;
  VerifiedFileWriter& operator=(const VerifiedFileWriter&) = delete;

  // Creates the temporary file in the destination's directory.
  absl::Status Open(const std::string& destination);
  absl::Status Write(absl::string_view data);
  // Checks size and checksum (lower- or upper-case hex), syncs, renames.
  absl::Status Commit(int64_t expected_size, absl::string_view expected_sha256);

  int64_t bytes_written() const { return bytes_written_; }

 private:
  std::string destination_;
  std::string temp_path_;
  int fd_ = -1;
  int64_t bytes_written_ = 0;
  Sha256Hasher hasher_;
};

}  // namespace expsvc::expctl
