#include "worker/runtime/scratch_root.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace expsvc::worker {
namespace {

namespace fs = std::filesystem;

constexpr char kLockFile[] = ".lock";
constexpr char kWorkerFolderPrefix[] = "worker-";

// True when nobody holds the folder's lock (its worker is gone). A folder
// without a lock file is left alone: a worker folder always gets its lock
// before it is given its worker-* name, so that one is not ours to delete.
bool OwnerIsGone(const fs::path& folder) {
  const int fd = ::open((folder / kLockFile).c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  const bool taken = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);  // releases the lock we may have just taken
  return taken;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ScratchRoot>> ScratchRoot::Open(const std::string& root) {
  std::error_code error;
  fs::create_directories(root, error);
  if (error) return absl::FailedPreconditionError(absl::StrCat("cannot create scratch folder ", root, ": ", error.message()));
  std::random_device random;
  const std::string name = absl::StrCat(kWorkerFolderPrefix, ::getpid(), "-", absl::Hex(random() & 0xFFFFFF));
  // Created and locked under a name the sweep ignores, then renamed: no other
  // worker can ever see this folder named worker-* without its lock held.
  const fs::path staging = fs::path(root) / absl::StrCat(".creating-", name);
  const fs::path folder = fs::path(root) / name;
  fs::create_directories(staging, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create scratch folder ", staging.string(), ": ", error.message()));
  }
  const int fd = ::open((staging / kLockFile).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (fd >= 0) ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat("cannot lock scratch folder ", staging.string()));
  }
  fs::rename(staging, folder, error);
  if (error) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat("cannot name scratch folder ", folder.string(), ": ", error.message()));
  }
  std::unique_ptr<ScratchRoot> scratch(new ScratchRoot(folder.string(), fd));

  for (const fs::directory_entry& entry : fs::directory_iterator(root, error)) {
    const std::string name = entry.path().filename().string();
    if (entry.path() == folder || !entry.is_directory(error)) continue;
    if (!absl::StartsWith(name, kWorkerFolderPrefix) || !OwnerIsGone(entry.path())) continue;
    std::error_code ignored;
    fs::remove_all(entry.path(), ignored);
    if (!ignored) ++scratch->removed_stale_;
  }
  return scratch;
}

ScratchRoot::~ScratchRoot() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);  // removes .lock before the lock is dropped
  ::close(lock_fd_);
}

}  // namespace expsvc::worker
