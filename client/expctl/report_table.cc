#include "client/expctl/report_table.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/format.h"
#include "client/expctl/params.h"
#include "client/expctl/table.h"
#include "common/kinds/job_kind_catalog.h"

namespace expsvc::expctl {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A parameter with choices in the job-kind catalog sorts in the catalog's
// order (the attention variants and representations in the paper's order);
// nullptr when no kind gives it choices.
const std::vector<std::string>* ChoiceOrder(const std::string& param) {
  for (const JobKindSpec& kind : AllJobKinds()) {
    const ParamSpec* spec = kind.FindParam(param);
    if (spec != nullptr && !spec->choices.empty()) return &spec->choices;
  }
  return nullptr;
}

// Position of a string value in `order`; values not listed come after.
int RankIn(const std::vector<std::string>& order, const nlohmann::json& value) {
  if (value.is_string()) {
    auto found = std::find(order.begin(), order.end(), value.get<std::string>());
    if (found != order.end()) return static_cast<int>(found - order.begin());
  }
  return static_cast<int>(order.size());
}

// numbers < strings < anything else; null (missing) is handled by the caller.
int TypeRank(const nlohmann::json& value) {
  if (value.is_number()) return 0;
  if (value.is_string()) return 1;
  return 2;
}

int Compare(double a, double b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// Numbers ascending, then strings lexicographically, then the rest by JSON text.
int CompareGeneric(const nlohmann::json& a, const nlohmann::json& b) {
  if (int by_type = TypeRank(a) - TypeRank(b); by_type != 0) return by_type;
  if (a.is_number()) return Compare(a.get<double>(), b.get<double>());
  const std::string a_text = a.is_string() ? a.get<std::string>() : a.dump();
  const std::string b_text = b.is_string() ? b.get<std::string>() : b.dump();
  return a_text.compare(b_text);
}

int CompareRowValues(const std::string& param, const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_null() || b.is_null()) return static_cast<int>(a.is_null()) - static_cast<int>(b.is_null());
  if (const std::vector<std::string>* order = ChoiceOrder(param); order != nullptr) {
    if (int by_rank = RankIn(*order, a) - RankIn(*order, b); by_rank != 0) return by_rank;
  } else if (param == "data_fraction" && a.is_number() && b.is_number()) {
    return Compare(b.get<double>(), a.get<double>());  // the full data set first
  }
  return CompareGeneric(a, b);
}

nlohmann::json ParamOrNull(const nlohmann::json& params, const std::string& name) {
  return params.is_object() && params.contains(name) ? params[name] : nlohmann::json();
}

bool HasAnyKey(const ReportJob& job, const ReportColumn& column) {
  return std::any_of(column.keys.begin(), column.keys.end(),
                     [&](const std::string& key) { return job.metrics.count(key) > 0; });
}

bool HasAnyColumn(const ReportJob& job, const std::vector<ReportColumn>& columns) {
  return std::any_of(columns.begin(), columns.end(),
                     [&](const ReportColumn& column) { return HasAnyKey(job, column); });
}

std::string AvailableKeys(const std::vector<ReportJob>& jobs) {
  std::set<std::string> keys;
  for (const ReportJob& job : jobs) {
    for (const auto& [key, value] : job.metrics) keys.insert(key);
  }
  return keys.empty() ? std::string("none") : absl::StrJoin(keys, ", ");
}

ReportCell SummariseCell(const ReportColumn& column, const std::vector<const ReportJob*>& jobs) {
  ReportCell cell{.key = "", .count = 0, .mean = kNaN, .std_dev = kNaN};
  for (const std::string& key : column.keys) {
    std::vector<double> values;
    for (const ReportJob* job : jobs) {
      if (auto found = job->metrics.find(key); found != job->metrics.end()) {
        values.push_back(found->second);
      }
    }
    if (values.empty()) continue;
    cell.key = key;
    cell.count = static_cast<int64_t>(values.size());
    double sum = 0;
    for (double value : values) sum += value;
    cell.mean = sum / static_cast<double>(values.size());
    if (values.size() >= 2) {
      double squares = 0;
      for (double value : values) squares += (value - cell.mean) * (value - cell.mean);
      cell.std_dev = std::sqrt(squares / static_cast<double>(values.size() - 1));
    }
    break;
  }
  return cell;
}

// "4321000" -> "4,321,000".
std::string WithThousandsSeparators(double value) {
  if (!std::isfinite(value)) return FormatNumber(value);
  const long long rounded = std::llround(value);
  std::string digits = absl::StrCat(rounded < 0 ? -rounded : rounded);
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(digits[i]);
  }
  return rounded < 0 ? absl::StrCat("-", grouped) : grouped;
}

std::string FormatValue(const ReportColumn& column, double value) {
  switch (column.style) {
    case ValueStyle::kInteger: return WithThousandsSeparators(value);
    case ValueStyle::kFixed: return absl::StrFormat("%.*f", column.digits, value);
    case ValueStyle::kSignificant: return absl::StrFormat("%.*g", column.digits, value);
  }
  return FormatNumber(value);
}

std::string MarkdownCell(const ReportColumn& column, const ReportRow& row, const ReportCell& cell) {
  if (cell.count == 0) return "-";
  std::string text = FormatValue(column, cell.mean);
  // Counts such as the parameter count are usually equal across seeds;
  // "± 0" would only be noise there.
  const bool integer_without_spread =
      column.style == ValueStyle::kInteger && std::isfinite(cell.std_dev) && std::llround(cell.std_dev) == 0;
  if (cell.count >= 2 && !integer_without_spread) {
    absl::StrAppend(&text, " ± ", FormatValue(column, cell.std_dev));
  }
  if (cell.count < row.repetitions) absl::StrAppend(&text, " (n=", cell.count, ")");
  if (cell.key != column.keys.front()) absl::StrAppend(&text, " †");
  return text;
}

// A cell's text must not end the markdown cell early.
std::string EscapeMarkdown(const std::string& text) {
  return absl::StrReplaceAll(text, {{"|", "\\|"}, {"\n", " "}});
}

std::string RowValueText(const nlohmann::json& value, absl::string_view missing) {
  return value.is_null() ? std::string(missing) : FormatParamValue(value);
}

nlohmann::json JsonNumber(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace

std::vector<ReportJob> ReportJobsFromMetrics(const v1::QueryMetricsResponse& response) {
  std::vector<ReportJob> jobs;
  for (const v1::MetricsRow& row : response.rows()) {
    ReportJob job;
    job.job_id = row.job_id();
    job.params = ParseParamsJson(row.params_json());
    job.metrics.insert(row.values().begin(), row.values().end());
    jobs.push_back(std::move(job));
  }
  return jobs;
}

std::vector<ReportColumn> DefaultReportColumns() {
  return {
      {"params", "Params", {"params"}, ValueStyle::kInteger, 0},
      {"ms_per_note", "ms/note", {"ms_per_note"}, ValueStyle::kFixed, 2},
      {"loss", "Loss", {"test_loss", "eval_loss"}, ValueStyle::kFixed, 3},
      {"note_f1", "F1 note", {"note_f1"}, ValueStyle::kFixed, 3},
      {"pianoroll_f1", "F1 pianoroll", {"pianoroll_f1"}, ValueStyle::kFixed, 3},
      {"grooving_similarity", "GS", {"grooving_similarity"}, ValueStyle::kFixed, 3},
      {"chroma_similarity", "CS", {"chroma_similarity"}, ValueStyle::kFixed, 3},
      {"pitch_range_similarity", "PRS", {"pitch_range_similarity"}, ValueStyle::kFixed, 3},
  };
}

ReportColumn ColumnForMetricKey(const std::string& key) {
  ReportColumn column{key, key, {key}, ValueStyle::kSignificant, 4};
  for (const ReportColumn& known : DefaultReportColumns()) {
    if (std::find(known.keys.begin(), known.keys.end(), key) != known.keys.end()) {
      column.style = known.style;
      column.digits = known.digits;
    }
  }
  return column;
}

void InheritParentParams(std::vector<ReportJob>& jobs, const std::vector<v1::Job>& records) {
  std::map<int64_t, std::vector<int64_t>> parents;
  std::map<int64_t, nlohmann::json> params;
  for (const v1::Job& job : records) {
    parents[job.id()] = std::vector<int64_t>(job.parent_ids().begin(), job.parent_ids().end());
    params[job.id()] = nlohmann::json::parse(job.params_json(), nullptr, /*allow_exceptions=*/false);
  }
  InheritParentParams(jobs, parents, params);
}

void InheritParentParams(std::vector<ReportJob>& jobs, const std::map<int64_t, std::vector<int64_t>>& parents,
                         const std::map<int64_t, nlohmann::json>& params) {
  const auto missing = [](const nlohmann::json& object, const std::string& key) {
    if (!object.is_object() || !object.contains(key)) return true;
    const nlohmann::json& value = object[key];
    return value.is_null() || (value.is_string() && value.get<std::string>().empty());
  };
  for (ReportJob& job : jobs) {
    if (!job.params.is_object()) job.params = nlohmann::json::object();
    // Breadth-first over the ancestors; the nearest one that has a key wins.
    std::vector<int64_t> frontier = {job.job_id};
    std::set<int64_t> seen = {job.job_id};
    while (!frontier.empty()) {
      std::vector<int64_t> next;
      for (int64_t id : frontier) {
        const auto found = parents.find(id);
        if (found == parents.end()) continue;
        for (int64_t parent : found->second) {
          if (!seen.insert(parent).second) continue;
          next.push_back(parent);
          const auto parent_params = params.find(parent);
          if (parent_params == params.end() || !parent_params->second.is_object()) continue;
          for (const auto& [key, value] : parent_params->second.items()) {
            if (missing(job.params, key) && !missing(parent_params->second, key)) job.params[key] = value;
          }
        }
      }
      frontier = std::move(next);
    }
  }
}

std::vector<std::string> DefaultRowParams(const std::vector<ReportJob>& all_jobs) {
  // Jobs of other studies in the same sweep (none of these parameters) do
  // not decide the rows.
  std::vector<ReportJob> jobs;
  for (const ReportJob& job : all_jobs) {
    for (const char* name : {"representation", "data_fraction", "attention"}) {
      if (job.params.is_object() && job.params.contains(name) && !job.params[name].is_null()) {
        jobs.push_back(job);
        break;
      }
    }
  }
  auto distinct_values = [&](const std::string& name) {
    std::set<std::string> values;
    for (const ReportJob& job : jobs) {
      values.insert(job.params.is_object() && job.params.contains(name) ? job.params[name].dump()
                                                                        : std::string("<absent>"));
    }
    return values.size();
  };
  auto present = [&](const std::string& name) {
    return std::any_of(jobs.begin(), jobs.end(),
                       [&](const ReportJob& job) { return job.params.is_object() && job.params.contains(name); });
  };
  std::vector<std::string> rows;
  for (const char* name : {"representation", "data_fraction"}) {
    if (present(name) && distinct_values(name) > 1) rows.push_back(name);
  }
  if (present("attention")) rows.push_back("attention");
  // The event-based pitch rule splits a variant's rows when it varies.
  if (present("event_pitch_rule") && distinct_values("event_pitch_rule") > 1) rows.push_back("event_pitch_rule");
  return rows;
}

absl::StatusOr<ReportTable> BuildReportTable(const std::vector<ReportJob>& jobs, const ReportOptions& options) {
  if (jobs.empty()) return absl::FailedPreconditionError("the sweep has no jobs");
  ReportTable table;
  if (options.column_keys.empty()) {
    for (ReportColumn& column : DefaultReportColumns()) {
      const bool reported =
          std::any_of(jobs.begin(), jobs.end(), [&](const ReportJob& job) { return HasAnyKey(job, column); });
      if (reported) table.columns.push_back(std::move(column));
    }
  } else {
    for (const std::string& key : options.column_keys) {
      table.columns.push_back(ColumnForMetricKey(key));
    }
  }

  std::vector<ReportJob> reported;
  for (const ReportJob& job : jobs) {
    if (HasAnyColumn(job, table.columns)) reported.push_back(job);
  }
  if (reported.empty()) {
    std::vector<std::string> wanted;
    for (const ReportColumn& column : options.column_keys.empty() ? DefaultReportColumns() : table.columns) {
      wanted.insert(wanted.end(), column.keys.begin(), column.keys.end());
    }
    return absl::FailedPreconditionError(
        absl::StrCat("no job of the sweep has any of the metrics ", absl::StrJoin(wanted, ", "),
                     "; its jobs report: ", AvailableKeys(jobs), " (pick some with --columns)"));
  }

  table.row_params = options.row_params.empty() ? DefaultRowParams(reported) : options.row_params;
  // A job with none of the row parameters belongs to no row (e.g. an LM
  // job in a sweep that also trains music models).
  if (!table.row_params.empty()) {
    std::erase_if(reported, [&](const ReportJob& job) {
      return std::all_of(table.row_params.begin(), table.row_params.end(),
                         [&](const std::string& param) { return ParamOrNull(job.params, param).is_null(); });
    });
  }
  for (const std::string& param : table.row_params) {
    const bool any = std::any_of(reported.begin(), reported.end(),
                                 [&](const ReportJob& job) { return !ParamOrNull(job.params, param).is_null(); });
    if (!any) {
      return UsageError(absl::StrCat("--rows: no reported job has the parameter '", param, "'"));
    }
  }

  // Group by the row parameters' values (their JSON text, so 1 and "1" differ).
  std::map<std::vector<std::string>, std::vector<const ReportJob*>> groups;
  for (const ReportJob& job : reported) {
    std::vector<std::string> key;
    for (const std::string& param : table.row_params) {
      key.push_back(ParamOrNull(job.params, param).dump());
    }
    groups[key].push_back(&job);
  }
  for (auto& [key, members] : groups) {
    ReportRow row;
    for (const std::string& param : table.row_params) {
      row.values.push_back(ParamOrNull(members.front()->params, param));
    }
    for (const ReportJob* job : members) row.job_ids.push_back(job->job_id);
    std::sort(row.job_ids.begin(), row.job_ids.end());
    for (const ReportColumn& column : table.columns) {
      row.cells.push_back(SummariseCell(column, members));
      row.repetitions = std::max(row.repetitions, row.cells.back().count);
    }
    table.rows.push_back(std::move(row));
  }
  std::sort(table.rows.begin(), table.rows.end(), [&](const ReportRow& a, const ReportRow& b) {
    for (size_t i = 0; i < table.row_params.size(); ++i) {
      if (int order = CompareRowValues(table.row_params[i], a.values[i], b.values[i]); order != 0) {
        return order < 0;
      }
    }
    return false;
  });
  return table;
}

std::string RenderReportMarkdown(const ReportTable& table) {
  std::vector<std::string> headers = table.row_params;
  headers.push_back("n");
  for (const ReportColumn& column : table.columns) headers.push_back(column.label);
  const size_t right_from = table.row_params.size();  // n and the values are right-aligned

  std::vector<std::vector<std::string>> body;
  std::vector<bool> fallback_used(table.columns.size(), false);
  for (const ReportRow& row : table.rows) {
    std::vector<std::string> cells;
    for (const nlohmann::json& value : row.values) cells.push_back(RowValueText(value, "-"));
    cells.push_back(absl::StrCat(row.repetitions));
    for (size_t c = 0; c < table.columns.size(); ++c) {
      cells.push_back(MarkdownCell(table.columns[c], row, row.cells[c]));
      const ReportCell& cell = row.cells[c];
      if (cell.count > 0 && cell.key != table.columns[c].keys.front()) fallback_used[c] = true;
    }
    for (std::string& cell : cells) cell = EscapeMarkdown(cell);
    body.push_back(std::move(cells));
  }

  std::vector<int> widths;
  for (const std::string& header : headers) widths.push_back(std::max(3, DisplayWidth(header)));
  for (const auto& cells : body) {
    for (size_t i = 0; i < cells.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(cells[i]));
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text = "|";
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string padding(static_cast<size_t>(widths[i] - DisplayWidth(cells[i])), ' ');
      absl::StrAppend(&text, " ", i >= right_from ? padding + cells[i] : cells[i] + padding, " |");
    }
    return absl::StrCat(text, "\n");
  };

  std::string text = line(headers);
  absl::StrAppend(&text, "|");
  for (size_t i = 0; i < headers.size(); ++i) {
    const size_t dashes = static_cast<size_t>(widths[i]);
    absl::StrAppend(&text, " ", i >= right_from ? std::string(dashes - 1, '-') + ":" : std::string(dashes, '-'), " |");
  }
  absl::StrAppend(&text, "\n");
  for (const auto& cells : body) absl::StrAppend(&text, line(cells));
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (!fallback_used[c]) continue;
    const ReportColumn& column = table.columns[c];
    absl::StrAppend(&text, "\n† ", column.label, ": from ",
                    absl::StrJoin(column.keys.begin() + 1, column.keys.end(), " or "), " where the row has no ",
                    column.keys.front(), ".\n");
  }
  return text;
}

std::string RenderReportCsv(const ReportTable& table) {
  std::vector<TableColumn> headers;
  for (const std::string& param : table.row_params) headers.push_back({param});
  headers.push_back({"n"});
  for (const ReportColumn& column : table.columns) {
    for (const char* suffix : {"_mean", "_std", "_n"}) headers.push_back({column.id + suffix});
    if (column.keys.size() > 1) headers.push_back({column.id + "_key"});
  }
  Table csv(std::move(headers));
  for (const ReportRow& row : table.rows) {
    std::vector<std::string> cells;
    for (const nlohmann::json& value : row.values) cells.push_back(RowValueText(value, ""));
    cells.push_back(absl::StrCat(row.repetitions));
    for (size_t c = 0; c < table.columns.size(); ++c) {
      const ReportCell& cell = row.cells[c];
      const bool present = cell.count > 0;
      cells.push_back(present ? FormatNumberExact(cell.mean) : "");
      cells.push_back(cell.count >= 2 ? FormatNumberExact(cell.std_dev) : "");
      cells.push_back(absl::StrCat(cell.count));
      if (table.columns[c].keys.size() > 1) cells.push_back(cell.key);
    }
    csv.AddRow(std::move(cells));
  }
  return csv.RenderCsv();
}

nlohmann::json ReportTableToJson(const ReportTable& table) {
  nlohmann::json columns = nlohmann::json::array();
  for (const ReportColumn& column : table.columns) {
    columns.push_back({{"id", column.id}, {"label", column.label}, {"keys", column.keys}});
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const ReportRow& row : table.rows) {
    nlohmann::json params = nlohmann::json::object();
    for (size_t i = 0; i < table.row_params.size(); ++i) params[table.row_params[i]] = row.values[i];
    nlohmann::json values = nlohmann::json::object();
    for (size_t c = 0; c < table.columns.size(); ++c) {
      const ReportCell& cell = row.cells[c];
      values[table.columns[c].id] = cell.count == 0 ? nlohmann::json(nullptr)
                                                    : nlohmann::json{{"mean", JsonNumber(cell.mean)},
                                                                     {"std", JsonNumber(cell.std_dev)},
                                                                     {"n", cell.count},
                                                                     {"key", cell.key}};
    }
    rows.push_back({{"params", params}, {"n", row.repetitions}, {"job_ids", row.job_ids}, {"values", values}});
  }
  return {{"row_params", table.row_params}, {"columns", columns}, {"rows", rows}};
}

}  // namespace expsvc::expctl
