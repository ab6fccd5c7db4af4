#pragma once
// Whole-file reads and atomic whole-file writes, with errors that name the file.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace expsvc::music {

absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

// Writes `bytes` to a temporary file beside `path`, fsyncs it and renames it
// over `path`, so readers see either the old file or the complete new one.
absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes);

}  // namespace expsvc::music
