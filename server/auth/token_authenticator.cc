#include "server/auth/token_authenticator.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "common/sha256.h"

namespace expsvc::auth {

namespace {

std::string RandomHex(int bytes_wanted) {
  std::string bytes(static_cast<size_t>(bytes_wanted), '\0');
  // A failing generator must not give a guessable token or signing key.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), bytes_wanted) != 1) {
    std::fprintf(stderr, "expsvc: the random number generator failed\n");
    std::abort();
  }
  return LowerHex(bytes);
}

}  // namespace

std::string GenerateToken() {
  return "expsvc_" + RandomHex(20);
}

absl::StatusOr<Role> TokenAuthenticator::Authenticate(const std::string& token) {
  if (token.empty()) {
    return absl::UnauthenticatedError("missing bearer token (send 'authorization: Bearer <token>')");
  }
  if (IsJobToken(token)) {
    auto scope = JobScopeOf(token);
    if (!scope.ok()) return scope.status();
    return Role::kJob;
  }
  const std::string hash = Sha256Hex(token);
  const auto now = std::chrono::steady_clock::now();
  {
    absl::MutexLock lock(&mu_);
    auto cached = cache_.find(hash);
    if (cached != cache_.end() && cached->second.expires > now) return cached->second.role;
  }
  // The lookup runs unlocked: other tokens' cache hits need not wait on it.
  auto role = store_->LookupToken(hash);
  if (!role.ok()) return role.status();
  if (!role->has_value()) return absl::UnauthenticatedError("unknown or revoked token");
  absl::MutexLock lock(&mu_);
  if (cache_.size() > 10000) cache_.clear();
  cache_[hash] = CachedRole{**role, now + cache_ttl_};
  return **role;
}

absl::StatusOr<std::string> TokenAuthenticator::CreateToken(const std::string& name, Role role) {
  std::string token = GenerateToken();
  if (absl::Status status = store_->CreateToken(name, role, Sha256Hex(token)); !status.ok()) return status;
  return token;
}

absl::StatusOr<std::string> TokenAuthenticator::JobTokenKey() {
  absl::MutexLock lock(&key_mu_);
  if (job_token_key_.empty()) {
    auto key = store_->JobTokenKey(RandomHex(32));
    if (!key.ok()) return key.status();
    if (key->empty()) return absl::InternalError("the stored job token key is empty");
    job_token_key_ = *std::move(key);
  }
  return job_token_key_;
}

absl::Status TokenAuthenticator::LoadJobTokenKey() {
  return JobTokenKey().status();
}

absl::StatusOr<JobScope> TokenAuthenticator::JobScopeOf(const std::string& token) {
  auto key = JobTokenKey();
  if (!key.ok()) return key.status();
  return VerifyJobToken(*key, token);
}

absl::StatusOr<std::string> TokenAuthenticator::IssueJobToken(JobScope scope) {
  auto key = JobTokenKey();
  if (!key.ok()) return key.status();
  return SignJobToken(*key, scope);
}

}  // namespace expsvc::auth
