#include "worker/lm/tokenizer/hf_pre_tokenizer.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "worker/lm/tokenizer/hf_json_fields.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {
namespace {

constexpr int kMaxNesting = 16;

struct Piece {
  std::string text;
  bool starts_input = false;
};

}  // namespace

absl::StatusOr<HfPreTokenizer> HfPreTokenizer::FromJson(const nlohmann::json& config) {
  HfPreTokenizer pre_tokenizer;
  if (config.is_null()) return pre_tokenizer;
  EXPSVC_RETURN_IF_ERROR(AppendSteps(config, 0, &pre_tokenizer.steps_));
  return pre_tokenizer;
}

absl::Status HfPreTokenizer::AppendSteps(const nlohmann::json& config, int depth, std::vector<Metaspace>* steps) {
  if (depth > kMaxNesting) return absl::InvalidArgumentError("pre_tokenizer: nested too deeply");
  EXPSVC_ASSIGN_OR_RETURN(const std::string type, hf_json::ComponentType(config, "pre_tokenizer"));
  const std::string context = absl::StrCat("pre_tokenizer ", type);
  if (type == "Sequence") {
    EXPSVC_ASSIGN_OR_RETURN(const nlohmann::json* children, hf_json::RequiredArray(config, "pretokenizers", context));
    for (const nlohmann::json& child : *children) {
      EXPSVC_RETURN_IF_ERROR(AppendSteps(child, depth + 1, steps));
    }
    return absl::OkStatus();
  }
  if (type != "Metaspace") {
    return absl::UnimplementedError(
        absl::StrCat("pre_tokenizer type \"", type, "\" is not supported (supported: Metaspace, Sequence)"));
  }
  Metaspace metaspace;
  EXPSVC_ASSIGN_OR_RETURN(metaspace.replacement, hf_json::RequiredString(config, "replacement", context));
  const size_t length = metaspace.replacement.empty() ? 0 : Utf8CharLength(metaspace.replacement, 0);
  if (length == 0 || length != metaspace.replacement.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": replacement must be one character, got \"", metaspace.replacement, "\""));
  }
  if (config.contains("prepend_scheme") && !config["prepend_scheme"].is_null()) {
    EXPSVC_ASSIGN_OR_RETURN(const std::string scheme, hf_json::RequiredString(config, "prepend_scheme", context));
    if (scheme == "always") {
      metaspace.prepend = Prepend::kAlways;
    } else if (scheme == "first") {
      metaspace.prepend = Prepend::kFirst;
    } else if (scheme == "never") {
      metaspace.prepend = Prepend::kNever;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(context, ": prepend_scheme must be always, first or never, got \"", scheme, "\""));
    }
  } else {
    EXPSVC_ASSIGN_OR_RETURN(const bool add_prefix_space,
                            hf_json::OptionalBool(config, "add_prefix_space", true, context));
    metaspace.prepend = add_prefix_space ? Prepend::kAlways : Prepend::kNever;
  }
  EXPSVC_ASSIGN_OR_RETURN(metaspace.split, hf_json::OptionalBool(config, "split", true, context));
  steps->push_back(std::move(metaspace));
  return absl::OkStatus();
}

std::vector<std::string> HfPreTokenizer::Apply(absl::string_view text, bool starts_input) const {
  std::vector<Piece> pieces = {{std::string(text), starts_input}};
  for (const Metaspace& step : steps_) {
    std::vector<Piece> next;
    for (Piece& piece : pieces) {
      if (piece.text.empty()) continue;  // empty text gets no ▁ either
      std::string replaced = absl::StrReplaceAll(piece.text, {{" ", step.replacement}});
      const bool prepend = step.prepend == Prepend::kAlways || (step.prepend == Prepend::kFirst && piece.starts_input);
      if (prepend && !absl::StartsWith(replaced, step.replacement)) {
        replaced.insert(0, step.replacement);
      }
      if (!step.split) {
        next.push_back({std::move(replaced), piece.starts_input});
        continue;
      }
      // Split before every replacement character (it stays with what
      // follows). Searching from begin + 1 is safe: a UTF-8 character never
      // starts inside another.
      for (size_t begin = 0; begin < replaced.size();) {
        size_t end = replaced.find(step.replacement, begin + 1);
        if (end == std::string::npos) end = replaced.size();
        next.push_back({replaced.substr(begin, end - begin), piece.starts_input && begin == 0});
        begin = end;
      }
    }
    pieces = std::move(next);
  }
  std::vector<std::string> out;
  out.reserve(pieces.size());
  for (Piece& piece : pieces) {
    if (!piece.text.empty()) out.push_back(std::move(piece.text));
  }
  return out;
}

}  // namespace expsvc::lm
