#pragma once
// Artifact files under the artifact root. An upload streams into a temporary
// file while hashing; only a complete upload whose size and SHA-256 match
// its header is moved into place. Paths include the content hash, so a
// replacement never overwrites the file the database still points at.

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/sha256.h"

namespace expsvc::scheduler {

// Names are one path component: letters, digits, '.', '_', '-', not
// starting with '.', at most 200 characters.
absl::Status ValidateArtifactName(const std::string& name);

class ArtifactUpload {
 public:
  ArtifactUpload(std::string temp_path, std::string final_dir, std::string name, int64_t expected_size,
                 std::string expected_sha256);
  ~ArtifactUpload();  // removes the temporary file unless finished
  absl::Status Open();
  absl::Status Append(const std::string& chunk);
  // Verifies size and checksum and moves the file into place; returns its path.
  absl::StatusOr<std::string> Finish();
  // True when Finish() landed on a file that already existed (same content,
  // same name): that file may be recorded already and must not be removed.
  bool landed_on_existing_file() const { return landed_on_existing_file_; }

 private:
  const std::string temp_path_;
  const std::string final_dir_;
  const std::string name_;
  const int64_t expected_size_;
  const std::string expected_sha256_;
  std::ofstream out_;
  Sha256Hasher hasher_;
  int64_t received_ = 0;
  bool finished_ = false;
  bool landed_on_existing_file_ = false;
};

class ArtifactStore {
 public:
  // A trailing '/' is dropped, so stored paths and walked paths compare equal.
  explicit ArtifactStore(std::string root) : root_(StripTrailingSlashes(std::move(root))) {}
  absl::Status Initialize();  // creates the root and its tmp/ folder
  absl::StatusOr<std::unique_ptr<ArtifactUpload>> BeginUpload(int64_t sweep_id, int64_t job_id, const std::string& name,
                                                              int64_t size, const std::string& sha256);
  // Deletes a file this store wrote (a replaced artifact); missing is fine.
  void Remove(const std::string& path);
  // Removes tmp/*.part files untouched for `older_than` (uploads a crash
  // interrupted; a live upload writes all the time); returns how many.
  int RemoveStaleUploads(std::chrono::seconds older_than);
  // The stored files (outside tmp/) untouched for `older_than`: candidates
  // for the scheduler's check that every file has a record.
  std::vector<std::string> StoredFilesOlderThan(std::chrono::seconds older_than) const;
  const std::string& root() const { return root_; }

 private:
  static std::string StripTrailingSlashes(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
  }
  const std::string root_;
};

}  // namespace expsvc::scheduler
