#pragma once
// JobContext for one leased attempt of a job, on top of SchedulerClient.
//
// Metrics and log lines are buffered; Flush() (called by the worker's
// flusher every metric_flush_ms, by the job, and once at the end) sends them
// in batches. Every write carries the lease (job id + epoch). The lease can
// end under the job's feet: a heartbeat says "cancelled" or "lost", or a
// write is refused with FAILED_PRECONDITION (stale epoch). After "lost" or a
// stale epoch nothing more is sent for this lease.

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "worker/runtime/job_context.h"
#include "worker/runtime/log_buffer.h"
#include "worker/runtime/metric_buffer.h"
#include "worker/runtime/scheduler_client.h"

namespace expsvc::worker {

class LeasedJobContext final : public JobContext {
 public:
  static constexpr size_t kMaxPointsPerBatch = 1000;
  // The scheduler refuses longer metric keys.
  static constexpr size_t kMaxMetricKeyLength = 200;
  static constexpr size_t kMaxLinesPerBatch = 1000;
  static constexpr size_t kMaxLogBytesPerBatch = 1 << 20;

  // `client` and `worker_shutting_down` outlive the context.
  LeasedJobContext(SchedulerClient& client, expsvc::v1::LeasedJob leased, nlohmann::json params,
                   std::string scratch_dir, const std::atomic<bool>& worker_shutting_down);

  // JobContext.
  int64_t job_id() const override { return leased_.job().id(); }
  int32_t attempt() const override { return leased_.job().attempt(); }
  const nlohmann::json& params() const override { return params_; }
  const expsvc::v1::LeasedJob& leased_job() const override { return leased_; }
  bool should_stop() const override { return cancelled() || lease_lost() || shutting_down(); }
  bool shutting_down() const override { return worker_shutting_down_.load(); }
  void ReportMetric(std::string_view key, int64_t step, double value) override;
  absl::Status ReplaceMetricsAfter(int64_t step) override;
  void Log(std::string_view line) override;
  absl::Status Flush() override;
  absl::StatusOr<expsvc::v1::ArtifactRef> UploadArtifact(std::string_view name, const std::string& local_path) override;
  std::optional<expsvc::v1::ArtifactRef> FindOwnArtifact(std::string_view name) const override;
  std::optional<expsvc::v1::ArtifactRef> FindParentArtifact(std::string_view name) const override;
  absl::StatusOr<std::string> FetchArtifact(const expsvc::v1::ArtifactRef& artifact) override;
  const std::string& scratch_dir() const override { return scratch_dir_; }
  std::vector<int> assigned_gpus() const override { return assigned_gpus_; }

  // The worker's side.
  expsvc::v1::JobLease lease() const;
  // Set once, before the job's thread starts.
  void AssignGpus(std::vector<int> gpus) { assigned_gpus_ = std::move(gpus); }
  // The scheduler cancelled the job: should_stop() turns true; writes go on
  // (the final flush) until the scheduler refuses them.
  void MarkCancelled() { cancelled_.store(true); }
  // The lease is gone (heartbeat said "lost", a write met a stale epoch, or
  // the worker released it): should_stop() turns true, buffered data is
  // dropped and every later write fails with FAILED_PRECONDITION at once.
  void MarkLeaseLost();
  bool cancelled() const { return cancelled_.load(); }
  bool lease_lost() const { return lease_lost_.load(); }

 private:
  // Retries transient errors until the lease is lost; a stale epoch marks the
  // lease lost. Returns the call's final status.
  absl::Status Write(absl::string_view what, const std::function<absl::Status()>& call);
  absl::Status LeaseLostError() const;
  absl::Status SendBufferedMetrics();  // send_mu_ held
  absl::Status SendBufferedLogs();     // send_mu_ held

  SchedulerClient& client_;
  const expsvc::v1::LeasedJob leased_;
  const nlohmann::json params_;
  const std::string scratch_dir_;
  const std::atomic<bool>& worker_shutting_down_;
  std::vector<int> assigned_gpus_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> lease_lost_{false};

  // Held while sending, so batches of one job reach the scheduler in the
  // order they were taken (a replace never overtakes earlier points).
  std::mutex send_mu_;
  // Held only to touch the buffers (taken after send_mu_ when both are held):
  // ReportMetric/Log never wait for the network.
  mutable std::mutex buffer_mu_;
  MetricBuffer metrics_;
  LogBuffer logs_;

  // Guards fetched_.
  std::mutex fetch_mu_;
  // Artifact id -> local path of artifacts already fetched in this attempt.
  std::map<int64_t, std::string> fetched_;
};

}  // namespace expsvc::worker
