#pragma once
// Reads a whole gzip file (zlib), e.g. the Debian Reference's
// debian-reference.en.txt.gz. A plain, uncompressed file is read as it is.

#include <string>

#include "absl/status/statusor.h"

namespace expsvc::lm {

// NotFound when absent; DataLoss, naming the file, when the data is corrupt.
absl::StatusOr<std::string> ReadGzipFile(const std::string& path);

}  // namespace expsvc::lm
