#pragma once
// The worker's own folder under --scratch_dir, and the sweep that removes the
// folders of workers that died. Several workers may share one --scratch_dir
// (one machine, several processes), so a worker may delete only folders whose
// owner is gone: each worker holds an exclusive flock on <folder>/.lock for
// its whole life, and the kernel drops it when the process dies, even by
// SIGKILL. A starting worker removes every sibling worker-* folder whose lock
// file exists and whose lock it can take; a folder is locked before it gets
// that name, so a live worker's folder never looks free.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace expsvc::worker {

class ScratchRoot {
 public:
  // Creates <root>/worker-<pid>-<random>/, locks it, then removes the folders
  // of dead workers.
  static absl::StatusOr<std::unique_ptr<ScratchRoot>> Open(const std::string& root);
  ~ScratchRoot();
  ScratchRoot(const ScratchRoot&) = delete;
  ScratchRoot& operator=(const ScratchRoot&) = delete;

  // This worker's folder: job scratch folders go in here.
  const std::string& path() const { return path_; }
  // How many dead workers' folders Open removed.
  int removed_stale() const { return removed_stale_; }

 private:
  ScratchRoot(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}

  std::string path_;
  int lock_fd_;
  int removed_stale_ = 0;
};

}  // namespace expsvc::worker
