#include "server/scheduler/artifact_store.h"

#include <unistd.h>
#include <atomic>

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace expsvc::scheduler {
namespace fs = std::filesystem;

absl::Status ValidateArtifactName(const std::string& name) {
  if (name.empty() || name.size() > 200 || name[0] == '.') {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid artifact name '", name, "': 1 to 200 characters, not starting with '.'"));
  }
  for (char c : name) {
    const bool allowed =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!allowed) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid artifact name '", name, "': only letters, digits, '.', '_' and '-' are allowed"));
    }
  }
  return absl::OkStatus();
}

ArtifactUpload::ArtifactUpload(std::string temp_path, std::string final_dir, std::string name, int64_t expected_size,
                               std::string expected_sha256)
    : temp_path_(std::move(temp_path)),
      final_dir_(std::move(final_dir)),
      name_(std::move(name)),
      expected_size_(expected_size),
      expected_sha256_(std::move(expected_sha256)) {}

ArtifactUpload::~ArtifactUpload() {
  if (!finished_) {
    out_.close();
    std::error_code ignored;
    fs::remove(temp_path_, ignored);
  }
}

absl::Status ArtifactUpload::Open() {
  out_.open(temp_path_, std::ios::binary | std::ios::trunc);
  if (!out_) return absl::InternalError(absl::StrCat("cannot create ", temp_path_));
  return absl::OkStatus();
}

absl::Status ArtifactUpload::Append(const std::string& chunk) {
  received_ += static_cast<int64_t>(chunk.size());
  if (received_ > expected_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact '", name_, "' is larger than the announced ", expected_size_, " bytes"));
  }
  hasher_.Update(chunk);
  out_.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  if (!out_) return absl::InternalError(absl::StrCat("writing ", temp_path_, " failed (disk full?)"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ArtifactUpload::Finish() {
  if (received_ != expected_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact '", name_, "' is truncated: received ", received_, " of ", expected_size_, " bytes"));
  }
  const std::string digest = hasher_.FinishHex();
  if (digest != expected_sha256_) {
    return absl::DataLossError(
        absl::StrCat("artifact '", name_, "' checksum mismatch: expected ", expected_sha256_, ", received ", digest));
  }
  out_.flush();
  out_.close();
  if (!out_) return absl::InternalError(absl::StrCat("closing ", temp_path_, " failed"));
  std::error_code error;
  fs::create_directories(final_dir_, error);
  const std::string final_path = absl::StrCat(final_dir_, "/", digest.substr(0, 16), "-", name_);
  landed_on_existing_file_ = fs::exists(final_path, error);
  fs::rename(temp_path_, final_path, error);
  if (error) return absl::InternalError(absl::StrCat("moving artifact into ", final_path, ": ", error.message()));
  finished_ = true;
  return final_path;
}

absl::Status ArtifactStore::Initialize() {
  std::error_code error;
  fs::create_directories(fs::path(root_) / "tmp", error);
  if (error) return absl::InternalError(absl::StrCat("cannot create artifact root ", root_, ": ", error.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ArtifactUpload>> ArtifactStore::BeginUpload(int64_t sweep_id, int64_t job_id,
                                                                           const std::string& name, int64_t size,
                                                                           const std::string& sha256) {
  if (absl::Status status = ValidateArtifactName(name); !status.ok()) return status;
  if (size < 0) return absl::InvalidArgumentError("artifact size must not be negative");
  if (sha256.size() != 64) return absl::InvalidArgumentError("artifact sha256 must be 64 hex digits");
  static std::atomic<uint64_t> sequence{0};
  const std::string temp_path =
      absl::StrCat(root_, "/tmp/upload-", job_id, "-", ::getpid(), "-", sequence.fetch_add(1), ".part");
  auto upload = std::make_unique<ArtifactUpload>(temp_path, absl::StrCat(root_, "/sweep-", sweep_id, "/job-", job_id),
                                                 name, size, sha256);
  if (absl::Status status = upload->Open(); !status.ok()) return status;
  return upload;
}

namespace {
bool UntouchedFor(const fs::path& path, std::chrono::seconds older_than) {
  std::error_code error;
  const auto modified = fs::last_write_time(path, error);
  return !error && fs::file_time_type::clock::now() - modified > older_than;
}
}  // namespace

int ArtifactStore::RemoveStaleUploads(std::chrono::seconds older_than) {
  int removed = 0;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(fs::path(root_) / "tmp", error)) {
    if (entry.path().extension() != ".part" || !UntouchedFor(entry.path(), older_than)) continue;
    std::error_code ignored;
    if (fs::remove(entry.path(), ignored)) ++removed;
  }
  return removed;
}

std::vector<std::string> ArtifactStore::StoredFilesOlderThan(std::chrono::seconds older_than) const {
  std::vector<std::string> files;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(root_, error); !error && it != fs::recursive_directory_iterator();
       it.increment(error)) {
    if (it.depth() == 0 && it->path().filename() == "tmp") {
      it.disable_recursion_pending();
      continue;
    }
    std::error_code ignored;
    if (it->is_regular_file(ignored) && UntouchedFor(it->path(), older_than)) files.push_back(it->path().string());
  }
  return files;
}

void ArtifactStore::Remove(const std::string& path) {
  if (path.empty() || path.rfind(root_, 0) != 0) return;
  std::error_code ignored;
  fs::remove(path, ignored);
}

}  // namespace expsvc::scheduler
