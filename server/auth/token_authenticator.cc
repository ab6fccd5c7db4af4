#include "server/auth/token_authenticator.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace expsvc::auth {

std::string GenerateToken() {
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  unsigned char bytes[20];
  urandom.read(reinterpret_cast<char*>(bytes), sizeof(bytes));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token = "expsvc_";
  for (unsigned char byte : bytes) {
    token.push_back(kHex[byte >> 4]);
    token.push_back(kHex[byte & 0xF]);
  }
  return token;
}

absl::StatusOr<Role> TokenAuthenticator::Authenticate(const std::string& token) {
  if (token.empty()) {
    return absl::UnauthenticatedError("missing bearer token (send 'authorization: Bearer <token>')");
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

}  // namespace expsvc::auth
