#pragma once
// Job parameters on the command line and on screen: `--param k=v` filters
// become the JSON object the server matches with containment, and a job's
// params_json becomes a compact "k=v k=v" cell.

#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace expsvc::expctl {

// The value of one `k=v`: a JSON literal when it reads as one (42, 0.1,
// 1e-3, true, false, null, "quoted", [1,2], {...}), else the raw text as a
// string. So `lr=0.1` matches the number 0.1 and `model="1"` the string "1".
nlohmann::json ParseParamValue(absl::string_view text);

// Folds `k=v` words into one JSON object; usage error for a word without
// '=', an empty key, or the same key given twice. Empty input -> empty
// object.
absl::StatusOr<nlohmann::json> ParseParamFilters(const std::vector<std::string>& filters);

// The server's params_filter_json: "" when there is no filter.
absl::StatusOr<std::string> ParamFilterJson(const std::vector<std::string>& filters);

// Parses a job's params_json; malformed or non-object text yields an object
// holding it under "_raw" so a display never fails on one bad row.
nlohmann::json ParseParamsJson(absl::string_view params_json);

// A scalar for a table cell: strings bare, numbers via FormatNumber for
// doubles, integers in full, others as compact JSON.
std::string FormatParamValue(const nlohmann::json& value);

// "lr=0.1 seed=1 model=tiny" in the object's key order.
std::string FormatParamsInline(const nlohmann::json& params);

}  // namespace expsvc::expctl
