#pragma once
// Bearer tokens: random strings handed to people and workers once, stored
// only as SHA-256 hashes. Lookups are cached briefly so every RPC does not
// cost a database round trip; a revoked token stops working within the
// cache's lifetime.

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "server/storage/postgres_store.h"

namespace expsvc::scheduler {

// A new random token ("expsvc_" + 40 hex digits).
std::string GenerateToken();

class TokenAuthenticator {
 public:
  explicit TokenAuthenticator(storage::PostgresStore* store,
                              std::chrono::milliseconds cache_ttl = std::chrono::seconds(10))
      : store_(store), cache_ttl_(cache_ttl) {}

  // UNAUTHENTICATED for a missing, unknown or revoked token.
  absl::StatusOr<storage::Role> Authenticate(const std::string& token);

  // Creates a token for `role` and returns it (the only time it is seen).
  absl::StatusOr<std::string> CreateToken(const std::string& name, storage::Role role);

 private:
  struct CachedRole {
    storage::Role role;
    std::chrono::steady_clock::time_point expires;
  };
  storage::PostgresStore* store_;
  const std::chrono::milliseconds cache_ttl_;
  std::mutex mutex_;
  std::unordered_map<std::string, CachedRole> cache_;
};

}  // namespace expsvc::scheduler
