#include "client/expctl/artifact_download.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/expctl/format.h"

namespace expsvc::expctl {
namespace {

std::string SafeBaseName(absl::string_view artifact_name, int64_t artifact_id) {
  size_t slash = artifact_name.find_last_of('/');
  absl::string_view base = slash == absl::string_view::npos ? artifact_name : artifact_name.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") return absl::StrCat("artifact-", artifact_id);
  return std::string(base);
}

absl::Status FileError(absl::string_view action, const std::string& path) {
  return absl::InternalError(absl::StrCat("cannot ", action, " '", path, "': ", ErrnoText()));
}

}  // namespace

std::string DownloadDestination(absl::string_view artifact_name, int64_t artifact_id, absl::string_view output) {
  std::string base = SafeBaseName(artifact_name, artifact_id);
  if (output.empty()) return base;
  std::error_code error;
  if (std::filesystem::is_directory(std::filesystem::path(std::string(output)), error)) {
    return (std::filesystem::path(std::string(output)) / base).string();
  }
  return std::string(output);
}

VerifiedFileWriter::~VerifiedFileWriter() {
  if (fd_ >= 0) close(fd_);
  if (!temp_path_.empty()) unlink(temp_path_.c_str());
}

absl::Status VerifiedFileWriter::Open(const std::string& destination) {
  destination_ = destination;
  std::string pattern = absl::StrCat(destination, ".part-XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  fd_ = mkstemp(buffer.data());
  if (fd_ < 0) return FileError("create a temporary file for", destination);
  temp_path_ = buffer.data();
  // mkstemp makes the file 0600; give it the permissions a new file gets.
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd_, 0666 & ~mask);
  return absl::OkStatus();
}

absl::Status VerifiedFileWriter::Write(absl::string_view data) {
  hasher_.Update(std::string_view(data.data(), data.size()));
  while (!data.empty()) {
    ssize_t written = write(fd_, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return FileError("write", temp_path_);
    }
    data.remove_prefix(static_cast<size_t>(written));
    bytes_written_ += written;
  }
  return absl::OkStatus();
}

absl::Status VerifiedFileWriter::Commit(int64_t expected_size, absl::string_view expected_sha256) {
  if (bytes_written_ != expected_size) {
    return absl::DataLossError(
        absl::StrCat("received ", bytes_written_, " bytes, expected ", expected_size, "; nothing was written"));
  }
  std::string actual_sha256 = hasher_.FinishHex();
  if (!expected_sha256.empty() && absl::AsciiStrToLower(expected_sha256) != actual_sha256) {
    return absl::DataLossError(
        absl::StrCat("sha256 mismatch: expected ", expected_sha256, ", got ", actual_sha256, "; nothing was written"));
  }
  if (fsync(fd_) != 0) return FileError("sync", temp_path_);
  int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) return FileError("close", temp_path_);
  if (rename(temp_path_.c_str(), destination_.c_str()) != 0) {
    return FileError(absl::StrCat("rename '", temp_path_, "' to"), destination_);
  }
  temp_path_.clear();
  return absl::OkStatus();
}

}  // namespace expsvc::expctl
