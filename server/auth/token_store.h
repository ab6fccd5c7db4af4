#pragma once
// Where token hashes are kept: PostgresStore (table auth_tokens) in the
// scheduler. An interface so that auth/ does not depend on storage/, which
// depends on auth/ for Role.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/auth/role.h"

namespace expsvc::auth {

class TokenStore {
 public:
  virtual ~TokenStore() = default;

  // Only hashes are stored; the token itself never is.
  virtual absl::Status CreateToken(const std::string& name, Role role, const std::string& token_hash) = 0;
  // The token's role; nullopt for an unknown or revoked token.
  virtual absl::StatusOr<std::optional<Role>> LookupToken(const std::string& token_hash) = 0;
  // The key that signs job tokens: the stored one, or `candidate` stored now
  // when there is none yet (so every replica ends up with the same key).
  virtual absl::StatusOr<std::string> JobTokenKey(const std::string& candidate) = 0;
};

}  // namespace expsvc::auth
