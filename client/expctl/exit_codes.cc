#include "client/expctl/exit_codes.h"

#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace expsvc::expctl {
namespace {

constexpr absl::string_view kExitCodePayloadUrl = "type.expsvc.dev/expctl.ExitCode";

std::optional<int> TaggedExitCode(const absl::Status& status) {
  auto payload = status.GetPayload(kExitCodePayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  int code = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &code)) return std::nullopt;
  return code;
}

}  // namespace

absl::Status WithExitCode(absl::Status status, ExitCode exit_code) {
  if (status.ok()) return status;
  status.SetPayload(kExitCodePayloadUrl, absl::Cord(absl::StrCat(static_cast<int>(exit_code))));
  return status;
}

absl::Status UsageError(absl::string_view message) {
  return WithExitCode(absl::InvalidArgumentError(message), kExitUsage);
}

bool IsUsageError(const absl::Status& status) {
  return !status.ok() && TaggedExitCode(status) == kExitUsage;
}

ExitCode ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (std::optional<int> tagged = TaggedExitCode(status); tagged.has_value()) {
    return static_cast<ExitCode>(*tagged);
  }
  if (status.code() == absl::StatusCode::kUnavailable) return kExitUnavailable;
  return kExitFailed;
}

std::string StatusCodeName(absl::StatusCode code) {
  // absl spells the codes exactly as gRPC does ("INVALID_ARGUMENT").
  return absl::StatusCodeToString(code);
}

std::string DescribeFailure(const absl::Status& status) {
  if (IsUsageError(status)) return std::string(status.message());
  return absl::StrCat(StatusCodeName(status.code()), ": ", status.message());
}

}  // namespace expsvc::expctl
