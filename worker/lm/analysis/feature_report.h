#pragma once
// The per-feature analysis of one SAE turned into records, a per-SAE summary
// and the `features.json` artifact (schema in README.md):
//
//   EXPSVC_ASSIGN_OR_RETURN(FeatureReport report,
//                           BuildFeatureReport(stats, {.token_text = text, .embeddings = &embeddings,
//                                                      .snippet_text = snippet}, {.rule = rule}));
//   EXPSVC_RETURN_IF_ERROR(WriteFeaturesJson(report, dir / "features.json"));
//
// The summary's language fractions are over ALL n_latents, dead ones
// included, so japanese + english + mixed + dead = 1; mean R and mean span
// are over live features only.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/lm/analysis/feature_statistics.h"
#include "worker/lm/analysis/language_class.h"
#include "worker/lm/analysis/monosemanticity.h"

namespace expsvc::lm {

// Text of a window around (window, position) with that token marked, e.g.
// via MarkToken on the window's token texts.
using SnippetText = std::function<absl::StatusOr<std::string>(int64_t window, int64_t position)>;

// Concatenates window_token_texts[position − before .. position + after]
// (clipped to the window) as "…before [[token]] after…"; the ellipses
// appear only where the window was cut. InvalidArgument when position is
// outside the window or before/after < 0.
absl::StatusOr<std::string> MarkToken(absl::Span<const std::string> window_token_texts, int64_t position,
                                      int64_t before, int64_t after);

struct FeatureReportOptions {
  LanguageRule rule = LanguageRule::kAllActivations;
  double language_threshold = kDefaultLanguageThreshold;
  MonosemanticityOptions monosemanticity;
};

struct FeatureReportInputs {
  TokenText token_text;                         // required by authors_max_token; else unused
  const TokenEmbeddings* embeddings = nullptr;  // null: R is not computed (NaN, JSON null)
  SnippetText snippet_text;                     // null: snippets carry no text
};

struct FeatureSnippet {
  ActivationExample example;
  std::string text;
};

inline constexpr double kNotComputed = std::numeric_limits<double>::quiet_NaN();

struct FeatureRecord {
  int64_t id = 0;
  FeatureLanguage language = FeatureLanguage::kDead;
  double r = kNotComputed;  // NaN for dead features or without embeddings
  double token_entropy = kNotComputed;
  double semantic_entropy = kNotComputed;
  int64_t distinct_tokens = 0;  // before the monosemanticity cap
  int64_t clusters = 0;
  double mean_span = 0;
  int64_t count = 0;
  int64_t en_count = 0;
  int64_t ja_count = 0;
  std::vector<FeatureSnippet> top;  // best first
};

struct SaeSummary {
  int64_t n_latents = 0;
  int64_t live = 0;
  int64_t japanese = 0;
  int64_t english = 0;
  int64_t mixed = 0;
  int64_t dead = 0;
  // Of all n_latents; the four sum to 1.
  double fraction_japanese = 0;
  double fraction_english = 0;
  double fraction_mixed = 0;
  double fraction_dead = 0;
  double mean_r = kNotComputed;     // over live features with an R
  double mean_span = kNotComputed;  // over live features
};

struct FeatureReport {
  LanguageRule rule = LanguageRule::kAllActivations;
  double threshold = kDefaultLanguageThreshold;
  MonosemanticityOptions monosemanticity;
  std::vector<FeatureRecord> features;  // one per latent, by id
  SaeSummary summary;
};

// Classifies every feature, computes R for live ones, fetches snippet text.
// Errors of the classifier, the embeddings or the snippet callback pass
// through, naming the feature. R is computed on the intra-op threads, so an
// embeddings callback must be thread-safe; token_text and snippet_text are
// called from the calling thread only.
absl::StatusOr<FeatureReport> BuildFeatureReport(const FeatureStatistics& stats, const FeatureReportInputs& inputs,
                                                 const FeatureReportOptions& options = {});

// The summary of a set of records (BuildFeatureReport fills it already).
SaeSummary Summarize(absl::Span<const FeatureRecord> records);

nlohmann::json FeatureReportToJson(const FeatureReport& report);
// The JSON above, atomically; invalid UTF-8 in snippets becomes U+FFFD.
absl::Status WriteFeaturesJson(const FeatureReport& report, const std::filesystem::path& path);

}  // namespace expsvc::lm
