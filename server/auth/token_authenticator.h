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
#include "server/auth/job_token.h"
#include "server/auth/role.h"
#include "server/auth/token_store.h"

namespace expsvc::auth {

// A new random token ("expsvc_" + 40 hex digits).
std::string GenerateToken();

class TokenAuthenticator {
 public:
  explicit TokenAuthenticator(TokenStore* store, std::chrono::milliseconds cache_ttl = std::chrono::seconds(10))
      : store_(store), cache_ttl_(cache_ttl) {}

  // UNAUTHENTICATED for a missing, unknown or revoked token. A valid job
  // token authenticates as Role::kJob (JobScopeOf says which job).
  absl::StatusOr<Role> Authenticate(const std::string& token) ABSL_LOCKS_EXCLUDED(mu_);

  // The job and epoch a job token is for; UNAUTHENTICATED when it is not a
  // valid job token.
  absl::StatusOr<JobScope> JobScopeOf(const std::string& token) ABSL_LOCKS_EXCLUDED(key_mu_);
  // A token for this job's lease, handed to the job with the lease.
  absl::StatusOr<std::string> IssueJobToken(JobScope scope) ABSL_LOCKS_EXCLUDED(key_mu_);
  // Reads (or creates) the signing key now; the scheduler calls it at start so
  // that a database problem shows then, not in the middle of a lease.
  absl::Status LoadJobTokenKey() ABSL_LOCKS_EXCLUDED(key_mu_);

  // Creates a token for `role` and returns it (the only time it is seen).
  absl::StatusOr<std::string> CreateToken(const std::string& name, Role role);

 private:
  struct CachedRole {
    Role role;
    std::chrono::steady_clock::time_point expires;
  };
  absl::StatusOr<std::string> JobTokenKey() ABSL_LOCKS_EXCLUDED(key_mu_);

  TokenStore* store_;
  absl::Mutex key_mu_;
  std::string job_token_key_ ABSL_GUARDED_BY(key_mu_);
  const std::chrono::milliseconds cache_ttl_;
  absl::Mutex mu_;
  // Keyed by token hash.
  std::unordered_map<std::string, CachedRole> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace expsvc::auth
