#pragma once
// Authentication and role checks for every RPC: a bearer token in the
// `authorization` metadata, looked up (hashed) in the database. A worker
// token cannot submit; a user token cannot lease; admin can do everything.

#include <initializer_list>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "expsvc/v1/workers.pb.h"
#include "server/auth/token_authenticator.h"
#include "server/grpc/status_conversion.h"

namespace expsvc::server {

using auth::Role;

// The token from "authorization: Bearer <token>", or "" when absent.
std::string BearerToken(const grpc::ServerContext& context);

absl::StatusOr<Role> Authorize(const grpc::ServerContext& context, auth::TokenAuthenticator& authenticator,
                               std::initializer_list<Role> allowed);

// For writes made under a lease (metrics, logs, artifacts): a worker token, or
// the job token of exactly this job and epoch (PERMISSION_DENIED for another).
absl::Status AuthorizeLeaseWrite(const grpc::ServerContext& context, auth::TokenAuthenticator& authenticator,
                                 const expsvc::v1::JobLease& lease);

// Authorizes, then runs `body` (returning absl::Status) and converts its status.
template <typename Body>
grpc::Status AuthorizedCall(const grpc::ServerContext* context, auth::TokenAuthenticator& authenticator,
                            std::initializer_list<Role> allowed, Body&& body) {
  auto role = Authorize(*context, authenticator, allowed);
  if (!role.ok()) return ToGrpcStatus(role.status());
  return ToGrpcStatus(body());
}

// Moves a successful result into the response message.
template <typename T, typename Response>
absl::Status AssignTo(absl::StatusOr<T> result, Response* response) {
  if (!result.ok()) return result.status();
  *response = std::move(*result);
  return absl::OkStatus();
}

}  // namespace expsvc::server
