#pragma once
// The language class of an SAE feature (Study 2): Japanese, English, Mixed,
// or dead. Two rules, both offered because the paper and the authors' code
// disagree; a table must say which it used:
//
//   all_activations    (the paper's text) over every row the feature fires
//                      on: Japanese when ja_count / count ≥ threshold,
//                      English when en_count / count ≥ threshold, else Mixed.
//   authors_max_token  (llm-jp/llm-jp-sae at the paper's commit) over the
//                      first ≤ 50 windows the feature fires in, one token per
//                      window (its max-activating one), classified by the
//                      script of its text: Japanese when the Japanese share
//                      > threshold (strict), English when the English share
//                      > threshold, else Mixed. Tokens of neither script
//                      count in the denominator.
//
// Both call a feature that never fires dead. The default threshold is 0.9.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "worker/lm/analysis/feature_statistics.h"

namespace expsvc::lm {

enum class FeatureLanguage { kJapanese, kEnglish, kMixed, kDead };
// "japanese", "english", "mixed", "dead".
std::string FeatureLanguageName(FeatureLanguage language);

enum class LanguageRule { kAllActivations, kAuthorsMaxToken };
// "all_activations", "authors_max_token".
std::string LanguageRuleName(LanguageRule rule);
// The inverse; InvalidArgument naming the two accepted names otherwise.
absl::StatusOr<LanguageRule> ParseLanguageRule(absl::string_view name);

inline constexpr double kDefaultLanguageThreshold = 0.9;

// The text of a token id, decoded (e.g. the tokenizer's decode of that one
// id), not the raw piece: a byte-fallback piece "<0xE3>" spells ASCII
// letters and would read as English.
using TokenText = std::function<std::string(int64_t token_id)>;

// Script of a token's UTF-8 text. Japanese: any code point in U+3040–U+30FF
// (Hiragana, Katakana), U+3400–U+4DBF, U+4E00–U+9FFF (CJK ideographs) or
// U+FF66–U+FF9F (half-width Katakana). English: an ASCII letter and nothing
// Japanese. Otherwise neither (digits, punctuation, spaces, other scripts,
// broken UTF-8, which is skipped byte by byte).
enum class TokenScript { kJapanese, kEnglish, kNeither };
TokenScript ClassifyTokenScript(absl::string_view utf8_text);

// Rule all_activations (inclusive threshold). count == 0 → kDead.
FeatureLanguage ClassifyByAllActivations(int64_t count, int64_t en_count, int64_t ja_count,
                                         double threshold = kDefaultLanguageThreshold);

// Rule authors_max_token (strict threshold) over one token id per window;
// empty → kDead.
FeatureLanguage ClassifyByMaxTokens(absl::Span<const int64_t> window_max_token_ids, const TokenText& token_text,
                                    double threshold = kDefaultLanguageThreshold);

// Either rule on accumulated statistics. InvalidArgument when the threshold
// is outside (0.5, 1] (below one half a feature could be both languages) or
// the authors' rule is asked for without token_text (or on statistics
// gathered with max_token_windows = 0).
absl::StatusOr<FeatureLanguage> ClassifyFeature(const FeatureStats& stats, LanguageRule rule, double threshold,
                                                const TokenText& token_text);

}  // namespace expsvc::lm
