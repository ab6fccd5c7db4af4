#pragma once
// The worker's side of the gRPC API: one method per RPC it uses, each a
// single attempt (retrying is the caller's choice, see retry.h) with a
// deadline and the `authorization: Bearer <token>` metadata. gRPC errors come
// back as absl::Status with the same code. Thread-safe.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "expsvc/v1/artifacts.grpc.pb.h"
#include "expsvc/v1/workers.grpc.pb.h"
#include "grpcpp/channel.h"

namespace expsvc::worker {

class SchedulerClient {
 public:
  // Artifacts travel in chunks of this size.
  static constexpr size_t kChunkBytes = 1 << 20;
  // Deadline of a unary call (LeaseJobs adds its long-poll wait to it).
  static constexpr absl::Duration kCallTimeout = absl::Seconds(30);

  // Insecure channel, or TLS checked against the CA file when one is given.
  static absl::StatusOr<std::unique_ptr<SchedulerClient>> Connect(const std::string& address, std::string token,
                                                                  const std::optional<std::string>& tls_ca_file);

  SchedulerClient(std::shared_ptr<grpc::Channel> channel, std::string token);

  absl::StatusOr<expsvc::v1::RegisterWorkerResponse> RegisterWorker(const expsvc::v1::RegisterWorkerRequest& request);
  absl::StatusOr<expsvc::v1::LeaseJobsResponse> LeaseJobs(const expsvc::v1::LeaseJobsRequest& request);
  absl::StatusOr<expsvc::v1::HeartbeatResponse> Heartbeat(const expsvc::v1::HeartbeatRequest& request);
  absl::Status ReportMetrics(const expsvc::v1::ReportMetricsRequest& request);
  absl::Status AppendLogs(const expsvc::v1::AppendLogsRequest& request);
  absl::StatusOr<expsvc::v1::CompleteJobsResponse> CompleteJobs(const expsvc::v1::CompleteJobsRequest& request);
  absl::StatusOr<expsvc::v1::FailJobResponse> FailJob(const expsvc::v1::FailJobRequest& request,
                                                      absl::Duration timeout = kCallTimeout);

  // Streams a local file: a header (lease, name, size, sha256), then chunks.
  absl::StatusOr<expsvc::v1::ArtifactRef> UploadArtifact(const expsvc::v1::JobLease& lease, absl::string_view name,
                                                         const std::string& local_path);
  // Writes the artifact to `local_path` (through a temporary file, renamed
  // when complete) after checking its size and sha256 against the metadata
  // the stream starts with and against `artifact`.
  absl::Status DownloadArtifact(const expsvc::v1::ArtifactRef& artifact, const std::string& local_path);

 private:
  void Prepare(grpc::ClientContext& context, absl::Duration timeout) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::string authorization_;
  std::unique_ptr<expsvc::v1::WorkerService::Stub> workers_;
  std::unique_ptr<expsvc::v1::ArtifactService::Stub> artifacts_;
};

}  // namespace expsvc::worker
