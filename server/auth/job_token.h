#pragma once
// Job tokens: what a `command` job's own program authenticates with instead
// of the worker's token. A job token names one job and one lease epoch and is
// signed (HMAC-SHA256) with a key shared by every scheduler replica (table
// job_token_key), so checking one costs no database round trip. It grants only
// the writes a job makes about itself (metrics, logs, artifacts), and only for
// its own lease: once the lease is gone the scheduler's epoch check refuses it
// like any stale write.
//
//   expsvcjob_<job id>_<epoch>_<64 hex digits of HMAC-SHA256("<job id>.<epoch>")>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace expsvc::auth {

struct JobScope {
  int64_t job_id = 0;
  int64_t epoch = 0;
};

inline constexpr std::string_view kJobTokenPrefix = "expsvcjob_";

bool IsJobToken(std::string_view token);
std::string SignJobToken(std::string_view key, JobScope scope);
// UNAUTHENTICATED for a malformed token or a wrong signature.
absl::StatusOr<JobScope> VerifyJobToken(std::string_view key, std::string_view token);

}  // namespace expsvc::auth
