#pragma once
// The schema of a job kind's parameters and the one validation every
// submitted job passes (unknown kind, unknown, missing or ill-typed
// parameter, out of range, not one of the choices). Kinds are defined in
// the per-study files beside this one (kind_definition.h says how).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace expsvc {

enum class ParamType { kInt, kDouble, kString, kBool, kIntList, kDoubleList, kStringList, kObject };

std::string_view ParamTypeName(ParamType type);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  bool required = false;
  // Used when the parameter is absent and not required; null means "absent".
  nlohmann::json default_value;
  std::optional<double> min;         // inclusive, numeric types only
  std::optional<double> max;         // inclusive
  std::vector<std::string> choices;  // allowed values of a string parameter, in display order
  std::string help;
};

struct JobKindSpec {
  std::string name;
  std::string description;
  std::vector<ParamSpec> params;
  // Diagnostic kinds take any other parameter as a label (sweeps over
  // labels exercise expansion, dependencies and groups); study kinds do not.
  bool accepts_extra_params = false;

  // nullptr when the kind has no such parameter.
  const ParamSpec* FindParam(std::string_view param_name) const;
};

// Checks params (a JSON object) against the kind's schema and returns them
// with defaults filled in. Errors name the parameter: "parameter 'seconds'
// of kind 'sleep': expected a number, got \"abc\"". Integers are accepted
// where doubles are expected.
absl::StatusOr<nlohmann::json> ValidateJobParams(const JobKindSpec& kind, const nlohmann::json& params);

}  // namespace expsvc
