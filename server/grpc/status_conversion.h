#pragma once
// The one place absl status codes become gRPC status codes.

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace expsvc::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace expsvc::server
