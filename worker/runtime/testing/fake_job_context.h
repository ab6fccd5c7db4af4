#pragma once
// An in-memory JobContext for testing job kinds without a scheduler: it
// records metrics, logs and uploaded artifacts (copied into a folder), and
// can be seeded with the artifacts of an "earlier attempt" to test resuming.

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "worker/runtime/job_context.h"

namespace expsvc::worker::testing {

class FakeJobContext : public JobContext {
 public:
  FakeJobContext(nlohmann::json params, std::string directory, int32_t attempt = 1)
      : params_(std::move(params)), directory_(std::move(directory)), attempt_(attempt) {
    scratch_ = absl::StrCat(directory_, "/scratch-", attempt_);
    std::filesystem::create_directories(scratch_);
    std::filesystem::create_directories(absl::StrCat(directory_, "/artifacts"));
    leased_.mutable_job()->set_id(1);
    leased_.mutable_job()->set_attempt(attempt_);
    leased_.set_job_token("expsvcjob_1_1_fake");
  }

  int64_t job_id() const override { return 1; }
  int32_t attempt() const override { return attempt_; }
  const nlohmann::json& params() const override { return params_; }
  const expsvc::v1::LeasedJob& leased_job() const override { return leased_; }
  bool should_stop() const override { return stop_requested_ || shutting_down(); }
  // Reaching StopAfterMetrics counts as a shutdown: the job saves a resume point.
  bool shutting_down() const override {
    return shutdown_requested_ || (stop_after_metrics_ > 0 && metric_count_ >= stop_after_metrics_);
  }

  void ReportMetric(std::string_view key, int64_t step, double value) override {
    std::lock_guard lock(mutex_);
    metrics_[std::string(key)][step] = value;
    ++metric_count_;
  }
  absl::Status ReplaceMetricsAfter(int64_t step) override {
    std::lock_guard lock(mutex_);
    for (auto& [key, series] : metrics_) series.erase(series.upper_bound(step), series.end());
    replaced_after_.push_back(step);
    return absl::OkStatus();
  }
  void Log(std::string_view line) override {
    std::lock_guard lock(mutex_);
    logs_.emplace_back(line);
  }
  absl::Status Flush() override { return absl::OkStatus(); }

  absl::StatusOr<expsvc::v1::ArtifactRef> UploadArtifact(std::string_view name,
                                                         const std::string& local_path) override {
    const std::string stored = absl::StrCat(directory_, "/artifacts/", std::string(name));
    std::error_code error;
    std::filesystem::copy_file(local_path, stored, std::filesystem::copy_options::overwrite_existing, error);
    if (error) return absl::InternalError(absl::StrCat("copy ", local_path, ": ", error.message()));
    expsvc::v1::ArtifactRef ref;
    ref.set_id(static_cast<int64_t>(++uploads_));
    ref.set_name(std::string(name));
    ref.set_size_bytes(static_cast<int64_t>(std::filesystem::file_size(stored)));
    if (auto sha = Sha256HexOfFile(stored); sha.ok()) ref.set_sha256(*sha);
    std::lock_guard lock(mutex_);
    uploaded_[std::string(name)] = ref;
    return ref;
  }
  std::optional<expsvc::v1::ArtifactRef> FindOwnArtifact(std::string_view name) const override {
    auto found = earlier_.find(std::string(name));
    if (found == earlier_.end()) return std::nullopt;
    return found->second;
  }
  std::optional<expsvc::v1::ArtifactRef> FindParentArtifact(std::string_view name) const override {
    auto found = parents_.find(std::string(name));
    if (found == parents_.end()) return std::nullopt;
    return found->second;
  }
  absl::StatusOr<std::string> FetchArtifact(const expsvc::v1::ArtifactRef& artifact) override {
    if (auto parent = parent_paths_.find(artifact.name()); parent != parent_paths_.end()) return parent->second;
    const std::string path = absl::StrCat(directory_, "/artifacts/", artifact.name());
    if (!std::filesystem::exists(path)) return absl::NotFoundError(absl::StrCat("no artifact ", artifact.name()));
    return path;
  }
  std::vector<int> assigned_gpus() const override { return assigned_gpus_; }
  void set_assigned_gpus(std::vector<int> gpus) { assigned_gpus_ = std::move(gpus); }
  const std::string& scratch_dir() const override { return scratch_; }

  // Makes every artifact uploaded so far visible as "from an earlier attempt".
  void PromoteUploadsToEarlierAttempt(const FakeJobContext& earlier) {
    earlier_ = earlier.uploaded_;
    leased_.clear_own_artifacts();
    for (const auto& [name, artifact] : earlier_) *leased_.add_own_artifacts() = artifact;
  }
  void AddParentArtifact(const expsvc::v1::ArtifactRef& artifact) {
    parents_[artifact.name()] = artifact;
    *leased_.add_parent_artifacts() = artifact;
  }
  // A parent's artifact together with the file another fake context stored.
  void AddParentArtifactFrom(const FakeJobContext& parent, const std::string& name) {
    const expsvc::v1::ArtifactRef& artifact = parent.uploaded().at(name);
    parents_[name] = artifact;
    *leased_.add_parent_artifacts() = artifact;
    parent_paths_[name] = absl::StrCat(parent.directory_, "/artifacts/", name);
  }
  // To set what a lease would carry (job token, epoch, resources).
  expsvc::v1::LeasedJob& mutable_leased_job() { return leased_; }
  // should_stop() turns true once this many metric points were reported.
  void StopAfterMetrics(int64_t count) { stop_after_metrics_ = count; }
  // A cancel (should_stop) and a worker drain (shutting_down), as the runtime signals them.
  void RequestStop() { stop_requested_ = true; }
  void RequestShutdown() { shutdown_requested_ = true; }
  // Uploads so far, counting each replacement of a name.
  int64_t upload_count() const { return uploads_; }
  // Where an uploaded artifact's bytes are kept.
  std::string artifact_path(std::string_view name) const {
    return absl::StrCat(directory_, "/artifacts/", std::string(name));
  }

  const std::map<std::string, std::map<int64_t, double>>& metrics() const { return metrics_; }
  const std::vector<std::string>& logs() const { return logs_; }
  const std::map<std::string, expsvc::v1::ArtifactRef>& uploaded() const { return uploaded_; }
  const std::vector<int64_t>& replaced_after() const { return replaced_after_; }

 private:
  std::vector<int> assigned_gpus_;
  nlohmann::json params_;
  std::string directory_;
  std::string scratch_;
  int32_t attempt_;
  expsvc::v1::LeasedJob leased_;
  mutable std::mutex mutex_;
  std::map<std::string, std::map<int64_t, double>> metrics_;
  std::vector<std::string> logs_;
  std::map<std::string, expsvc::v1::ArtifactRef> uploaded_, earlier_, parents_;
  std::map<std::string, std::string> parent_paths_;
  std::vector<int64_t> replaced_after_;
  int64_t uploads_ = 0;
  int64_t metric_count_ = 0;
  int64_t stop_after_metrics_ = 0;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> shutdown_requested_{false};
};

}  // namespace expsvc::worker::testing
