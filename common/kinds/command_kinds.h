#pragma once
// The `command` job kind: a researcher's own program run as a job (the
// worker side is worker/command/). Only workers started with
// --allow_command_jobs advertise it.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kinds/param_schema.h"
#include "nlohmann/json.hpp"

namespace expsvc::kinds {

struct CommandParams {
  std::vector<std::string> command;
  double grace_seconds = 10.0;

  static const JobKindSpec& Spec();
  static absl::StatusOr<CommandParams> FromJson(const nlohmann::json& params);
};

}  // namespace expsvc::kinds
