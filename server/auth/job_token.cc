#include "server/auth/job_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/hex.h"

namespace expsvc::auth {
namespace {

std::string MacHex(std::string_view key, JobScope scope) {
  const std::string message = absl::StrCat(scope.job_id, ".", scope.epoch);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &length);
  return LowerHex(std::string_view(reinterpret_cast<const char*>(mac), length));
}

}  // namespace

bool IsJobToken(std::string_view token) {
  return token.substr(0, kJobTokenPrefix.size()) == kJobTokenPrefix;
}

std::string SignJobToken(std::string_view key, JobScope scope) {
  return absl::StrCat(std::string(kJobTokenPrefix), scope.job_id, "_", scope.epoch, "_", MacHex(key, scope));
}

absl::StatusOr<JobScope> VerifyJobToken(std::string_view key, std::string_view token) {
  if (!IsJobToken(token)) return absl::UnauthenticatedError("not a job token");
  const std::string body(token.substr(kJobTokenPrefix.size()));
  std::vector<std::string> parts = absl::StrSplit(body, '_');
  JobScope scope;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &scope.job_id) || !absl::SimpleAtoi(parts[1], &scope.epoch) ||
      scope.job_id <= 0 || scope.epoch < 0) {
    return absl::UnauthenticatedError("malformed job token");
  }
  const std::string expected = MacHex(key, scope);
  if (parts[2].size() != expected.size() || CRYPTO_memcmp(parts[2].data(), expected.data(), expected.size()) != 0) {
    return absl::UnauthenticatedError("job token with a wrong signature");
  }
  return scope;
}

}  // namespace expsvc::auth
