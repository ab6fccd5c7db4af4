#include "server/grpc/auth_context.h"
#include "server/grpc/services.h"

namespace expsvc::server {
namespace {
constexpr std::initializer_list<Role> kUsers = {Role::kUser};
}  // namespace

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                      v1::ListJobsResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers,
                        [&] { return AssignTo(deps_.scheduler->ListJobs(*request), response); });
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                    v1::GetJobResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers,
                        [&] { return AssignTo(deps_.scheduler->GetJob(request->job_id()), response->mutable_job()); });
}

grpc::Status JobServiceImpl::CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                                       v1::CancelJobResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers,
                        [&] { return AssignTo(deps_.scheduler->CancelJob(*request), response); });
}

grpc::Status JobServiceImpl::RetryJob(grpc::ServerContext* context, const v1::RetryJobRequest* request,
                                      v1::RetryJobResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers,
                        [&] { return AssignTo(deps_.scheduler->RetryJob(*request), response); });
}

grpc::Status JobServiceImpl::GetJobLogs(grpc::ServerContext* context, const v1::GetJobLogsRequest* request,
                                        v1::GetJobLogsResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers,
                        [&] { return AssignTo(deps_.scheduler->GetJobLogs(*request), response); });
}

}  // namespace expsvc::server
