#include "worker/runtime/leased_job_context.h"

#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/runtime/retry.h"

namespace expsvc::worker {
namespace {

namespace v1 = expsvc::v1;

// Artifact names are checked by the scheduler; be defensive about local file names anyway.
std::string LocalFileName(const v1::ArtifactRef& artifact) {
  std::string name = artifact.name();
  for (char& c : name) {
    if (c == '/' || c == '\\') c = '_';
  }
  if (name.empty() || name == "." || name == "..") name = "artifact";
  return absl::StrCat(artifact.id(), "-", name);
}

std::optional<v1::ArtifactRef> FindByName(const google::protobuf::RepeatedPtrField<v1::ArtifactRef>& artifacts,
                                          std::string_view name) {
  // The newest one wins if the scheduler lists several of the same name.
  std::optional<v1::ArtifactRef> found;
  for (const v1::ArtifactRef& artifact : artifacts) {
    if (artifact.name() == name && (!found.has_value() || artifact.id() > found->id())) found = artifact;
  }
  return found;
}

}  // namespace

LeasedJobContext::LeasedJobContext(SchedulerClient& client, v1::LeasedJob leased, nlohmann::json params,
                                   std::string scratch_dir, const std::atomic<bool>& worker_shutting_down)
    : client_(client),
      leased_(std::move(leased)),
      params_(std::move(params)),
      scratch_dir_(std::move(scratch_dir)),
      worker_shutting_down_(worker_shutting_down) {}

v1::JobLease LeasedJobContext::lease() const {
  v1::JobLease lease;
  lease.set_job_id(leased_.job().id());
  lease.set_epoch(leased_.epoch());
  return lease;
}

void LeasedJobContext::MarkLeaseLost() {
  lease_lost_.store(true);
  std::lock_guard lock(buffer_mu_);
  metrics_ = MetricBuffer();
  logs_ = LogBuffer();
}

absl::Status LeasedJobContext::LeaseLostError() const {
  return absl::FailedPreconditionError(
      absl::StrCat("the lease of job ", job_id(), " (epoch ", leased_.epoch(), ") is no longer held"));
}

absl::Status LeasedJobContext::Write(absl::string_view what, const std::function<absl::Status()>& call) {
  if (lease_lost()) return LeaseLostError();
  absl::Status status =
      RetryTransient(absl::StrCat("job ", job_id(), ": ", what), call, [this] { return lease_lost(); });
  if (status.code() == absl::StatusCode::kFailedPrecondition) {
    // The scheduler refuses writes under a stale epoch: the job is someone
    // else's now (or finished); stop writing for good.
    MarkLeaseLost();
    return status;
  }
  if (!status.ok() && lease_lost()) return LeaseLostError();
  return status;
}

void LeasedJobContext::ReportMetric(std::string_view key, int64_t step, double value) {
  if (lease_lost()) return;
  // The scheduler refuses a batch holding a bad key; drop just that point.
  if (key.empty() || key.size() > kMaxMetricKeyLength) {
    Log(absl::StrCat("[worker] dropped a metric point: key must be 1 to ", kMaxMetricKeyLength, " characters, got ",
                     key.size()));
    return;
  }
  std::lock_guard lock(buffer_mu_);
  metrics_.Add(key, step, value);
}

void LeasedJobContext::Log(std::string_view line) {
  if (lease_lost()) return;
  std::lock_guard lock(buffer_mu_);
  logs_.Add(line);
}

absl::Status LeasedJobContext::ReplaceMetricsAfter(int64_t step) {
  std::lock_guard send_lock(send_mu_);
  {
    std::lock_guard lock(buffer_mu_);
    metrics_.DropAfter(step);
  }
  v1::ReportMetricsRequest request;
  *request.mutable_lease() = lease();
  request.set_has_replace_after_step(true);
  request.set_replace_after_step(step);
  return Write("ReportMetrics(replace_after_step)", [&] { return client_.ReportMetrics(request); });
}

absl::Status LeasedJobContext::SendBufferedMetrics() {
  while (true) {
    v1::ReportMetricsRequest request;
    {
      std::lock_guard lock(buffer_mu_);
      if (metrics_.empty()) return absl::OkStatus();
      for (v1::MetricPoint& point : metrics_.Take(kMaxPointsPerBatch)) {
        *request.add_points() = std::move(point);
      }
    }
    *request.mutable_lease() = lease();
    // A batch refused for a reason other than the network is dropped: sending
    // it again would be refused again.
    EXPSVC_RETURN_IF_ERROR(Write("ReportMetrics", [&] { return client_.ReportMetrics(request); }));
  }
}

absl::Status LeasedJobContext::SendBufferedLogs() {
  while (true) {
    v1::AppendLogsRequest request;
    {
      std::lock_guard lock(buffer_mu_);
      if (logs_.empty()) return absl::OkStatus();
      for (std::string& line : logs_.Take(kMaxLinesPerBatch, kMaxLogBytesPerBatch)) {
        request.add_lines(std::move(line));
      }
    }
    *request.mutable_lease() = lease();
    EXPSVC_RETURN_IF_ERROR(Write("AppendLogs", [&] { return client_.AppendLogs(request); }));
  }
}

absl::Status LeasedJobContext::Flush() {
  std::lock_guard send_lock(send_mu_);
  if (lease_lost()) return LeaseLostError();
  absl::Status metrics_status = SendBufferedMetrics();
  absl::Status logs_status = SendBufferedLogs();
  return metrics_status.ok() ? logs_status : metrics_status;
}

absl::StatusOr<v1::ArtifactRef> LeasedJobContext::UploadArtifact(std::string_view name, const std::string& local_path) {
  // An artifact (a checkpoint above all) must never get ahead of the metrics
  // reported before it: a job resuming from it replaces only what came after.
  EXPSVC_RETURN_IF_ERROR(Flush());
  v1::ArtifactRef uploaded;
  const absl::string_view artifact_name(name.data(), name.size());
  EXPSVC_RETURN_IF_ERROR(Write(absl::StrCat("UploadArtifact('", artifact_name, "')"), [&]() -> absl::Status {
    EXPSVC_ASSIGN_OR_RETURN(uploaded, client_.UploadArtifact(lease(), artifact_name, local_path));
    return absl::OkStatus();
  }));
  return uploaded;
}

std::optional<v1::ArtifactRef> LeasedJobContext::FindOwnArtifact(std::string_view name) const {
  return FindByName(leased_.own_artifacts(), name);
}

std::optional<v1::ArtifactRef> LeasedJobContext::FindParentArtifact(std::string_view name) const {
  return FindByName(leased_.parent_artifacts(), name);
}

absl::StatusOr<std::string> LeasedJobContext::FetchArtifact(const v1::ArtifactRef& artifact) {
  std::lock_guard lock(fetch_mu_);
  if (auto it = fetched_.find(artifact.id()); it != fetched_.end()) return it->second;

  const std::filesystem::path folder = std::filesystem::path(scratch_dir_) / "fetched";
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create ", folder.string(), ": ", error.message()));
  }
  const std::string local_path = (folder / LocalFileName(artifact)).string();
  // Reading needs no lease, but there is no point waiting for the scheduler
  // once this attempt is over.
  EXPSVC_RETURN_IF_ERROR(RetryTransient(
      absl::StrCat("job ", job_id(), ": DownloadArtifact(", artifact.id(), ")"),
      [&] { return client_.DownloadArtifact(artifact, local_path); }, [this] { return lease_lost(); }));
  fetched_.emplace(artifact.id(), local_path);
  return local_path;
}

}  // namespace expsvc::worker
