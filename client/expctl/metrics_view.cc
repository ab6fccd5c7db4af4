#include "client/expctl/metrics_view.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "client/expctl/format.h"
#include "client/expctl/params.h"
#include "client/expctl/table.h"

namespace expsvc::expctl {
namespace {

// The columns every row starts with; a parameter of the same name is
// shown as "param.NAME" so the header stays unambiguous.
const std::set<std::string>& FixedColumnNames() {
  static const std::set<std::string> names = {"job_id", "stage", "state"};
  return names;
}

std::string ParamHeader(const std::string& param, const std::vector<std::string>& keys) {
  bool clashes = FixedColumnNames().count(param) > 0 || std::find(keys.begin(), keys.end(), param) != keys.end();
  return clashes ? absl::StrCat("param.", param) : param;
}

// Parameters whose value is not the same in every row (absent counts as a
// value of its own).
std::vector<std::string> VaryingParams(const std::vector<MetricsView::Row>& rows,
                                       const std::set<std::string>& all_params) {
  std::vector<std::string> varying;
  for (const std::string& param : all_params) {
    std::optional<std::string> first;
    bool differs = false;
    for (const MetricsView::Row& row : rows) {
      std::string value = row.params.contains(param)
                              ? row.params[param].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                              : std::string("<absent>");
      if (!first.has_value()) {
        first = value;
      } else if (*first != value) {
        differs = true;
        break;
      }
    }
    if (differs) varying.push_back(param);
  }
  return varying;
}

// Numbers read better right-aligned; a column is numeric when every
// present value is.
bool IsNumericParamColumn(const MetricsView& view, const std::string& param) {
  bool any = false;
  for (const MetricsView::Row& row : view.rows) {
    if (!row.params.contains(param)) continue;
    if (!row.params[param].is_number()) return false;
    any = true;
  }
  return any;
}

std::vector<std::string> HeaderCells(const MetricsView& view) {
  std::vector<std::string> headers = {"job_id", "stage", "state"};
  for (const std::string& param : view.param_columns) {
    headers.push_back(ParamHeader(param, view.key_columns));
  }
  headers.insert(headers.end(), view.key_columns.begin(), view.key_columns.end());
  return headers;
}

template <typename FormatValue>
std::vector<std::string> RowCells(const MetricsView& view, const MetricsView::Row& row, absl::string_view missing,
                                  FormatValue format_value) {
  std::vector<std::string> cells = {absl::StrCat(row.job_id), row.stage, row.state};
  for (const std::string& param : view.param_columns) {
    cells.push_back(row.params.contains(param) ? FormatParamValue(row.params[param]) : std::string(missing));
  }
  for (const std::optional<double>& value : row.values) {
    cells.push_back(value.has_value() ? format_value(*value) : std::string(missing));
  }
  return cells;
}

struct SeriesPointRow {
  int64_t job_id;
  std::string key;
  int64_t step;
  double value;
};

std::vector<SeriesPointRow> SortedSeriesPoints(const v1::QueryMetricsResponse& response) {
  std::vector<SeriesPointRow> points;
  for (const v1::MetricsSeries& series : response.series()) {
    for (const v1::SeriesPoint& point : series.points()) {
      points.push_back({series.job_id(), series.key(), point.step(), point.value()});
    }
  }
  std::sort(points.begin(), points.end(), [](const SeriesPointRow& a, const SeriesPointRow& b) {
    return std::tie(a.job_id, a.key, a.step) < std::tie(b.job_id, b.key, b.step);
  });
  return points;
}

// NaN and infinities have no JSON spelling: null.
nlohmann::json JsonNumber(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace

MetricsView BuildMetricsView(const v1::QueryMetricsResponse& response, const MetricsViewOptions& options) {
  MetricsView view;
  if (!options.keys.empty()) {
    view.key_columns = options.keys;
  } else if (!response.keys().empty()) {
    view.key_columns.assign(response.keys().begin(), response.keys().end());
  } else {
    std::set<std::string> seen;
    for (const v1::MetricsRow& row : response.rows()) {
      for (const auto& [key, value] : row.values()) seen.insert(key);
    }
    view.key_columns.assign(seen.begin(), seen.end());
  }

  std::set<std::string> all_params;
  for (const v1::MetricsRow& source : response.rows()) {
    MetricsView::Row row;
    row.job_id = source.job_id();
    row.stage = source.stage();
    row.state = source.state();
    row.params = ParseParamsJson(source.params_json());
    for (auto it = row.params.begin(); it != row.params.end(); ++it) all_params.insert(it.key());
    for (const std::string& key : view.key_columns) {
      auto found = source.values().find(key);
      row.values.push_back(found == source.values().end() ? std::nullopt : std::optional<double>(found->second));
    }
    view.rows.push_back(std::move(row));
  }
  std::sort(view.rows.begin(), view.rows.end(),
            [](const MetricsView::Row& a, const MetricsView::Row& b) { return a.job_id < b.job_id; });

  // With a single row nothing "varies"; showing its parameters is more useful.
  if (options.all_params || view.rows.size() <= 1) {
    view.param_columns.assign(all_params.begin(), all_params.end());
  } else {
    view.param_columns = VaryingParams(view.rows, all_params);
  }
  return view;
}

std::string RenderMetricsTable(const MetricsView& view, int max_width) {
  std::vector<TableColumn> columns = {{"JOB", Align::kRight}, {"STAGE"}, {"STATE"}};
  for (const std::string& param : view.param_columns) {
    columns.push_back({ParamHeader(param, view.key_columns),
                       IsNumericParamColumn(view, param) ? Align::kRight : Align::kLeft,
                       /*shrinkable=*/true});
  }
  for (const std::string& key : view.key_columns) columns.push_back({key, Align::kRight});
  Table table(std::move(columns));
  for (const MetricsView::Row& row : view.rows) {
    table.AddRow(RowCells(view, row, "-", [](double value) { return FormatNumber(value); }));
  }
  return table.Render(max_width);
}

std::string RenderMetricsCsv(const MetricsView& view) {
  std::vector<TableColumn> columns;
  for (std::string& header : HeaderCells(view)) columns.push_back({std::move(header)});
  Table table(std::move(columns));
  for (const MetricsView::Row& row : view.rows) {
    table.AddRow(RowCells(view, row, "", [](double value) { return FormatNumberExact(value); }));
  }
  return table.RenderCsv();
}

nlohmann::json MetricsViewToJson(const MetricsView& view) {
  nlohmann::json list = nlohmann::json::array();
  for (const MetricsView::Row& row : view.rows) {
    nlohmann::json metrics = nlohmann::json::object();
    for (size_t k = 0; k < view.key_columns.size(); ++k) {
      metrics[view.key_columns[k]] = row.values[k].has_value() ? JsonNumber(*row.values[k]) : nlohmann::json(nullptr);
    }
    list.push_back({{"job_id", row.job_id},
                    {"stage", row.stage},
                    {"state", row.state},
                    {"params", row.params},
                    {"metrics", metrics}});
  }
  return list;
}

std::string RenderSeriesTable(const v1::QueryMetricsResponse& response, int max_width) {
  Table table({{"JOB", Align::kRight}, {"KEY", Align::kLeft, true}, {"STEP", Align::kRight}, {"VALUE", Align::kRight}});
  for (const SeriesPointRow& point : SortedSeriesPoints(response)) {
    table.AddRow({absl::StrCat(point.job_id), point.key, absl::StrCat(point.step), FormatNumber(point.value)});
  }
  return table.Render(max_width);
}

std::string RenderSeriesCsv(const v1::QueryMetricsResponse& response) {
  Table table({{"job_id"}, {"key"}, {"step"}, {"value"}});
  for (const SeriesPointRow& point : SortedSeriesPoints(response)) {
    table.AddRow({absl::StrCat(point.job_id), point.key, absl::StrCat(point.step), FormatNumberExact(point.value)});
  }
  return table.RenderCsv();
}

nlohmann::json SeriesToJson(const v1::QueryMetricsResponse& response) {
  nlohmann::json list = nlohmann::json::array();
  for (const SeriesPointRow& point : SortedSeriesPoints(response)) {
    list.push_back(
        {{"job_id", point.job_id}, {"key", point.key}, {"step", point.step}, {"value", JsonNumber(point.value)}});
  }
  return list;
}

}  // namespace expsvc::expctl
