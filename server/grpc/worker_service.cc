#include "server/grpc/auth_context.h"
#include "server/grpc/services.h"

#include "common/status_macros.h"

namespace expsvc::server {
namespace {
constexpr std::initializer_list<Role> kWorkers = {Role::kWorker};
constexpr std::initializer_list<Role> kUsers = {Role::kUser};
constexpr std::initializer_list<Role> kWorkersAndJobs = {Role::kWorker, Role::kJob};
}  // namespace

grpc::Status WorkerServiceImpl::RegisterWorker(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                                               v1::RegisterWorkerResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kWorkers,
                        [&] { return AssignTo(deps_.scheduler->RegisterWorker(*request), response); });
}

grpc::Status WorkerServiceImpl::ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest* request,
                                            v1::ListWorkersResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers,
                        [&] { return AssignTo(deps_.scheduler->ListWorkers(*request), response); });
}

grpc::Status WorkerServiceImpl::LeaseJobs(grpc::ServerContext* context, const v1::LeaseJobsRequest* request,
                                          v1::LeaseJobsResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kWorkers, [&]() -> absl::Status {
    EXPSVC_RETURN_IF_ERROR(
        AssignTo(deps_.scheduler->LeaseJobs(*request, [context] { return context->IsCancelled(); }), response));
    // Each lease carries its job token; the key is loaded at start, so this
    // cannot fail in the middle of handing out leases.
    for (v1::LeasedJob& leased : *response->mutable_jobs()) {
      auto token = deps_.authenticator->IssueJobToken({.job_id = leased.job().id(), .epoch = leased.epoch()});
      if (token.ok()) leased.set_job_token(*std::move(token));
    }
    return absl::OkStatus();
  });
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kWorkers,
                        [&] { return AssignTo(deps_.scheduler->Heartbeat(*request), response); });
}

grpc::Status WorkerServiceImpl::ReportMetrics(grpc::ServerContext* context, const v1::ReportMetricsRequest* request,
                                              v1::ReportMetricsResponse* response) {
  return ToGrpcStatus([&]() -> absl::Status {
    EXPSVC_RETURN_IF_ERROR(AuthorizeLeaseWrite(*context, *deps_.authenticator, request->lease()));
    return AssignTo(deps_.scheduler->ReportMetrics(*request), response);
  }());
}

grpc::Status WorkerServiceImpl::AppendLogs(grpc::ServerContext* context, const v1::AppendLogsRequest* request,
                                           v1::AppendLogsResponse*) {
  return ToGrpcStatus([&]() -> absl::Status {
    EXPSVC_RETURN_IF_ERROR(AuthorizeLeaseWrite(*context, *deps_.authenticator, request->lease()));
    return deps_.scheduler->AppendLogs(*request);
  }());
}

grpc::Status WorkerServiceImpl::UploadArtifact(grpc::ServerContext* context,
                                               grpc::ServerReader<v1::UploadArtifactRequest>* reader,
                                               v1::UploadArtifactResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kWorkersAndJobs, [&]() -> absl::Status {
    v1::UploadArtifactRequest message;
    if (!reader->Read(&message) || !message.has_header()) {
      return absl::InvalidArgumentError("an artifact upload must start with its header");
    }
    const v1::ArtifactHeader header = message.header();
    EXPSVC_RETURN_IF_ERROR(AuthorizeLeaseWrite(*context, *deps_.authenticator, header.lease()));
    auto upload = deps_.scheduler->BeginArtifactUpload(header);
    if (!upload.ok()) return upload.status();
    while (reader->Read(&message)) {
      if (!message.has_chunk()) return absl::InvalidArgumentError("only data may follow an artifact header");
      if (absl::Status status = (*upload)->Append(message.chunk()); !status.ok()) return status;
    }
    if (context->IsCancelled()) return absl::CancelledError("upload cancelled by the client");
    return AssignTo(deps_.scheduler->FinishArtifactUpload(header, **upload), response->mutable_artifact());
  });
}

grpc::Status WorkerServiceImpl::CompleteJobs(grpc::ServerContext* context, const v1::CompleteJobsRequest* request,
                                             v1::CompleteJobsResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kWorkers,
                        [&] { return AssignTo(deps_.scheduler->CompleteJobs(*request), response); });
}

grpc::Status WorkerServiceImpl::FailJob(grpc::ServerContext* context, const v1::FailJobRequest* request,
                                        v1::FailJobResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kWorkers,
                        [&] { return AssignTo(deps_.scheduler->FailJob(*request), response); });
}

}  // namespace expsvc::server
