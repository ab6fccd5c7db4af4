#include "worker/command/placeholders.h"

#include <cctype>

#include "absl/strings/str_cat.h"

namespace expsvc::worker {

std::string ParamText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

namespace {

// A parameter name as a placeholder may hold it: a letter or '_', then
// letters, digits, '_', '-' or '.'.
bool IsPlaceholderName(std::string_view text) {
  if (text.empty() || !(std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_')) return false;
  for (char c : text) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> SubstitutePlaceholders(std::string_view argument, const nlohmann::json& params) {
  std::string out;
  for (size_t i = 0; i < argument.size(); ++i) {
    const char c = argument[i];
    const bool doubled = i + 1 < argument.size() && argument[i + 1] == c;
    if ((c == '{' || c == '}') && doubled) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '{') {
      const size_t close = argument.find('}', i + 1);
      const std::string_view name =
          close == std::string_view::npos ? std::string_view() : argument.substr(i + 1, close - i - 1);
      if (IsPlaceholderName(name)) {
        auto found = params.find(std::string(name));
        if (found == params.end() || found->is_null()) {
          return absl::InvalidArgumentError(absl::StrCat("command argument '", std::string(argument),
                                                         "': the job has no parameter '", std::string(name),
                                                         "' (write {{ and }} for literal braces)"));
        }
        out += ParamText(*found);
        i = close;
        continue;
      }
    }
    // Any other brace (JSON, shell code) is kept as it is.
    out.push_back(c);
  }
  return out;
}

}  // namespace expsvc::worker
