#include "worker/lm/analysis/feature_report.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"

namespace expsvc::lm {
namespace {

using Json = nlohmann::json;

// NaN means "not computed"; JSON has no NaN, so it is written as null.
Json NumberOrNull(double x) {
  return std::isfinite(x) ? Json(x) : Json(nullptr);
}

absl::Status WithFeature(const absl::Status& status, int64_t id) {
  return absl::Status(status.code(), absl::StrCat("feature ", id, ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::string> MarkToken(absl::Span<const std::string> window_token_texts, int64_t position,
                                      int64_t before, int64_t after) {
  const auto size = static_cast<int64_t>(window_token_texts.size());
  if (position < 0 || position >= size) {
    return absl::InvalidArgumentError(absl::StrCat("MarkToken: position ", position, " outside a window of ", size));
  }
  if (before < 0 || after < 0) return absl::InvalidArgumentError("MarkToken: negative context");
  const int64_t first = std::max<int64_t>(0, position - before);
  const int64_t last = std::min<int64_t>(size - 1, position + after);
  std::string text = first > 0 ? "…" : "";
  for (int64_t i = first; i < position; ++i) text += window_token_texts[static_cast<size_t>(i)];
  absl::StrAppend(&text, "[[", window_token_texts[static_cast<size_t>(position)], "]]");
  for (int64_t i = position + 1; i <= last; ++i) text += window_token_texts[static_cast<size_t>(i)];
  if (last < size - 1) text += "…";
  return text;
}

absl::StatusOr<FeatureReport> BuildFeatureReport(const FeatureStatistics& stats, const FeatureReportInputs& inputs,
                                                 const FeatureReportOptions& options) {
  FeatureReport report;
  report.rule = options.rule;
  report.threshold = options.language_threshold;
  report.monosemanticity = options.monosemanticity;
  report.features.reserve(static_cast<size_t>(stats.n_latents()));
  for (int64_t id = 0; id < stats.n_latents(); ++id) {
    const FeatureStats& f = stats.feature(id);
    FeatureRecord record;
    record.id = id;
    absl::StatusOr<FeatureLanguage> language =
        ClassifyFeature(f, options.rule, options.language_threshold, inputs.token_text);
    if (!language.ok()) return WithFeature(language.status(), id);
    record.language = *language;
    record.count = f.count;
    record.en_count = f.en_count();
    record.ja_count = f.ja_count();
    record.mean_span = f.mean_span();
    record.distinct_tokens = static_cast<int64_t>(f.token_counts.size());
    record.top.reserve(f.top.size());
    for (const ActivationExample& example : f.top) {
      FeatureSnippet snippet{example, ""};
      if (inputs.snippet_text) {
        absl::StatusOr<std::string> text = inputs.snippet_text(example.window, example.position);
        if (!text.ok()) return WithFeature(text.status(), id);
        snippet.text = *std::move(text);
      }
      record.top.push_back(std::move(snippet));
    }
    report.features.push_back(std::move(record));
  }
  if (inputs.embeddings != nullptr) {
    // R dominates the report's time (a matrix product per feature), and the
    // features are independent: spread them over the intra-op threads.
    std::vector<absl::Status> errors(report.features.size());
    at::parallel_for(0, stats.n_latents(), 16, [&](int64_t begin, int64_t end) {
      for (int64_t id = begin; id < end; ++id) {
        const FeatureStats& f = stats.feature(id);
        if (f.dead()) continue;
        absl::StatusOr<Monosemanticity> m =
            ComputeMonosemanticity(f.token_counts, *inputs.embeddings, options.monosemanticity);
        const auto i = static_cast<size_t>(id);
        if (!m.ok()) {
          errors[i] = WithFeature(m.status(), id);
          continue;
        }
        FeatureRecord& record = report.features[i];
        record.r = m->r;
        record.token_entropy = m->token_entropy;
        record.semantic_entropy = m->semantic_entropy;
        record.clusters = m->clusters;
      }
    });
    for (const absl::Status& error : errors) {
      if (!error.ok()) return error;
    }
  }
  report.summary = Summarize(report.features);
  return report;
}

SaeSummary Summarize(absl::Span<const FeatureRecord> records) {
  SaeSummary s;
  s.n_latents = static_cast<int64_t>(records.size());
  double r_sum = 0;
  int64_t r_count = 0;
  double span_sum = 0;
  for (const FeatureRecord& record : records) {
    switch (record.language) {
      case FeatureLanguage::kJapanese: ++s.japanese; break;
      case FeatureLanguage::kEnglish: ++s.english; break;
      case FeatureLanguage::kMixed: ++s.mixed; break;
      case FeatureLanguage::kDead: ++s.dead; break;
    }
    if (record.language == FeatureLanguage::kDead) continue;
    ++s.live;
    span_sum += record.mean_span;
    if (std::isfinite(record.r)) {
      r_sum += record.r;
      ++r_count;
    }
  }
  if (s.n_latents > 0) {
    const auto n = static_cast<double>(s.n_latents);
    s.fraction_japanese = static_cast<double>(s.japanese) / n;
    s.fraction_english = static_cast<double>(s.english) / n;
    s.fraction_mixed = static_cast<double>(s.mixed) / n;
    s.fraction_dead = static_cast<double>(s.dead) / n;
  }
  if (s.live > 0) s.mean_span = span_sum / static_cast<double>(s.live);
  if (r_count > 0) s.mean_r = r_sum / static_cast<double>(r_count);
  return s;
}

nlohmann::json FeatureReportToJson(const FeatureReport& report) {
  Json features = Json::array();
  for (const FeatureRecord& record : report.features) {
    Json top = Json::array();
    for (const FeatureSnippet& snippet : record.top) {
      top.push_back({{"value", snippet.example.value},
                     {"window", snippet.example.window},
                     {"position", snippet.example.position},
                     {"token_id", snippet.example.token_id},
                     {"text", snippet.text}});
    }
    features.push_back({{"id", record.id},
                        {"class", FeatureLanguageName(record.language)},
                        {"r", NumberOrNull(record.r)},
                        {"token_entropy", NumberOrNull(record.token_entropy)},
                        {"semantic_entropy", NumberOrNull(record.semantic_entropy)},
                        {"distinct_tokens", record.distinct_tokens},
                        {"clusters", record.clusters},
                        {"mean_span", record.mean_span},
                        {"count", record.count},
                        {"en_count", record.en_count},
                        {"ja_count", record.ja_count},
                        {"top", std::move(top)}});
  }
  const SaeSummary& s = report.summary;
  return Json{{"rule", LanguageRuleName(report.rule)},
              {"threshold", report.threshold},
              {"similarity_threshold", report.monosemanticity.similarity_threshold},
              {"max_tokens", report.monosemanticity.max_tokens},
              {"summary",
               {{"n_latents", s.n_latents},
                {"live", s.live},
                {"japanese", s.japanese},
                {"english", s.english},
                {"mixed", s.mixed},
                {"dead", s.dead},
                {"fraction_japanese", s.fraction_japanese},
                {"fraction_english", s.fraction_english},
                {"fraction_mixed", s.fraction_mixed},
                {"fraction_dead", s.fraction_dead},
                {"mean_r", NumberOrNull(s.mean_r)},
                {"mean_span", NumberOrNull(s.mean_span)}}},
              {"features", std::move(features)}};
}

absl::Status WriteFeaturesJson(const FeatureReport& report, const std::filesystem::path& path) {
  // Snippets may cut a multi-byte character (byte-fallback tokens); replace
  // rather than let dump() throw.
  const std::string text = FeatureReportToJson(report).dump(-1, ' ', false, Json::error_handler_t::replace);
  return fs::WriteFileAtomically(path, text);
}

}  // namespace expsvc::lm
