#pragma once
// QueryMetrics results shaped for people and scripts: one row per job with
// its parameters pivoted into columns, then one column per metric key.
// Pure functions of the response, so the pivot is unit-tested.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "expsvc/v1/metrics.pb.h"
#include "nlohmann/json.hpp"

namespace expsvc::expctl {

struct MetricsViewOptions {
  // Show every parameter, not only those that differ between rows.
  bool all_params = false;
  // Metric columns in this order; empty: the response's keys (sorted).
  std::vector<std::string> keys;
};

struct MetricsView {
  struct Row {
    int64_t job_id = 0;
    std::string stage;
    std::string state;
    nlohmann::json params;
    // One per key column; empty when the job has no value for the key.
    std::vector<std::optional<double>> values;
  };
  std::vector<std::string> param_columns;
  std::vector<std::string> key_columns;
  // Ordered by job id.
  std::vector<Row> rows;
};

MetricsView BuildMetricsView(const v1::QueryMetricsResponse& response, const MetricsViewOptions& options);

// Aligned table; values with up to 6 significant digits, "-" when missing.
std::string RenderMetricsTable(const MetricsView& view, int max_width);
// Values in full precision, empty cells when missing.
std::string RenderMetricsCsv(const MetricsView& view);
// [{"job_id", "stage", "state", "params": {all of them}, "metrics": {key: value|null}}]
nlohmann::json MetricsViewToJson(const MetricsView& view);

// --series: (job, key, step, value) rows ordered by job, key, step.
std::string RenderSeriesTable(const v1::QueryMetricsResponse& response, int max_width);
std::string RenderSeriesCsv(const v1::QueryMetricsResponse& response);
nlohmann::json SeriesToJson(const v1::QueryMetricsResponse& response);

}  // namespace expsvc::expctl
