#pragma once
// `{name}` in a command's arguments stands for the job's parameter `name`
// (a letter or '_', then letters, digits, '_', '-', '.'): strings as they are,
// numbers and booleans as JSON writes them, lists and objects as compact JSON.
// A name the job has no parameter for is an error (a typo must not run).
// Other braces, as in JSON or `{"step": 1}`, are kept; `{{` and `}}` are
// literal braces, for text such as shell's ${HOME} (write ${{HOME}}).

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace expsvc::worker {

// The text of one parameter value as a placeholder is replaced by it.
std::string ParamText(const nlohmann::json& value);

// INVALID_ARGUMENT names the unknown parameter.
absl::StatusOr<std::string> SubstitutePlaceholders(std::string_view argument, const nlohmann::json& params);

}  // namespace expsvc::worker
