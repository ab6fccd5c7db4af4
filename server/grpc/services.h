#pragma once
// Thin gRPC adapters: authorize, call the Scheduler, convert the status.
// Each service's methods live in the .cc file named after it.

#include "expsvc/v1/artifacts.grpc.pb.h"
#include "expsvc/v1/jobs.grpc.pb.h"
#include "expsvc/v1/metrics.grpc.pb.h"
#include "expsvc/v1/ratings.grpc.pb.h"
#include "expsvc/v1/sweeps.grpc.pb.h"
#include "expsvc/v1/workers.grpc.pb.h"
#include "server/auth/token_authenticator.h"
#include "server/scheduler/scheduler.h"

namespace expsvc::server {

namespace v1 = expsvc::v1;

// What every adapter needs.
struct ServiceDeps {
  scheduler::Scheduler* scheduler;
  auth::TokenAuthenticator* authenticator;
};

class SweepServiceImpl final : public v1::SweepService::Service {
 public:
  explicit SweepServiceImpl(ServiceDeps deps) : deps_(deps) {}
  grpc::Status SubmitSweep(grpc::ServerContext*, const v1::SubmitSweepRequest*, v1::SubmitSweepResponse*) override;
  grpc::Status GetSweep(grpc::ServerContext*, const v1::GetSweepRequest*, v1::GetSweepResponse*) override;
  grpc::Status ListSweeps(grpc::ServerContext*, const v1::ListSweepsRequest*, v1::ListSweepsResponse*) override;
  grpc::Status CancelSweep(grpc::ServerContext*, const v1::CancelSweepRequest*, v1::CancelSweepResponse*) override;
  grpc::Status WatchSweep(grpc::ServerContext*, const v1::WatchSweepRequest*,
                          grpc::ServerWriter<v1::WatchSweepResponse>*) override;

 private:
  ServiceDeps deps_;
};

class JobServiceImpl final : public v1::JobService::Service {
 public:
  explicit JobServiceImpl(ServiceDeps deps) : deps_(deps) {}
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*, v1::ListJobsResponse*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*, v1::GetJobResponse*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::CancelJobResponse*) override;
  grpc::Status RetryJob(grpc::ServerContext*, const v1::RetryJobRequest*, v1::RetryJobResponse*) override;
  grpc::Status GetJobLogs(grpc::ServerContext*, const v1::GetJobLogsRequest*, v1::GetJobLogsResponse*) override;

 private:
  ServiceDeps deps_;
};

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  explicit WorkerServiceImpl(ServiceDeps deps) : deps_(deps) {}
  grpc::Status RegisterWorker(grpc::ServerContext*, const v1::RegisterWorkerRequest*,
                              v1::RegisterWorkerResponse*) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*, v1::ListWorkersResponse*) override;
  grpc::Status LeaseJobs(grpc::ServerContext*, const v1::LeaseJobsRequest*, v1::LeaseJobsResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*, v1::HeartbeatResponse*) override;
  grpc::Status ReportMetrics(grpc::ServerContext*, const v1::ReportMetricsRequest*,
                             v1::ReportMetricsResponse*) override;
  grpc::Status AppendLogs(grpc::ServerContext*, const v1::AppendLogsRequest*, v1::AppendLogsResponse*) override;
  grpc::Status UploadArtifact(grpc::ServerContext*, grpc::ServerReader<v1::UploadArtifactRequest>*,
                              v1::UploadArtifactResponse*) override;
  grpc::Status CompleteJobs(grpc::ServerContext*, const v1::CompleteJobsRequest*, v1::CompleteJobsResponse*) override;
  grpc::Status FailJob(grpc::ServerContext*, const v1::FailJobRequest*, v1::FailJobResponse*) override;

 private:
  ServiceDeps deps_;
};

class MetricsServiceImpl final : public v1::MetricsService::Service {
 public:
  explicit MetricsServiceImpl(ServiceDeps deps) : deps_(deps) {}
  grpc::Status QueryMetrics(grpc::ServerContext*, const v1::QueryMetricsRequest*, v1::QueryMetricsResponse*) override;

 private:
  ServiceDeps deps_;
};

class ArtifactServiceImpl final : public v1::ArtifactService::Service {
 public:
  explicit ArtifactServiceImpl(ServiceDeps deps) : deps_(deps) {}
  grpc::Status ListArtifacts(grpc::ServerContext*, const v1::ListArtifactsRequest*,
                             v1::ListArtifactsResponse*) override;
  grpc::Status DownloadArtifact(grpc::ServerContext*, const v1::DownloadArtifactRequest*,
                                grpc::ServerWriter<v1::DownloadArtifactResponse>*) override;

 private:
  ServiceDeps deps_;
};

class RatingServiceImpl final : public v1::RatingService::Service {
 public:
  explicit RatingServiceImpl(ServiceDeps deps) : deps_(deps) {}
  grpc::Status SubmitRating(grpc::ServerContext*, const v1::SubmitRatingRequest*, v1::SubmitRatingResponse*) override;
  grpc::Status ListRatings(grpc::ServerContext*, const v1::ListRatingsRequest*, v1::ListRatingsResponse*) override;

 private:
  ServiceDeps deps_;
};

}  // namespace expsvc::server
