#pragma once
// Whole-file reads and atomic whole-file writes for tokenizer and corpus
// files, with errors that name the file.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace expsvc::lm {

// NotFound when the file does not exist.
absl::StatusOr<std::string> ReadFileContents(const std::string& path);

// Writes `bytes` to a temporary file beside `path`, fsyncs it and renames it
// over `path`, so readers see either the old file or the complete new one.
absl::Status WriteFileContentsAtomically(const std::string& path, absl::string_view bytes);

}  // namespace expsvc::lm
