#include "worker/lm/analysis/language_class.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace expsvc::lm {
namespace {

bool IsJapaneseCodePoint(uint32_t c) {
  return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xFF66 && c <= 0xFF9F);
}

// Shares are compared as quotients: a/b is correctly rounded, so 9/10 and
// 45/50 both equal the literal 0.9 exactly and the boundary is exact.
double Share(int64_t part, int64_t whole) {
  return static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

std::string FeatureLanguageName(FeatureLanguage language) {
  switch (language) {
    case FeatureLanguage::kJapanese: return "japanese";
    case FeatureLanguage::kEnglish: return "english";
    case FeatureLanguage::kMixed: return "mixed";
    case FeatureLanguage::kDead: return "dead";
  }
  return "unknown";
}

std::string LanguageRuleName(LanguageRule rule) {
  switch (rule) {
    case LanguageRule::kAllActivations: return "all_activations";
    case LanguageRule::kAuthorsMaxToken: return "authors_max_token";
  }
  return "unknown";
}

absl::StatusOr<LanguageRule> ParseLanguageRule(absl::string_view name) {
  if (name == "all_activations") return LanguageRule::kAllActivations;
  if (name == "authors_max_token") return LanguageRule::kAuthorsMaxToken;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown language rule \"", name, "\"; expected \"all_activations\" or \"authors_max_token\""));
}

TokenScript ClassifyTokenScript(absl::string_view text) {
  bool ascii_letter = false;
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      if ((lead >= 'A' && lead <= 'Z') || (lead >= 'a' && lead <= 'z')) ascii_letter = true;
      ++i;
      continue;
    }
    int length = 0;
    uint32_t c = 0;
    if ((lead & 0xE0) == 0xC0) {
      length = 2;
      c = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      c = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      c = lead & 0x07;
    } else {
      ++i;  // a stray continuation or invalid byte
      continue;
    }
    if (i + static_cast<size_t>(length) > text.size()) break;  // truncated sequence at the end
    bool valid = true;
    for (int j = 1; j < length; ++j) {
      const auto next = static_cast<unsigned char>(text[i + static_cast<size_t>(j)]);
      if ((next & 0xC0) != 0x80) {
        valid = false;
        break;
      }
      c = (c << 6) | (next & 0x3F);
    }
    if (!valid) {
      ++i;
      continue;
    }
    if (IsJapaneseCodePoint(c)) return TokenScript::kJapanese;
    i += static_cast<size_t>(length);
  }
  return ascii_letter ? TokenScript::kEnglish : TokenScript::kNeither;
}

FeatureLanguage ClassifyByAllActivations(int64_t count, int64_t en_count, int64_t ja_count, double threshold) {
  if (count <= 0) return FeatureLanguage::kDead;
  if (Share(ja_count, count) >= threshold) return FeatureLanguage::kJapanese;
  if (Share(en_count, count) >= threshold) return FeatureLanguage::kEnglish;
  return FeatureLanguage::kMixed;
}

FeatureLanguage ClassifyByMaxTokens(absl::Span<const int64_t> window_max_token_ids, const TokenText& token_text,
                                    double threshold) {
  if (window_max_token_ids.empty()) return FeatureLanguage::kDead;
  int64_t japanese = 0;
  int64_t english = 0;
  for (const int64_t id : window_max_token_ids) {
    switch (ClassifyTokenScript(token_text(id))) {
      case TokenScript::kJapanese: ++japanese; break;
      case TokenScript::kEnglish: ++english; break;
      case TokenScript::kNeither: break;
    }
  }
  const auto total = static_cast<int64_t>(window_max_token_ids.size());
  if (Share(japanese, total) > threshold) return FeatureLanguage::kJapanese;
  if (Share(english, total) > threshold) return FeatureLanguage::kEnglish;
  return FeatureLanguage::kMixed;
}

absl::StatusOr<FeatureLanguage> ClassifyFeature(const FeatureStats& stats, LanguageRule rule, double threshold,
                                                const TokenText& token_text) {
  if (!(threshold > 0.5 && threshold <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("language threshold ", threshold, " is outside (0.5, 1]"));
  }
  switch (rule) {
    case LanguageRule::kAllActivations:
      return ClassifyByAllActivations(stats.count, stats.en_count(), stats.ja_count(), threshold);
    case LanguageRule::kAuthorsMaxToken: {
      if (!token_text) return absl::InvalidArgumentError("the authors_max_token rule needs the tokens' text");
      if (stats.count > 0 && stats.window_max_tokens.empty()) {
        return absl::InvalidArgumentError("the authors_max_token rule needs max_token_windows > 0");
      }
      std::vector<int64_t> ids;
      ids.reserve(stats.window_max_tokens.size());
      for (const WindowMaxToken& m : stats.window_max_tokens) ids.push_back(m.token_id);
      return ClassifyByMaxTokens(ids, token_text, threshold);
    }
  }
  return absl::InvalidArgumentError("unknown language rule");
}

}  // namespace expsvc::lm
