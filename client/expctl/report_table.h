#pragma once
// `expctl report`: a sweep's results as a paper-style table. One row per
// combination of the row parameters (jobs that share it, e.g. different
// seeds, are repetitions), one column per metric with mean ± sample std over
// the row's jobs that have it. Pure functions of the jobs' params and last
// metric values, so every rule is unit-tested without a server; the rules
// are spelled out in client/README.md ("report").

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "expsvc/v1/jobs.pb.h"
#include "expsvc/v1/metrics.pb.h"
#include "nlohmann/json.hpp"

namespace expsvc::expctl {

// What the report needs of one job.
struct ReportJob {
  int64_t job_id = 0;
  nlohmann::json params = nlohmann::json::object();
  // The last point (highest step) of each key.
  std::map<std::string, double> metrics;
};

// Fills each job's missing parameters (absent, null or "") from its parents,
// nearest first: an evaluation job that does not repeat the axes of the
// training it depends on still lands in that training's row. `parents` maps
// a job id to its parents' ids, `params` every job's parameters (reported
// or not).
void InheritParentParams(std::vector<ReportJob>& jobs, const std::map<int64_t, std::vector<int64_t>>& parents,
                         const std::map<int64_t, nlohmann::json>& params);
// The same from the sweep's job records (their parent_ids and params_json).
void InheritParentParams(std::vector<ReportJob>& jobs, const std::vector<v1::Job>& records);

// From a METRICS_SHAPE_TABLE response queried with METRICS_AGGREGATE_LAST.
std::vector<ReportJob> ReportJobsFromMetrics(const v1::QueryMetricsResponse& response);

enum class ValueStyle {
  kInteger,      // rounded, thousands separators in markdown: 4,321,000
  kFixed,        // `digits` decimals: 0.856
  kSignificant,  // `digits` significant digits: 0.0001234
};

struct ReportColumn {
  // The name in CSV headers and JSON: "loss", "note_f1".
  std::string id;
  // The markdown header: "Loss", "F1 note".
  std::string label;
  // Metric keys by preference: a row uses the first key any of its jobs
  // has ("Loss" is test_loss, else eval_loss).
  std::vector<std::string> keys;
  ValueStyle style = ValueStyle::kFixed;
  int digits = 3;
};

// Params, ms/note, Loss, F1 note, F1 pianoroll, GS, CS, PRS.
std::vector<ReportColumn> DefaultReportColumns();
// A --columns key: id and label are the key itself; the style of the
// default column with that key (params, ms_per_note, losses, metrics), else
// 4 significant digits.
ReportColumn ColumnForMetricKey(const std::string& key);

// The parameters in paper order that name a row when --rows is not given:
// representation and data_fraction when they take more than one value
// across `jobs` (a job without the parameter counts as one more value),
// attention whenever a job has it.
std::vector<std::string> DefaultRowParams(const std::vector<ReportJob>& jobs);

struct ReportOptions {
  // --rows; empty: DefaultRowParams of the jobs that have a column.
  std::vector<std::string> row_params;
  // --columns (raw metric keys); empty: the default columns that at least
  // one job has.
  std::vector<std::string> column_keys;
};

struct ReportCell {
  // The metric key the row used; empty when none of its jobs has one.
  std::string key;
  int64_t count = 0;
  double mean = 0;
  // Sample standard deviation (n − 1); NaN when count < 2.
  double std_dev = 0;
};

struct ReportRow {
  // One per row parameter; null when the jobs lack it.
  std::vector<nlohmann::json> values;
  // The row's jobs (those with at least one column), ascending.
  std::vector<int64_t> job_ids;
  // Repetitions: the most values any cell of the row averaged.
  int64_t repetitions = 0;
  // One per column.
  std::vector<ReportCell> cells;
};

struct ReportTable {
  std::vector<std::string> row_params;
  std::vector<ReportColumn> columns;
  // attention in paper order (Attn, RelAttn, RIPOAttn, CirRelAttn-S,
  // CirRelAttn-H), representation note before event, data_fraction
  // descending, other values numbers ascending then strings
  // lexicographically; a missing value last.
  std::vector<ReportRow> rows;
};

// Jobs without a value for any column are left out. Errors:
// FAILED_PRECONDITION when there are no jobs, or no job has any column
// (the message lists the keys the jobs do report); a usage error for a
// --rows parameter no reported job has.
absl::StatusOr<ReportTable> BuildReportTable(const std::vector<ReportJob>& jobs, const ReportOptions& options);

// A GitHub markdown table, padded to line up as plain text: row
// parameters, n, then "mean ± std" per column. The mean alone for one value
// or an integer column whose std rounds to 0; "-" for none; " (n=k)" when
// fewer values than the row's n; " †" and a note under the table when the
// row used a fallback key.
std::string RenderReportMarkdown(const ReportTable& table);
// Row parameters, n, then ID_mean, ID_std, ID_n per column (and ID_key for
// columns with a fallback key); full precision, empty cells when missing.
std::string RenderReportCsv(const ReportTable& table);
// {"row_params": [...], "columns": [{"id","label","keys"}],
//  "rows": [{"params": {...}, "n", "job_ids": [...],
//            "values": {ID: {"mean","std","n","key"} | null}}]}; NaN → null.
nlohmann::json ReportTableToJson(const ReportTable& table);

}  // namespace expsvc::expctl
