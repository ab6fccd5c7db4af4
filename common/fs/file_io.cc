#include "common/fs/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace expsvc::fs {
namespace {

absl::Status ErrnoError(std::string_view what, const std::filesystem::path& path, int error) {
  const std::string message =
      absl::StrCat(absl::string_view(what.data(), what.size()), " ", path.string(), ": ", std::strerror(error));
  if (error == ENOENT || error == ENOTDIR) return absl::NotFoundError(message);
  if (error == EACCES || error == EPERM || error == EISDIR) return absl::PermissionDeniedError(message);
  return absl::DataLossError(message);
}

// Unique within the process; the pid makes it unique across processes.
std::filesystem::path TempPathFor(const std::filesystem::path& path) {
  static std::atomic<uint64_t> counter{0};
  return std::filesystem::path(absl::StrCat(path.string(), ".tmp.", ::getpid(), ".", counter++));
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  std::string bytes;
  char buffer[1 << 16];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      // A folder opens but cannot be read: say so rather than "data loss".
      if (error == EISDIR) return ErrnoError("cannot read", path, error);
      return absl::DataLossError(absl::StrCat("read error on ", path.string(), ": ", std::strerror(error)));
    }
    bytes.append(buffer, static_cast<size_t>(got));
  }
  ::close(fd);
  return bytes;
}

absl::StatusOr<AtomicFileWriter> AtomicFileWriter::Create(const std::filesystem::path& path) {
  std::filesystem::path temp_path = TempPathFor(path);
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", temp_path, errno);
  return AtomicFileWriter(path, std::move(temp_path), fd);
}

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path, std::filesystem::path temp_path, int fd)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)), temp_path_(std::move(other.temp_path_)), fd_(std::exchange(other.fd_, -1)) {}

AtomicFileWriter::~AtomicFileWriter() {
  Abandon();
}

void AtomicFileWriter::Abandon() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
}

absl::Status AtomicFileWriter::Write(std::span<const std::byte> bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat("write to a closed writer for ", path_.string()));
  const std::byte* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t written = ::write(fd_, p, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      Abandon();
      return ErrnoError("cannot write", temp_path_, error);
    }
    p += written;
    left -= static_cast<size_t>(written);
  }
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Write(std::string_view text) {
  return Write(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

absl::Status AtomicFileWriter::Commit() {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat("commit of a closed writer for ", path_.string()));
  if (::fsync(fd_) != 0) {
    const int error = errno;
    Abandon();
    return ErrnoError("cannot flush", temp_path_, error);
  }
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(temp_path_.c_str());
    return ErrnoError("cannot close", temp_path_, error);
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp_path_.c_str());
    return ErrnoError("cannot rename onto", path_, error);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents) {
  absl::StatusOr<AtomicFileWriter> writer = AtomicFileWriter::Create(path);
  if (!writer.ok()) return writer.status();
  if (absl::Status status = writer->Write(contents); !status.ok()) return status;
  return writer->Commit();
}

}  // namespace expsvc::fs
