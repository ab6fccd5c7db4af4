#pragma once
// `expctl report` for the SAE study (Study 2): from the analyze_sae jobs of a
// sweep, per model (a) layer x checkpoint tables of the Mixed fraction and
// the mean monosemanticity R, and (b) at one layer, the fractions of
// Japanese / English / Mixed / dead features over checkpoints (the study's
// main figure as text). Pure functions of the jobs' params and last metric
// values, unit-tested without a server; the rules are in client/README.md
// ("report").

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "client/expctl/report_table.h"
#include "nlohmann/json.hpp"

namespace expsvc::expctl {

// The metrics an analyze_sae job reports that the SAE report shows.
inline constexpr char kSaeFractionJapanese[] = "fraction_japanese";
inline constexpr char kSaeFractionEnglish[] = "fraction_english";
inline constexpr char kSaeFractionMixed[] = "fraction_mixed";
inline constexpr char kSaeFractionDead[] = "fraction_dead";
inline constexpr char kSaeMeanR[] = "mean_r";
inline constexpr char kSaeMeanSpan[] = "mean_span";

// The metrics shown, in CSV and JSON order.
const std::vector<std::string>& SaeMetricKeys();
// The language table's columns: {metric key, header}, Japanese / English /
// Mixed / dead.
const std::vector<std::pair<std::string, std::string>>& SaeLanguageColumns();

struct SaeCell {
  // Jobs that reported the metric for this cell; 0 shows as "-".
  int64_t count = 0;
  // Their mean (repeated analyses of one SAE are averaged).
  double value = 0;
};

struct SaeModelReport {
  // The jobs' `model` param; empty when they have none (the checkpoints of
  // a train_lm job in the sweep).
  std::string model;
  // Every layer and checkpoint some job of the model has, ascending.
  std::vector<int64_t> layers;
  std::vector<int64_t> checkpoints;
  // Per key of SaeMetricKeys(): [layer][checkpoint].
  std::map<std::string, std::vector<std::vector<SaeCell>>> cells;
  // Analyze_sae jobs per [layer][checkpoint].
  std::vector<std::vector<int64_t>> jobs;
  // The layer of the language table; unset when the model lacks --layer.
  std::optional<int64_t> language_layer;

  const SaeCell& Cell(const std::string& metric, size_t layer_index, size_t checkpoint_index) const {
    return cells.at(metric)[layer_index][checkpoint_index];
  }
};

struct SaeReport {
  // In the order of each model's first job (the sweep file's order).
  std::vector<SaeModelReport> models;
  // --layer as given.
  std::optional<int64_t> layer;
};

struct SaeReportOptions {
  // --layer; unset: per model, the middle of the layers its jobs have
  // (the lower middle for an even count: 6 of 1..12).
  std::optional<int64_t> layer;
};

inline constexpr char kAnalyzeSaeKind[] = "analyze_sae";

// Where an analysis sits in the report: its `model` param ("" when absent,
// JSON text when not a string), and integer `layer` and `checkpoint`
// (12.0 counts). Unset when either is not an integer (left out of reports).
struct SaeSite {
  std::string model;
  int64_t layer = 0;
  int64_t checkpoint = 0;
  auto operator<=>(const SaeSite&) const = default;
};
std::optional<SaeSite> SaeSiteOf(const nlohmann::json& params);

// Every analyze_sae job of `records`, reported or not (pending cells show as
// "-"), with its last values from `reported` when it has any.
std::vector<ReportJob> SaeAnalysisJobs(const std::vector<v1::Job>& records, const std::vector<ReportJob>& reported);

// `jobs` are the sweep's analyze_sae jobs, reported or not (a job without
// metrics keeps its place with "-" cells). Layers and checkpoints are
// ordered numerically; a job whose `layer` or `checkpoint` is not an
// integer is left out. Errors: FAILED_PRECONDITION when no job is left; a
// usage error when --layer names a layer no model has.
absl::StatusOr<SaeReport> BuildSaeReport(const std::vector<ReportJob>& jobs, const SaeReportOptions& options = {});

// Per model ("## model NAME" when it has a name): the Mixed fraction and
// mean R tables (layer rows, checkpoint columns) and the language table of
// the chosen layer, as GitHub markdown padded to read as plain text; 3
// decimals, "-" for a missing value, " (n=k)" for a mean over k > 1 jobs.
std::string RenderSaeReportMarkdown(const SaeReport& report);
// Long form, one line per model x layer x checkpoint: model, layer,
// checkpoint, the six metrics (full precision, empty when missing), jobs.
std::string RenderSaeReportCsv(const SaeReport& report);
// {"models": [{"model", "layers", "checkpoints", "language_layer",
//   "values": {METRIC: [[per checkpoint] per layer]}, "jobs": [[..]]}]};
// a missing value (or NaN) is null.
nlohmann::json SaeReportToJson(const SaeReport& report);

}  // namespace expsvc::expctl
