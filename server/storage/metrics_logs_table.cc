// PostgresStore: tables metrics and job_logs. Writes go through the lease
// check (leases_table.cc); reads need no lease.

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/storage/pg_arrays.h"
#include "server/storage/postgres_store.h"
#include "server/storage/row_mapping.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {

using expsvc::v1::JobLease;

// Last point wins when a batch repeats a (key, step). New points are
// inserted, then points already stored with another value updated (a second
// statement, run only when some point was not new). Not one INSERT ... ON
// CONFLICT DO UPDATE: the summary triggers (migration 0006) would count its
// new points twice.
#define EXPSVC_INCOMING_POINTS                                                                        \
  "SELECT DISTINCT ON (key, step) key, step, value "                                                 \
  "FROM unnest($2::text[], $3::bigint[], $4::float8[]) WITH ORDINALITY AS p(key, step, value, position) " \
  "ORDER BY key, step, position DESC"
constexpr char kUpdateMetricsSql[] =
    "UPDATE metrics m SET value = p.value FROM (" EXPSVC_INCOMING_POINTS
    ") p WHERE m.job_id = $1::bigint AND m.key = p.key AND m.step = p.step AND m.value IS DISTINCT FROM p.value";
constexpr char kWriteMetricsSql[] = "INSERT INTO metrics (job_id, key, step, value) SELECT $1::bigint, p.key, p.step, "
                                    "p.value FROM (" EXPSVC_INCOMING_POINTS
                                    ") p ON CONFLICT (job_id, key, step) DO NOTHING";
#undef EXPSVC_INCOMING_POINTS

constexpr char kAppendLogsSql[] = R"sql(
INSERT INTO job_logs (job_id, attempt, line)
SELECT $1::bigint, $2::int, line FROM unnest($3::text[]) WITH ORDINALITY AS l(line, position) ORDER BY position
)sql";

// A job resuming from a checkpoint rewrites what came after it.
constexpr char kDeleteMetricsAfterStepSql[] = "DELETE FROM metrics WHERE job_id = $1 AND step > $2";

constexpr char kJobExistsSql[] = "SELECT 1 FROM jobs WHERE id = $1";

// clang-format off
constexpr char kGetLogsSql[] =
    "SELECT seq, attempt, " EXPSVC_MS("logged_at") ", line FROM job_logs WHERE job_id = $1 AND seq > $2 "
    "ORDER BY seq LIMIT $3";
// clang-format on

// QueryMetrics: $1 sweep (0: any), $2 job ids (empty: any), $3 keys (empty:
// any), $4 params filter (jsonb containment).
#define EXPSVC_METRICS_JOB_FILTER                                                                \
  "($1::bigint = 0 OR j.sweep_id = $1) AND (cardinality($2::bigint[]) = 0 OR j.id = ANY($2::bigint[])) " \
  "AND j.params @> $4::jsonb"
#define EXPSVC_METRICS_KEY_FILTER "(cardinality($3::text[]) = 0 OR m.key = ANY($3::text[]))"

// Every point of every matching (job, key).
constexpr char kMetricsSeriesSql[] =
    "SELECT m.job_id, m.key, m.step, m.value FROM metrics m JOIN jobs j ON j.id = m.job_id "
    "WHERE " EXPSVC_METRICS_JOB_FILTER " AND " EXPSVC_METRICS_KEY_FILTER " ORDER BY m.job_id, m.key, m.step";

// One row per matching job (with no metrics too), each key reduced to one value.
// One row per matching job (with no metrics too), each key reduced to one
// value, read from the summaries kept on write (migration 0006).
#define EXPSVC_METRICS_ROWS_SQL(column)                                                             \
  "SELECT j.id, j.stage, j.params::text, j.state, s.key, " column                                   \
  " FROM jobs j LEFT JOIN metric_summaries s ON s.job_id = j.id AND "                               \
  "(cardinality($3::text[]) = 0 OR s.key = ANY($3::text[])) WHERE " EXPSVC_METRICS_JOB_FILTER \
  " ORDER BY j.id, s.key"
constexpr char kMetricsLastSql[] = EXPSVC_METRICS_ROWS_SQL("s.last_value");
constexpr char kMetricsMinSql[] = EXPSVC_METRICS_ROWS_SQL("s.min_value");
constexpr char kMetricsMaxSql[] = EXPSVC_METRICS_ROWS_SQL("s.max_value");
constexpr char kMetricsMeanSql[] = EXPSVC_METRICS_ROWS_SQL("s.sum_value / s.points");
#undef EXPSVC_METRICS_ROWS_SQL
#undef EXPSVC_METRICS_KEY_FILTER
#undef EXPSVC_METRICS_JOB_FILTER

const char* MetricsRowsSql(expsvc::v1::MetricsAggregate aggregate) {
  switch (aggregate) {
    case expsvc::v1::METRICS_AGGREGATE_MIN: return kMetricsMinSql;
    case expsvc::v1::METRICS_AGGREGATE_MAX: return kMetricsMaxSql;
    case expsvc::v1::METRICS_AGGREGATE_MEAN: return kMetricsMeanSql;
    default: return kMetricsLastSql;
  }
}

// SweepSeries: the key's step range and size over the sweep. $1 sweep, $2 key.
constexpr char kSeriesSpanSql[] = R"sql(
SELECT min(s.first_step), max(s.last_step) + 1, count(*), coalesce(sum(s.points), 0)
FROM jobs j JOIN metric_summaries s ON s.job_id = j.id AND s.key = $2 WHERE j.sweep_id = $1)sql";

// Jobs per group. $3 the parameter.
constexpr char kSeriesGroupJobsSql[] = R"sql(
SELECT coalesce(j.params ->> $3, ''), count(*)
FROM jobs j JOIN metric_summaries s ON s.job_id = j.id AND s.key = $2 WHERE j.sweep_id = $1 GROUP BY 1)sql";

// Rows per (job or group, bucket). $3 first step, $4 end step, $5 buckets,
// $6 the rollup width (rollup sources) and $7 the group parameter (grouped).
// Columns: job id or group value, bucket, first step, min, max, sum, points.
#define EXPSVC_SERIES_SQL(owner, source, step, min, max, sum, points)                                          \
  "SELECT " owner ", width_bucket(" step "::float8, $3::float8, $4::float8, $5::int) AS b, min(" step "), min(" min \
  "), max(" max "), sum(" sum "), sum(" points ") FROM jobs j JOIN " source " WHERE j.sweep_id = $1 GROUP BY 1, b "   \
  "ORDER BY 1, b"
#define EXPSVC_POINTS "metrics m ON m.job_id = j.id AND m.key = $2"
#define EXPSVC_ROLLUPS "metric_rollups m ON m.job_id = j.id AND m.key = $2 AND m.width = $6"
constexpr char kSeriesJobsFromPointsSql[] =
    EXPSVC_SERIES_SQL("m.job_id", EXPSVC_POINTS, "m.step", "m.value", "m.value", "m.value", "1");
constexpr char kSeriesJobsFromRollupsSql[] = EXPSVC_SERIES_SQL(
    "m.job_id", EXPSVC_ROLLUPS, "m.first_step", "m.min_value", "m.max_value", "m.sum_value", "m.points");
constexpr char kSeriesGroupsFromPointsSql[] = EXPSVC_SERIES_SQL(
    "coalesce(j.params ->> $7, '')", EXPSVC_POINTS " AND $6::int = 1", "m.step", "m.value", "m.value", "m.value", "1");
constexpr char kSeriesGroupsFromRollupsSql[] =
    EXPSVC_SERIES_SQL("coalesce(j.params ->> $7, '')", EXPSVC_ROLLUPS, "m.first_step", "m.min_value", "m.max_value",
                      "m.sum_value", "m.points");
#undef EXPSVC_ROLLUPS
#undef EXPSVC_POINTS
#undef EXPSVC_SERIES_SQL

// The rollup widths of migration 0006, and 1 for the points themselves.
constexpr int32_t kSeriesWidths[] = {1, 16, 64, 256, 1024};

// The coarsest width no wider than one bucket, or coarser when the finer
// would read more than the budget.
int32_t SeriesWidth(int64_t range, int32_t buckets, int64_t points, int64_t row_budget) {
  int32_t chosen = 1;
  for (int32_t width : kSeriesWidths) {
    if (static_cast<double>(width) <= static_cast<double>(range) / std::max(buckets, 1)) chosen = width;
  }
  for (int32_t width : kSeriesWidths) {
    if (width <= chosen) continue;
    if (points / std::max<int64_t>(chosen, 1) <= row_budget) break;
    chosen = width;
  }
  return chosen;
}

}  // namespace

std::map<std::string, std::string> MetricsLogsStatements() {
  return {{kUpdateMetricsStatement, kUpdateMetricsSql},
          {kWriteMetricsStatement, kWriteMetricsSql},
          {kAppendLogsStatement, kAppendLogsSql}};
}

absl::StatusOr<int64_t> PostgresStore::WriteMetrics(const expsvc::v1::ReportMetricsRequest& request) {
  std::vector<std::string> keys;
  std::vector<int64_t> steps;
  std::vector<double> values;
  for (const auto& point : request.points()) {
    keys.push_back(point.key());
    steps.push_back(point.step());
    values.push_back(point.value());
  }
  return InTransaction("writing metrics", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    auto check = CheckLeaseIn(txn, request.lease());
    if (!check.ok()) return check.status();
    if (request.has_replace_after_step()) {
      txn.exec_params(kDeleteMetricsAfterStepSql, request.lease().job_id(), request.replace_after_step());
    }
    if (keys.empty()) return int64_t{0};
    const std::string key_array = TextArrayLiteral(keys), step_array = IntArrayLiteral(steps),
                      value_array = DoubleArrayLiteral(values);
    pqxx::result inserted = txn.exec_prepared(kWriteMetricsStatement, request.lease().job_id(), key_array,
                                              step_array, value_array);
    // Only a batch that repeats stored steps (a retry, a resumed run) needs
    // the update; most are all new.
    const std::set<std::pair<std::string, int64_t>> distinct = [&] {
      std::set<std::pair<std::string, int64_t>> points;
      for (size_t i = 0; i < keys.size(); ++i) points.emplace(keys[i], steps[i]);
      return points;
    }();
    int64_t updated = 0;
    if (static_cast<size_t>(inserted.affected_rows()) < distinct.size()) {
      updated = txn.exec_prepared(kUpdateMetricsStatement, request.lease().job_id(), key_array, step_array,
                                  value_array)
                    .affected_rows();
    }
    return static_cast<int64_t>(inserted.affected_rows()) + updated;
  });
}

absl::Status PostgresStore::AppendLogs(const JobLease& lease, const std::vector<std::string>& lines) {
  return InTransaction("appending logs", [&](pqxx::work& txn) -> absl::Status {
    auto check = CheckLeaseIn(txn, lease);
    if (!check.ok()) return check.status();
    txn.exec_prepared(kAppendLogsStatement, lease.job_id(), check->attempt, TextArrayLiteral(lines));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<expsvc::v1::LogLine>> PostgresStore::GetLogs(int64_t job_id, int64_t after_seq,
                                                                        int32_t limit) {
  return InTransaction("reading logs", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<expsvc::v1::LogLine>> {
    if (txn.exec_params(kJobExistsSql, job_id).empty()) {
      return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
    }
    pqxx::result rows =
        txn.exec_params(kGetLogsSql, job_id, after_seq, static_cast<int64_t>(limit <= 0 ? 1000 : limit));
    std::vector<expsvc::v1::LogLine> lines;
    for (const auto& row : rows) {
      expsvc::v1::LogLine line;
      line.set_seq(row[0].as<int64_t>());
      line.set_attempt(row[1].as<int32_t>());
      line.set_time_ms(row[2].as<int64_t>());
      line.set_line(row[3].c_str());
      lines.push_back(std::move(line));
    }
    return lines;
  });
}

absl::StatusOr<expsvc::v1::QueryMetricsResponse> PostgresStore::QueryMetrics(
    const expsvc::v1::QueryMetricsRequest& request) {
  std::vector<std::string> keys(request.keys().begin(), request.keys().end());
  std::vector<int64_t> job_ids(request.job_ids().begin(), request.job_ids().end());
  const std::string params_filter = request.params_filter_json().empty() ? "{}" : request.params_filter_json();
  return InTransaction("querying metrics", [&](pqxx::work& txn) -> absl::StatusOr<expsvc::v1::QueryMetricsResponse> {
    expsvc::v1::QueryMetricsResponse response;
    std::set<std::string> seen_keys;
    if (request.shape() == expsvc::v1::METRICS_SHAPE_SERIES) {
      pqxx::result rows = txn.exec_params(kMetricsSeriesSql, request.sweep_id(), IntArrayLiteral(job_ids),
                                          TextArrayLiteral(keys), params_filter);
      expsvc::v1::MetricsSeries* series = nullptr;
      for (const auto& row : rows) {
        const int64_t job_id = row[0].as<int64_t>();
        const std::string key = row[1].c_str();
        if (series == nullptr || series->job_id() != job_id || series->key() != key) {
          series = response.add_series();
          series->set_job_id(job_id);
          series->set_key(key);
          seen_keys.insert(key);
        }
        auto* point = series->add_points();
        point->set_step(row[2].as<int64_t>());
        point->set_value(row[3].as<double>());
      }
    } else {
      pqxx::result rows = txn.exec_params(MetricsRowsSql(request.aggregate()), request.sweep_id(),
                                          IntArrayLiteral(job_ids), TextArrayLiteral(keys), params_filter);
      expsvc::v1::MetricsRow* current = nullptr;
      for (const auto& row : rows) {
        const int64_t job_id = row[0].as<int64_t>();
        if (current == nullptr || current->job_id() != job_id) {
          current = response.add_rows();
          current->set_job_id(job_id);
          current->set_stage(row[1].c_str());
          current->set_params_json(row[2].c_str());
          current->set_state(row[3].c_str());
        }
        if (!row[4].is_null() && !row[5].is_null()) {
          (*current->mutable_values())[row[4].c_str()] = row[5].as<double>();
          seen_keys.insert(row[4].c_str());
        }
      }
    }
    for (const auto& key : seen_keys) response.add_keys(key);
    return response;
  });
}

absl::StatusOr<SeriesAnswer> PostgresStore::SweepSeries(const SeriesRequest& request) {
  return InTransaction("reading a sweep's curves", [&](pqxx::work& txn) -> absl::StatusOr<SeriesAnswer> {
    SeriesAnswer answer;
    const pqxx::row span = txn.exec_params1(kSeriesSpanSql, request.sweep_id, request.key);
    answer.jobs_with_key = span[2].as<int64_t>();
    if (answer.jobs_with_key == 0) return answer;
    answer.first_step = span[0].as<int64_t>();
    answer.end_step = span[1].as<int64_t>();
    const int64_t points = span[3].as<int64_t>();
    answer.width =
        SeriesWidth(answer.end_step - answer.first_step, request.buckets, points, request.row_budget);
    answer.grouped = !request.group_param.empty() || answer.jobs_with_key > request.max_jobs;
    const std::string& group = request.group_param;
    if (!answer.grouped) {
      const char* sql = answer.width == 1 ? kSeriesJobsFromPointsSql : kSeriesJobsFromRollupsSql;
      pqxx::result rows = answer.width == 1 ? txn.exec_params(sql, request.sweep_id, request.key, answer.first_step,
                                                              answer.end_step, request.buckets)
                                            : txn.exec_params(sql, request.sweep_id, request.key, answer.first_step,
                                                              answer.end_step, request.buckets, answer.width);
      for (const pqxx::row& row : rows) {
        const int64_t job_id = row[0].as<int64_t>();
        if (answer.jobs.empty() || answer.jobs.back().job_id != job_id) answer.jobs.push_back({.job_id = job_id});
        BucketedSeries& current = answer.jobs.back();
        current.buckets.push_back(row[1].as<int32_t>());
        current.steps.push_back(row[2].as<int64_t>());
        current.min.push_back(row[3].as<double>());
        current.max.push_back(row[4].as<double>());
        current.points += row[6].as<int64_t>();
      }
      return answer;
    }
    std::map<std::string, int64_t> jobs_per_group;
    for (const pqxx::row& row : txn.exec_params(kSeriesGroupJobsSql, request.sweep_id, request.key, group)) {
      jobs_per_group[row[0].as<std::string>()] = row[1].as<int64_t>();
    }
    const char* sql = answer.width == 1 ? kSeriesGroupsFromPointsSql : kSeriesGroupsFromRollupsSql;
    for (const pqxx::row& row : txn.exec_params(sql, request.sweep_id, request.key, answer.first_step,
                                                answer.end_step, request.buckets, answer.width, group)) {
      const std::string value = row[0].as<std::string>();
      if (answer.groups.empty() || answer.groups.back().value != value) {
        answer.groups.push_back({.value = value, .jobs = jobs_per_group[value]});
      }
      GroupedSeries& current = answer.groups.back();
      const int64_t count = row[6].as<int64_t>();
      current.buckets.push_back(row[1].as<int32_t>());
      current.steps.push_back(row[2].as<int64_t>());
      current.min.push_back(row[3].as<double>());
      current.max.push_back(row[4].as<double>());
      current.mean.push_back(row[5].as<double>() / static_cast<double>(std::max<int64_t>(count, 1)));
      current.points += count;
    }
    return answer;
  });
}

}  // namespace expsvc::storage
