#include "client/expctl/args.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/expctl/exit_codes.h"

namespace expsvc::expctl {
namespace {

const FlagSpec* FindLongFlag(const std::vector<FlagSpec>& flags, absl::string_view name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

const FlagSpec* FindShortFlag(const std::vector<FlagSpec>& flags, char letter) {
  for (const FlagSpec& flag : flags) {
    if (flag.short_name != 0 && flag.short_name == letter) return &flag;
  }
  return nullptr;
}

std::string FlagLabel(const FlagSpec& flag) {
  std::string label;
  if (flag.short_name != 0) label = absl::StrCat("-", std::string(1, flag.short_name), ", ");
  absl::StrAppend(&label, "--", flag.name);
  if (flag.takes_value) {
    absl::StrAppend(&label, " ", flag.value_name.empty() ? "VALUE" : flag.value_name);
  }
  return label;
}

// The synopsis words naming the positionals not given: "SWEEP" for
// "status SWEEP [--spec]" with none given. Falls back to a count.
std::string MissingArgumentNames(const CommandSpec& spec, size_t given) {
  std::vector<std::string> names;
  for (absl::string_view word : absl::StrSplit(spec.synopsis, ' ', absl::SkipEmpty())) {
    bool is_placeholder = !word.empty() && std::all_of(word.begin(), word.end(),
                                                       [](char c) { return (c >= 'A' && c <= 'Z') || c == '_'; });
    if (is_placeholder) names.emplace_back(word);
  }
  if (names.size() < spec.min_positionals) {
    return absl::StrCat(spec.min_positionals - given, " argument(s)");
  }
  names.erase(names.begin() + static_cast<std::ptrdiff_t>(spec.min_positionals), names.end());
  names.erase(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(given));
  return absl::StrJoin(names, " ");
}

}  // namespace

bool ParsedArgs::Has(absl::string_view flag) const {
  return flags_.find(flag) != flags_.end();
}

std::optional<std::string> ParsedArgs::Value(absl::string_view flag) const {
  auto it = flags_.find(flag);
  if (it == flags_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string ParsedArgs::ValueOr(absl::string_view flag, absl::string_view fallback) const {
  std::optional<std::string> value = Value(flag);
  return value.has_value() ? *value : std::string(fallback);
}

std::vector<std::string> ParsedArgs::Values(absl::string_view flag) const {
  auto it = flags_.find(flag);
  if (it == flags_.end()) return {};
  return it->second;
}

absl::StatusOr<int64_t> ParsedArgs::IntValueOr(absl::string_view flag, int64_t fallback) const {
  std::optional<std::string> text = Value(flag);
  if (!text.has_value()) return fallback;
  int64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value)) {
    return UsageError(absl::StrCat("--", flag, ": expected an integer, got '", *text, "'"));
  }
  return value;
}

absl::StatusOr<double> ParsedArgs::DoubleValueOr(absl::string_view flag, double fallback) const {
  std::optional<std::string> text = Value(flag);
  if (!text.has_value()) return fallback;
  double value = 0;
  if (!absl::SimpleAtod(*text, &value)) {
    return UsageError(absl::StrCat("--", flag, ": expected a number, got '", *text, "'"));
  }
  return value;
}

void ParsedArgs::AddFlag(const std::string& flag, std::string value) {
  flags_[flag].push_back(std::move(value));
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& words, const std::vector<FlagSpec>& flags) {
  ParsedArgs parsed;
  bool flags_ended = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    // A lone "-" is a positional (conventionally stdin), as is anything after "--".
    if (flags_ended || word.size() < 2 || word[0] != '-') {
      parsed.AddPositional(word);
      continue;
    }
    if (word == "--") {
      flags_ended = true;
      continue;
    }

    const FlagSpec* spec = nullptr;
    std::string shown;  // the flag as the user typed it, for messages
    std::optional<std::string> inline_value;
    if (word[1] == '-') {
      absl::string_view body = absl::string_view(word).substr(2);
      size_t equals = body.find('=');
      absl::string_view name = body.substr(0, equals);
      if (equals != absl::string_view::npos) inline_value = std::string(body.substr(equals + 1));
      shown = absl::StrCat("--", name);
      spec = FindLongFlag(flags, name);
    } else {
      // Short flags: "-o PATH" or "-oPATH"; no bundling of several letters.
      shown = word.substr(0, 2);
      spec = FindShortFlag(flags, word[1]);
      if (spec != nullptr && word.size() > 2) {
        if (!spec->takes_value) return UsageError(absl::StrCat("unknown flag '", word, "'"));
        inline_value = word.substr(2);
      }
    }
    if (spec == nullptr) return UsageError(absl::StrCat("unknown flag '", shown, "'"));

    if (!spec->takes_value) {
      if (inline_value.has_value()) {
        return UsageError(absl::StrCat("flag '", shown, "' takes no value"));
      }
      parsed.AddFlag(spec->name, "");
      continue;
    }
    std::string value;
    if (inline_value.has_value()) {
      value = *inline_value;
    } else if (i + 1 < words.size()) {
      value = words[++i];
    } else {
      return UsageError(absl::StrCat("flag '", shown, "' needs a value (",
                                     spec->value_name.empty() ? "VALUE" : spec->value_name, ")"));
    }
    parsed.AddFlag(spec->name, std::move(value));
  }
  return parsed;
}

absl::Status CheckPositionals(const ParsedArgs& args, const CommandSpec& spec) {
  size_t count = args.positionals().size();
  if (count < spec.min_positionals) {
    return UsageError(absl::StrCat("'", spec.name, "' is missing ", MissingArgumentNames(spec, count)));
  }
  if (count > spec.max_positionals) {
    const std::string& extra = args.positionals()[spec.max_positionals];
    return UsageError(absl::StrCat("'", spec.name, "': unexpected argument '", extra, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseId(absl::string_view text, absl::string_view what) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return UsageError(absl::StrCat("expected a ", what, " (a positive integer), got '", text, "'"));
  }
  return id;
}

bool WantsHelp(const std::vector<std::string>& words) {
  for (const std::string& word : words) {
    if (word == "--") return false;
    if (word == "-h" || word == "--help") return true;
  }
  return false;
}

std::string FormatUsage(const CommandSpec& spec, const std::vector<FlagSpec>& global_flags) {
  std::string text = absl::StrCat("usage: expctl ", spec.synopsis, "\n\n", spec.summary, "\n");
  auto append_flags = [&text](absl::string_view title, const std::vector<FlagSpec>& flags) {
    if (flags.empty()) return;
    size_t label_width = 0;
    for (const FlagSpec& flag : flags) label_width = std::max(label_width, FlagLabel(flag).size());
    absl::StrAppend(&text, "\n", title, ":\n");
    for (const FlagSpec& flag : flags) {
      absl::StrAppend(&text, absl::StrFormat("  %-*s  %s", static_cast<int>(label_width), FlagLabel(flag), flag.help),
                      flag.repeatable ? " (repeatable)" : "", "\n");
    }
  };
  append_flags("flags", spec.flags);
  append_flags("global flags", global_flags);
  if (!spec.details.empty()) absl::StrAppend(&text, "\n", spec.details);
  if (!text.empty() && text.back() != '\n') text.push_back('\n');
  return text;
}

}  // namespace expsvc::expctl
