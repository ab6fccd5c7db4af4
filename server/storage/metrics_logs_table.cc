// PostgresStore: tables metrics and job_logs. Writes go through the lease
// check (leases_table.cc); reads need no lease.

#include <set>

#include "absl/strings/str_cat.h"
#include "server/storage/pg_arrays.h"
#include "server/storage/postgres_store.h"
#include "server/storage/row_mapping.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {

using expsvc::v1::JobLease;

// Last point wins when a batch repeats a (key, step).
constexpr char kWriteMetricsSql[] = R"sql(
INSERT INTO metrics (job_id, key, step, value)
SELECT DISTINCT ON (key, step) $1::bigint, key, step, value
FROM unnest($2::text[], $3::bigint[], $4::float8[]) WITH ORDINALITY AS p(key, step, value, position)
ORDER BY key, step, position DESC
ON CONFLICT (job_id, key, step) DO UPDATE SET value = EXCLUDED.value
)sql";

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
#define EXPSVC_METRICS_ROWS_SQL(aggregate)                                             \
  "SELECT j.id, j.stage, j.params::text, j.state, m.key, " aggregate                   \
  " FROM jobs j LEFT JOIN metrics m ON m.job_id = j.id AND " EXPSVC_METRICS_KEY_FILTER \
  " WHERE " EXPSVC_METRICS_JOB_FILTER " GROUP BY j.id, m.key ORDER BY j.id, m.key"
constexpr char kMetricsLastSql[] = EXPSVC_METRICS_ROWS_SQL("(array_agg(m.value ORDER BY m.step DESC))[1]");
constexpr char kMetricsMinSql[] = EXPSVC_METRICS_ROWS_SQL("min(m.value)");
constexpr char kMetricsMaxSql[] = EXPSVC_METRICS_ROWS_SQL("max(m.value)");
constexpr char kMetricsMeanSql[] = EXPSVC_METRICS_ROWS_SQL("avg(m.value)");
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

// Buckets over the sweep's step range of the key, then min/max per (job,
// bucket). The metrics primary key (job_id, key, step) serves each job.
constexpr char kBucketSeriesSql[] = R"sql(
WITH points AS (
  SELECT m.job_id, m.step, m.value
  FROM jobs j JOIN metrics m ON m.job_id = j.id AND m.key = $2
  WHERE j.sweep_id = $1
), span AS (
  SELECT min(step) AS lo, max(step) + 1 AS hi FROM points
)
SELECT p.job_id, width_bucket(p.step, span.lo, span.hi, $3::int) AS bucket, min(p.step), min(p.value),
       max(p.value), count(*), min(span.lo), min(span.hi)
FROM points p, span
GROUP BY p.job_id, bucket
ORDER BY p.job_id, bucket
)sql";

}  // namespace

std::map<std::string, std::string> MetricsLogsStatements() {
  return {{kWriteMetricsStatement, kWriteMetricsSql}, {kAppendLogsStatement, kAppendLogsSql}};
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
    pqxx::result written = txn.exec_prepared(kWriteMetricsStatement, request.lease().job_id(), TextArrayLiteral(keys),
                                             IntArrayLiteral(steps), DoubleArrayLiteral(values));
    return static_cast<int64_t>(written.affected_rows());
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

absl::StatusOr<std::vector<BucketedSeries>> PostgresStore::BucketSeries(int64_t sweep_id, const std::string& key,
                                                                         int32_t buckets) {
  return InSingleStatement("bucketing a series", [&](pqxx::transaction_base& txn)
                                                     -> absl::StatusOr<std::vector<BucketedSeries>> {
    std::vector<BucketedSeries> series;
    for (const pqxx::row& row : txn.exec_params(kBucketSeriesSql, sweep_id, key, buckets)) {
      const int64_t job_id = row[0].as<int64_t>();
      if (series.empty() || series.back().job_id != job_id) {
        series.push_back(
            BucketedSeries{.job_id = job_id, .first_step = row[6].as<int64_t>(), .end_step = row[7].as<int64_t>()});
      }
      BucketedSeries& current = series.back();
      current.buckets.push_back(row[1].as<int32_t>());
      current.steps.push_back(row[2].as<int64_t>());
      current.min.push_back(row[3].as<double>());
      current.max.push_back(row[4].as<double>());
      current.points += row[5].as<int64_t>();
    }
    return series;
  });
}

}  // namespace expsvc::storage
