#pragma once
// Diagnostic job kinds: `noop` and `sleep`, for testing the pipeline
// (expansion, dependencies, groups, retries, resumption) without a study.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/kinds/param_schema.h"
#include "nlohmann/json.hpp"

namespace expsvc::kinds {

struct NoopParams {
  std::optional<std::string> note;

  static const JobKindSpec& Spec();
  static absl::StatusOr<NoopParams> FromJson(const nlohmann::json& params);
};

struct SleepParams {
  double seconds = 1.0;
  int64_t steps = 10;
  int64_t fail_attempts = 0;
  int64_t fail_at_step = -1;
  int64_t checkpoint_every = 0;
  int64_t exit_code = 0;
  std::optional<std::string> note;

  static const JobKindSpec& Spec();
  static absl::StatusOr<SleepParams> FromJson(const nlohmann::json& params);
};

}  // namespace expsvc::kinds
