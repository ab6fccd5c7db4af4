#pragma once
// Who a bearer token speaks for. A worker token cannot submit; a user token
// cannot lease; admin can do everything (server/grpc/auth_context.* checks).
// A job token (job_token.h) speaks for one leased job: it may only write that
// job's metrics, logs and artifacts under that lease. Job tokens are never
// stored, so "job" is not a role `create-token` accepts.

#include <string_view>

#include "absl/status/statusor.h"

namespace expsvc::auth {

enum class Role { kAdmin, kUser, kWorker, kJob };

// "admin", "user" or "worker": the spelling stored in auth_tokens.role and
// accepted by `expsvc-scheduler create-token --role`.
std::string_view RoleName(Role role);
absl::StatusOr<Role> ParseRole(std::string_view name);

}  // namespace expsvc::auth
