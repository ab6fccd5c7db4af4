#pragma once
// What a running job sees of the system. The worker runtime implements it on
// top of the gRPC WorkerService; job kinds only talk to this interface, so a
// job kind never knows about leases, epochs or batching.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "expsvc/v1/workers.pb.h"
#include "nlohmann/json.hpp"

namespace expsvc::worker {

class JobContext {
 public:
  virtual ~JobContext() = default;

  virtual int64_t job_id() const = 0;
  // 1 on the first lease, 2 on the first retry, ...
  virtual int32_t attempt() const = 0;
  // The job's parameters, validated and with defaults filled in.
  virtual const nlohmann::json& params() const = 0;
  virtual const expsvc::v1::LeasedJob& leased_job() const = 0;

  // True once the job was cancelled, its lease was lost, or the worker is
  // shutting down. Long jobs poll it and return early:
  //  - return absl::CancelledError when cancelled (nothing more is reported);
  //  - return absl::AbortedError when shutting_down(): the lease is released
  //    and the job is requeued without spending an attempt (it resumes from
  //    its last checkpoint artifact on the next lease).
  virtual bool should_stop() const = 0;
  virtual bool shutting_down() const = 0;

  // Buffered and sent in batches; idempotent per (key, step).
  virtual void ReportMetric(std::string_view key, int64_t step, double value) = 0;
  // Deletes this job's points with step > `step` (call once after resuming
  // from a checkpoint taken at `step`, before reporting new points).
  virtual absl::Status ReplaceMetricsAfter(int64_t step) = 0;
  // Buffered and sent in batches.
  virtual void Log(std::string_view line) = 0;
  // Sends buffered metrics and logs now.
  virtual absl::Status Flush() = 0;

  // Streams a local file to the scheduler under `name` (replacing an earlier
  // artifact of the same name of this job). Buffered metrics and logs are
  // flushed first, so a checkpoint never gets ahead of the points before it.
  virtual absl::StatusOr<expsvc::v1::ArtifactRef> UploadArtifact(std::string_view name,
                                                                 const std::string& local_path) = 0;
  // An artifact this job stored in an earlier attempt, if any.
  virtual std::optional<expsvc::v1::ArtifactRef> FindOwnArtifact(std::string_view name) const = 0;
  // An artifact of a parent job (dependency), by name; nullopt if none.
  virtual std::optional<expsvc::v1::ArtifactRef> FindParentArtifact(std::string_view name) const = 0;
  // Downloads an artifact into scratch_dir() and returns the local path;
  // the checksum is verified.
  virtual absl::StatusOr<std::string> FetchArtifact(const expsvc::v1::ArtifactRef& artifact) = 0;

  // A private folder for this attempt, removed after the job ends.
  virtual const std::string& scratch_dir() const = 0;

  // CUDA device indices the worker gave this job (as many as it asked for),
  // not shared with another running job.
  virtual std::vector<int> assigned_gpus() const { return {}; }
};

}  // namespace expsvc::worker
