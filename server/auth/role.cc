#include "server/auth/role.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace expsvc::auth {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kUser: return "user";
    case Role::kWorker: return "worker";
    case Role::kJob: return "job";
  }
  return "?";
}

absl::StatusOr<Role> ParseRole(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "user") return Role::kUser;
  if (name == "worker") return Role::kWorker;
  return absl::InvalidArgumentError(absl::StrCat("unknown role '", std::string(name), "' (admin, user or worker)"));
}

}  // namespace expsvc::auth
