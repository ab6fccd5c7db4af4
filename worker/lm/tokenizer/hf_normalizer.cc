#include "worker/lm/tokenizer/hf_normalizer.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/lm/tokenizer/hf_json_fields.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {
namespace {

constexpr int kMaxNesting = 16;

// Strips Unicode whitespace from one or both ends.
std::string StripWhitespace(absl::string_view text, bool left, bool right) {
  size_t begin = 0;
  size_t end = text.size();
  if (left) {
    while (begin < end) {
      const size_t length = Utf8CharLength(text, begin);
      if (length == 0 || !IsUnicodeWhitespace(DecodeUtf8Char(text, begin, length))) break;
      begin += length;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;  // back up to the lead byte of the last character
      while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
      const size_t length = Utf8CharLength(text, start);
      if (length != end - start || !IsUnicodeWhitespace(DecodeUtf8Char(text, start, length))) {
        break;
      }
      end = start;
    }
  }
  return std::string(text.substr(begin, end - begin));
}

}  // namespace

absl::StatusOr<HfNormalizer> HfNormalizer::FromJson(const nlohmann::json& config) {
  HfNormalizer normalizer;
  if (config.is_null()) return normalizer;
  EXPSVC_RETURN_IF_ERROR(AppendSteps(config, 0, &normalizer.steps_));
  return normalizer;
}

absl::Status HfNormalizer::AppendSteps(const nlohmann::json& config, int depth, std::vector<Step>* steps) {
  if (depth > kMaxNesting) return absl::InvalidArgumentError("normalizer: nested too deeply");
  EXPSVC_ASSIGN_OR_RETURN(const std::string type, hf_json::ComponentType(config, "normalizer"));
  const std::string context = absl::StrCat("normalizer ", type);
  if (type == "Sequence") {
    EXPSVC_ASSIGN_OR_RETURN(const nlohmann::json* children, hf_json::RequiredArray(config, "normalizers", context));
    for (const nlohmann::json& child : *children) {
      EXPSVC_RETURN_IF_ERROR(AppendSteps(child, depth + 1, steps));
    }
    return absl::OkStatus();
  }
  if (type == "Prepend") {
    Step step;
    step.kind = Step::Kind::kPrepend;
    EXPSVC_ASSIGN_OR_RETURN(step.content, hf_json::RequiredString(config, "prepend", context));
    steps->push_back(std::move(step));
    return absl::OkStatus();
  }
  if (type == "Replace") {
    Step step;
    step.kind = Step::Kind::kReplace;
    EXPSVC_ASSIGN_OR_RETURN(step.replace, HfReplace::FromJson(config, context));
    steps->push_back(std::move(step));
    return absl::OkStatus();
  }
  if (type == "Strip") {
    Step step;
    step.kind = Step::Kind::kStrip;
    EXPSVC_ASSIGN_OR_RETURN(step.strip_left, hf_json::OptionalBool(config, "strip_left", true, context));
    EXPSVC_ASSIGN_OR_RETURN(step.strip_right, hf_json::OptionalBool(config, "strip_right", true, context));
    steps->push_back(std::move(step));
    return absl::OkStatus();
  }
  if (type == "Precompiled") {
    // An empty charsmap maps nothing: what identity-normalised SentencePiece
    // models convert to.
    auto charsmap = config.find("precompiled_charsmap");
    const bool empty = charsmap == config.end() || charsmap->is_null() ||
                       (charsmap->is_string() && charsmap->get<std::string>().empty());
    if (empty) return absl::OkStatus();
    return absl::UnimplementedError(
        "normalizer Precompiled with a non-empty precompiled_charsmap is not supported "
        "(only identity-normalised models; re-train with normalization_rule_name=identity)");
  }
  return absl::UnimplementedError(
      absl::StrCat("normalizer type \"", type,
                   "\" is not supported (supported: Sequence, Prepend, Replace, Strip, Precompiled with an "
                   "empty charsmap)"));
}

std::string HfNormalizer::Apply(absl::string_view text) const {
  std::string normalized(text);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::Kind::kPrepend:
        // Like the Hugging Face Prepend: nothing is added to empty text.
        if (!normalized.empty()) normalized.insert(0, step.content);
        break;
      case Step::Kind::kReplace: normalized = step.replace->Apply(normalized); break;
      case Step::Kind::kStrip: normalized = StripWhitespace(normalized, step.strip_left, step.strip_right); break;
    }
  }
  return normalized;
}

}  // namespace expsvc::lm
