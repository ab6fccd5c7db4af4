#include "client/expctl/sae_report.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/format.h"
#include "client/expctl/params.h"
#include "client/expctl/table.h"

namespace expsvc::expctl {
namespace {

// An integer parameter; 12.0 counts (JSON from other tools may write it so).
std::optional<int64_t> IntegerParam(const nlohmann::json& params, const char* name) {
  if (!params.is_object() || !params.contains(name)) return std::nullopt;
  const nlohmann::json& value = params[name];
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::nearbyint(number) == number && std::fabs(number) < 9e15) return static_cast<int64_t>(number);
  }
  return std::nullopt;
}

std::string ModelOf(const nlohmann::json& params) {
  if (!params.is_object() || !params.contains("model")) return "";
  const nlohmann::json& value = params["model"];
  if (value.is_string()) return value.get<std::string>();
  return value.is_null() ? "" : value.dump();
}

size_t IndexOf(const std::vector<int64_t>& sorted, int64_t value) {
  return static_cast<size_t>(std::lower_bound(sorted.begin(), sorted.end(), value) - sorted.begin());
}

// Checkpoint 0 is "the parent train_lm job's last" (common/kinds/sae_kinds.h).
std::string CheckpointText(int64_t checkpoint) {
  return checkpoint == 0 ? std::string("last") : absl::StrCat(checkpoint);
}

std::string CellText(const SaeCell& cell) {
  if (cell.count == 0) return "-";
  std::string text = std::isfinite(cell.value) ? absl::StrFormat("%.3f", cell.value) : FormatNumber(cell.value);
  if (cell.count > 1) absl::StrAppend(&text, " (n=", cell.count, ")");
  return text;
}

nlohmann::json CellJson(const SaeCell& cell) {
  return cell.count > 0 && std::isfinite(cell.value) ? nlohmann::json(cell.value) : nlohmann::json(nullptr);
}

// A GitHub markdown table padded to read as plain text; every column but
// the first right-aligned (they are numbers).
std::string MarkdownTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<int> widths;
  for (const std::string& header : headers) widths.push_back(std::max(3, DisplayWidth(header)));
  for (const auto& cells : rows) {
    for (size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(cells[i]));
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text = "|";
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string& cell = i < cells.size() ? cells[i] : "";
      const std::string padding(static_cast<size_t>(widths[i] - DisplayWidth(cell)), ' ');
      absl::StrAppend(&text, " ", i > 0 ? padding + cell : cell + padding, " |");
    }
    return absl::StrCat(text, "\n");
  };
  std::string text = line(headers);
  absl::StrAppend(&text, "|");
  for (size_t i = 0; i < widths.size(); ++i) {
    const auto dashes = static_cast<size_t>(widths[i]);
    absl::StrAppend(&text, " ", i > 0 ? std::string(dashes - 1, '-') + ":" : std::string(dashes, '-'), " |");
  }
  absl::StrAppend(&text, "\n");
  for (const auto& cells : rows) absl::StrAppend(&text, line(cells));
  return text;
}

std::string GridMarkdown(const SaeModelReport& model, const std::string& metric) {
  std::vector<std::string> headers = {"layer"};
  for (int64_t checkpoint : model.checkpoints) headers.push_back(CheckpointText(checkpoint));
  std::vector<std::vector<std::string>> rows;
  for (size_t l = 0; l < model.layers.size(); ++l) {
    std::vector<std::string> cells = {absl::StrCat(model.layers[l])};
    for (size_t c = 0; c < model.checkpoints.size(); ++c) cells.push_back(CellText(model.Cell(metric, l, c)));
    rows.push_back(std::move(cells));
  }
  return MarkdownTable(headers, rows);
}

std::string LanguagesMarkdown(const SaeModelReport& model) {
  std::vector<std::string> headers = {"checkpoint"};
  for (const auto& [key, label] : SaeLanguageColumns()) headers.push_back(label);
  const size_t l = IndexOf(model.layers, *model.language_layer);
  std::vector<std::vector<std::string>> rows;
  for (size_t c = 0; c < model.checkpoints.size(); ++c) {
    std::vector<std::string> cells = {CheckpointText(model.checkpoints[c])};
    for (const auto& [key, label] : SaeLanguageColumns()) cells.push_back(CellText(model.Cell(key, l, c)));
    rows.push_back(std::move(cells));
  }
  return MarkdownTable(headers, rows);
}

}  // namespace

std::optional<SaeSite> SaeSiteOf(const nlohmann::json& params) {
  const std::optional<int64_t> layer = IntegerParam(params, "layer");
  const std::optional<int64_t> checkpoint = IntegerParam(params, "checkpoint");
  if (!layer.has_value() || !checkpoint.has_value()) return std::nullopt;
  return SaeSite{.model = ModelOf(params), .layer = *layer, .checkpoint = *checkpoint};
}

std::vector<ReportJob> SaeAnalysisJobs(const std::vector<v1::Job>& records, const std::vector<ReportJob>& reported) {
  std::map<int64_t, const ReportJob*> metrics_by_job;
  for (const ReportJob& job : reported) metrics_by_job[job.job_id] = &job;
  std::vector<ReportJob> analyses;
  for (const v1::Job& job : records) {
    if (job.kind() != kAnalyzeSaeKind) continue;
    ReportJob& analysis = analyses.emplace_back();
    analysis.job_id = job.id();
    analysis.params = ParseParamsJson(job.params_json());
    if (auto found = metrics_by_job.find(job.id()); found != metrics_by_job.end()) {
      analysis.metrics = found->second->metrics;
    }
  }
  return analyses;
}

const std::vector<std::string>& SaeMetricKeys() {
  static const auto* const keys = new std::vector<std::string>{kSaeFractionJapanese, kSaeFractionEnglish,
                                                               kSaeFractionMixed, kSaeFractionDead, kSaeMeanR,
                                                               kSaeMeanSpan};
  return *keys;
}

const std::vector<std::pair<std::string, std::string>>& SaeLanguageColumns() {
  static const auto* const columns = new std::vector<std::pair<std::string, std::string>>{
      {kSaeFractionJapanese, "Japanese"},
      {kSaeFractionEnglish, "English"},
      {kSaeFractionMixed, "Mixed"},
      {kSaeFractionDead, "dead"},
  };
  return *columns;
}

absl::StatusOr<SaeReport> BuildSaeReport(const std::vector<ReportJob>& jobs, const SaeReportOptions& options) {
  struct Site {
    const ReportJob* job;
    int64_t layer;
    int64_t checkpoint;
  };
  // Job ids rise in the sweep file's order, so the first job of each model
  // puts the models in the file's order.
  std::vector<const ReportJob*> by_id;
  for (const ReportJob& job : jobs) by_id.push_back(&job);
  std::sort(by_id.begin(), by_id.end(), [](const ReportJob* a, const ReportJob* b) { return a->job_id < b->job_id; });
  std::vector<std::string> model_order;
  std::map<std::string, std::vector<Site>> sites;
  for (const ReportJob* job : by_id) {
    const std::optional<SaeSite> site = SaeSiteOf(job->params);
    if (!site) continue;
    if (!sites.contains(site->model)) model_order.push_back(site->model);
    sites[site->model].push_back({job, site->layer, site->checkpoint});
  }
  if (model_order.empty()) {
    return absl::FailedPreconditionError("the sweep has no analyze_sae jobs with integer 'layer' and 'checkpoint'");
  }

  SaeReport report;
  report.layer = options.layer;
  std::set<int64_t> all_layers;
  for (const std::string& name : model_order) {
    SaeModelReport& model = report.models.emplace_back();
    model.model = name;
    std::set<int64_t> layers, checkpoints;
    for (const Site& site : sites[name]) {
      layers.insert(site.layer);
      checkpoints.insert(site.checkpoint);
    }
    all_layers.insert(layers.begin(), layers.end());
    model.layers.assign(layers.begin(), layers.end());
    model.checkpoints.assign(checkpoints.begin(), checkpoints.end());
    const std::vector<std::vector<SaeCell>> empty(model.layers.size(), std::vector<SaeCell>(model.checkpoints.size()));
    for (const std::string& key : SaeMetricKeys()) model.cells[key] = empty;
    model.jobs.assign(model.layers.size(), std::vector<int64_t>(model.checkpoints.size(), 0));
    for (const Site& site : sites[name]) {
      const size_t l = IndexOf(model.layers, site.layer);
      const size_t c = IndexOf(model.checkpoints, site.checkpoint);
      ++model.jobs[l][c];
      for (const std::string& key : SaeMetricKeys()) {
        auto found = site.job->metrics.find(key);
        if (found == site.job->metrics.end()) continue;
        SaeCell& cell = model.cells[key][l][c];
        cell.value += found->second;  // a sum until divided below
        ++cell.count;
      }
    }
    for (auto& [key, grid] : model.cells) {
      for (auto& row : grid) {
        for (SaeCell& cell : row) {
          if (cell.count > 0) cell.value /= static_cast<double>(cell.count);
        }
      }
    }
    if (!options.layer) {
      model.language_layer = model.layers[(model.layers.size() - 1) / 2];
    } else if (layers.contains(*options.layer)) {
      model.language_layer = *options.layer;
    }
  }
  if (options.layer && !all_layers.contains(*options.layer)) {
    return UsageError(absl::StrCat("--layer: no analyze_sae job has layer ", *options.layer,
                                   " (layers: ", absl::StrJoin(all_layers, ", "), ")"));
  }
  return report;
}

std::string RenderSaeReportMarkdown(const SaeReport& report) {
  std::string text;
  const bool headings = report.models.size() > 1 || !report.models.front().model.empty();
  for (const SaeModelReport& model : report.models) {
    if (!text.empty()) absl::StrAppend(&text, "\n");
    if (headings) absl::StrAppend(&text, "## model ", model.model.empty() ? "-" : model.model, "\n\n");
    absl::StrAppend(&text, "Mixed fraction (fraction_mixed); rows: layer, columns: checkpoint (step)\n\n",
                    GridMarkdown(model, kSaeFractionMixed));
    absl::StrAppend(&text, "\nMean R (mean_r); rows: layer, columns: checkpoint (step)\n\n",
                    GridMarkdown(model, kSaeMeanR));
    if (model.language_layer) {
      absl::StrAppend(&text, "\nLanguages at layer ", *model.language_layer, " (fractions of all latents)\n\n",
                      LanguagesMarkdown(model));
    } else {
      absl::StrAppend(&text, "\nNo analysis at layer ", report.layer.value_or(0), " in this model (layers ",
                      absl::StrJoin(model.layers, ", "), ").\n");
    }
  }
  return text;
}

std::string RenderSaeReportCsv(const SaeReport& report) {
  std::vector<TableColumn> headers = {{"model"}, {"layer"}, {"checkpoint"}};
  for (const std::string& key : SaeMetricKeys()) headers.push_back({key});
  headers.push_back({"jobs"});
  Table csv(std::move(headers));
  for (const SaeModelReport& model : report.models) {
    for (size_t l = 0; l < model.layers.size(); ++l) {
      for (size_t c = 0; c < model.checkpoints.size(); ++c) {
        if (model.jobs[l][c] == 0) continue;
        std::vector<std::string> cells = {model.model, absl::StrCat(model.layers[l]),
                                          absl::StrCat(model.checkpoints[c])};
        for (const std::string& key : SaeMetricKeys()) {
          const SaeCell& cell = model.Cell(key, l, c);
          cells.push_back(cell.count > 0 ? FormatNumberExact(cell.value) : "");
        }
        cells.push_back(absl::StrCat(model.jobs[l][c]));
        csv.AddRow(std::move(cells));
      }
    }
  }
  return csv.RenderCsv();
}

nlohmann::json SaeReportToJson(const SaeReport& report) {
  nlohmann::json models = nlohmann::json::array();
  for (const SaeModelReport& model : report.models) {
    nlohmann::json values = nlohmann::json::object();
    for (const std::string& key : SaeMetricKeys()) {
      nlohmann::json grid = nlohmann::json::array();
      for (size_t l = 0; l < model.layers.size(); ++l) {
        nlohmann::json row = nlohmann::json::array();
        for (size_t c = 0; c < model.checkpoints.size(); ++c) row.push_back(CellJson(model.Cell(key, l, c)));
        grid.push_back(std::move(row));
      }
      values[key] = std::move(grid);
    }
    models.push_back(
        {{"model", model.model},
         {"layers", model.layers},
         {"checkpoints", model.checkpoints},
         {"language_layer", model.language_layer ? nlohmann::json(*model.language_layer) : nlohmann::json(nullptr)},
         {"values", std::move(values)},
         {"jobs", model.jobs}});
  }
  return {{"models", std::move(models)}};
}

}  // namespace expsvc::expctl
