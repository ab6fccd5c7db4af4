#include "client/web/request_params.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace expsvc::web {

absl::StatusOr<int64_t> ParseId(const std::string& text, const std::string& what) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", text, "' is not a positive integer"));
  }
  return id;
}

absl::StatusOr<int64_t> IntParam(const std::optional<std::string>& value, const std::string& name, int64_t fallback,
                                 int64_t min, int64_t max) {
  if (!value.has_value()) return fallback;
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(*value, &parsed) || parsed < min || parsed > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter '", name, "': expected an integer from ", min, " to ", max, ", got '", *value, "'"));
  }
  return parsed;
}

std::vector<std::string> ListParam(const std::optional<std::string>& value) {
  if (!value.has_value()) return {};
  return absl::StrSplit(*value, ',', absl::SkipEmpty());
}

absl::StatusOr<std::string> ChoiceParam(const std::optional<std::string>& value, const std::string& name,
                                        const std::vector<std::string>& choices, const std::string& fallback) {
  if (!value.has_value()) return fallback;
  if (std::find(choices.begin(), choices.end(), *value) == choices.end()) {
    return absl::InvalidArgumentError(absl::StrCat("query parameter '", name, "': expected one of ",
                                                   absl::StrJoin(choices, ", "), ", got '", *value, "'"));
  }
  return *value;
}

}  // namespace expsvc::web
