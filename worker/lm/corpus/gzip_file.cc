#include "worker/lm/corpus/gzip_file.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace expsvc::lm {

absl::StatusOr<std::string> ReadGzipFile(const std::string& path) {
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::string text;
  char buffer[1 << 16];
  int got = 0;
  while ((got = gzread(file, buffer, sizeof(buffer))) > 0) text.append(buffer, got);
  if (got < 0) {
    int code = 0;
    const std::string message = gzerror(file, &code);
    gzclose(file);
    return absl::DataLossError(absl::StrCat(path, ": corrupt gzip data: ", message));
  }
  if (gzclose(file) != Z_OK) {
    return absl::DataLossError(absl::StrCat(path, ": corrupt gzip data (bad trailer)"));
  }
  return text;
}

}  // namespace expsvc::lm
