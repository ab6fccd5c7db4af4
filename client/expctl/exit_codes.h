#pragma once
// The exit codes scripts can rely on, and how a failed absl::Status maps to
// one. A status carries its exit code as a payload when the code alone
// cannot tell (a local INVALID_ARGUMENT is a usage error, exit 2; the
// server's INVALID_ARGUMENT is a refused operation, exit 1).

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace expsvc::expctl {

enum ExitCode : int {
  kExitOk = 0,
  // The operation failed or the server refused it.
  kExitFailed = 1,
  // Unknown command or flag, missing argument, unreadable input file.
  kExitUsage = 2,
  // The server could not be reached.
  kExitUnavailable = 3,
};

// Returns `status` tagged with `exit_code`; OK statuses are returned as is.
absl::Status WithExitCode(absl::Status status, ExitCode exit_code);

// INVALID_ARGUMENT tagged kExitUsage.
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

// kExitOk for OK; the tagged code when present; kExitUnavailable for
// UNAVAILABLE; kExitFailed otherwise.
ExitCode ExitCodeFor(const absl::Status& status);

// "NOT_FOUND", "INVALID_ARGUMENT", ...: the gRPC spelling of the code.
std::string StatusCodeName(absl::StatusCode code);

// The line printed to stderr for a failed command, without "expctl: ":
// usage errors are the bare message, others "CODE: message".
std::string DescribeFailure(const absl::Status& status);

}  // namespace expsvc::expctl
