#include "server/grpc/auth_context.h"
#include "server/grpc/services.h"

namespace expsvc::server {

grpc::Status MetricsServiceImpl::QueryMetrics(grpc::ServerContext* context, const v1::QueryMetricsRequest* request,
                                              v1::QueryMetricsResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, {Role::kUser},
                        [&] { return AssignTo(deps_.scheduler->QueryMetrics(*request), response); });
}

}  // namespace expsvc::server
