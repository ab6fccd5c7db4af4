#include "server/grpc/auth_context.h"

#include "absl/strings/str_cat.h"

namespace expsvc::server {

std::string BearerToken(const grpc::ServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto found = metadata.find("authorization");
  if (found == metadata.end()) return "";
  std::string value(found->second.data(), found->second.size());
  constexpr std::string_view kPrefix = "Bearer ";
  if (value.rfind(kPrefix, 0) == 0) return value.substr(kPrefix.size());
  return "";
}

absl::StatusOr<Role> Authorize(const grpc::ServerContext& context, auth::TokenAuthenticator& authenticator,
                               std::initializer_list<Role> allowed) {
  auto role = authenticator.Authenticate(BearerToken(context));
  if (!role.ok()) return role.status();
  if (*role == Role::kAdmin) return role;
  for (Role candidate : allowed) {
    if (candidate == *role) return role;
  }
  return absl::PermissionDeniedError(
      absl::StrCat("a ", std::string(auth::RoleName(*role)), " token may not make this call"));
}

absl::Status AuthorizeLeaseWrite(const grpc::ServerContext& context, auth::TokenAuthenticator& authenticator,
                                 const expsvc::v1::JobLease& lease) {
  const std::string token = BearerToken(context);
  if (!auth::IsJobToken(token)) return Authorize(context, authenticator, {Role::kWorker}).status();
  auto scope = authenticator.JobScopeOf(token);
  if (!scope.ok()) return scope.status();
  if (scope->job_id != lease.job_id() || scope->epoch != lease.epoch()) {
    return absl::PermissionDeniedError(absl::StrCat("this job token is for job ", scope->job_id, " (lease epoch ",
                                                    scope->epoch, "), not job ", lease.job_id(), " (lease epoch ",
                                                    lease.epoch(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace expsvc::server
