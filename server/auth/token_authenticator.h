#pragma once
// Bearer tokens: random strings handed to people and workers once, stored
// only as SHA-256 hashes. Lookups are cached briefly so every RPC does not
// cost a database round trip; a revoked token stops working within the
// cache's lifetime.

#include <chrono>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/auth/role.h"
#include "server/auth/token_store.h"

namespace expsvc::auth {

// A new random token ("expsvc_" + 40 hex digits).
std::string GenerateToken();

class TokenAuthenticator {
 public:
  explicit TokenAuthenticator(TokenStore* store, std::chrono::milliseconds cache_ttl = std::chrono::seconds(10))
      : store_(store), cache_ttl_(cache_ttl) {}

  // UNAUTHENTICATED for a missing, unknown or revoked token.
  absl::StatusOr<Role> Authenticate(const std::string& token) ABSL_LOCKS_EXCLUDED(mu_);

  // Creates a token for `role` and returns it (the only time it is seen).
  absl::StatusOr<std::string> CreateToken(const std::string& name, Role role);

 private:
  struct CachedRole {
    Role role;
    std::chrono::steady_clock::time_point expires;
  };
  TokenStore* store_;
  const std::chrono::milliseconds cache_ttl_;
  absl::Mutex mu_;
  // Keyed by token hash.
  std::unordered_map<std::string, CachedRole> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace expsvc::auth
