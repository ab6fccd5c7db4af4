#include "worker/lm/tokenizer/hf_replace.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "worker/lm/tokenizer/hf_json_fields.h"

namespace expsvc::lm {
namespace {

absl::Status Unsupported(absl::string_view context, absl::string_view expression) {
  return absl::UnimplementedError(absl::StrCat(context, ": regular expression \"", expression,
                                               "\" is not supported (only plain strings, optionally after ^)"));
}

}  // namespace

absl::StatusOr<HfReplace> HfReplace::FromJson(const nlohmann::json& config, absl::string_view context) {
  HfReplace replace;
  EXPSVC_ASSIGN_OR_RETURN(replace.content_, hf_json::RequiredString(config, "content", context));
  auto pattern = config.find("pattern");
  if (pattern == config.end() || !pattern->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}"));
  }
  if (pattern->contains("String")) {
    EXPSVC_ASSIGN_OR_RETURN(replace.pattern_, hf_json::RequiredString(*pattern, "String", context));
    if (replace.pattern_.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": empty pattern"));
    }
    return replace;
  }
  absl::StatusOr<std::string> regex = hf_json::RequiredString(*pattern, "Regex", context);
  if (!regex.ok()) return regex.status();
  const std::string& expression = *regex;
  absl::string_view rest = expression;
  if (!rest.empty() && rest.front() == '^') {
    replace.at_start_ = true;
    rest.remove_prefix(1);
  }
  for (size_t i = 0; i < rest.size(); ++i) {
    const char c = rest[i];
    if (c == '\\' && i + 1 < rest.size()) {
      const char escaped = rest[++i];
      if (escaped == 'n') {
        replace.pattern_.push_back('\n');
      } else if (escaped == 't') {
        replace.pattern_.push_back('\t');
      } else if (escaped == '\\' || escaped == ' ') {
        replace.pattern_.push_back(escaped);
      } else {
        return Unsupported(context, expression);
      }
    } else if (absl::string_view("^$.|?*+()[]{}\\").find(c) != absl::string_view::npos) {
      return Unsupported(context, expression);
    } else {
      replace.pattern_.push_back(c);
    }
  }
  if (replace.pattern_.empty() && !replace.at_start_) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": empty pattern"));
  }
  return replace;
}

std::string HfReplace::Apply(absl::string_view text) const {
  if (!at_start_) return absl::StrReplaceAll(text, {{pattern_, content_}});
  if (text.empty() || !absl::StartsWith(text, pattern_)) return std::string(text);
  return absl::StrCat(content_, text.substr(pattern_.size()));
}

}  // namespace expsvc::lm
