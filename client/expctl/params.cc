#include "client/expctl/params.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/format.h"

namespace expsvc::expctl {

nlohmann::json ParseParamValue(absl::string_view text) {
  // Only text that looks like a JSON literal is tried, so bare words such
  // as `model=tiny` stay strings without a parse attempt.
  if (!text.empty()) {
    char first = text.front();
    bool looks_like_json = first == '"' || first == '[' || first == '{' || first == '-' ||
                           (first >= '0' && first <= '9') || text == "true" || text == "false" || text == "null";
    if (looks_like_json) {
      nlohmann::json value = nlohmann::json::parse(text, /*cb=*/nullptr,
                                                   /*allow_exceptions=*/false);
      if (!value.is_discarded()) return value;
    }
  }
  return std::string(text);
}

absl::StatusOr<nlohmann::json> ParseParamFilters(const std::vector<std::string>& filters) {
  nlohmann::json object = nlohmann::json::object();
  for (const std::string& filter : filters) {
    size_t equals = filter.find('=');
    if (equals == std::string::npos) {
      return UsageError(absl::StrCat("--param '", filter, "': expected KEY=VALUE"));
    }
    std::string key = filter.substr(0, equals);
    if (key.empty()) {
      return UsageError(absl::StrCat("--param '", filter, "': the key is empty"));
    }
    if (object.contains(key)) {
      return UsageError(absl::StrCat("--param: '", key, "' is given twice"));
    }
    object[key] = ParseParamValue(absl::string_view(filter).substr(equals + 1));
  }
  return object;
}

absl::StatusOr<std::string> ParamFilterJson(const std::vector<std::string>& filters) {
  if (filters.empty()) return std::string();
  absl::StatusOr<nlohmann::json> object = ParseParamFilters(filters);
  if (!object.ok()) return object.status();
  return object->dump();
}

nlohmann::json ParseParamsJson(absl::string_view params_json) {
  if (params_json.empty()) return nlohmann::json::object();
  nlohmann::json value = nlohmann::json::parse(params_json, /*cb=*/nullptr,
                                               /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) {
    return nlohmann::json{{"_raw", std::string(params_json)}};
  }
  return value;
}

std::string FormatParamValue(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) return FormatNumber(value.get<double>());
  if (value.is_number_integer() || value.is_number_unsigned() || value.is_boolean() || value.is_null()) {
    return value.dump();
  }
  // Arrays and objects: compact JSON; dump() cannot throw for valid UTF-8
  // and `replace` keeps it from throwing for invalid bytes.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string FormatParamsInline(const nlohmann::json& params) {
  if (!params.is_object()) return FormatParamValue(params);
  std::vector<std::string> parts;
  for (auto it = params.begin(); it != params.end(); ++it) {
    parts.push_back(absl::StrCat(it.key(), "=", FormatParamValue(it.value())));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace expsvc::expctl
