// dashboard_bench: latency of the dashboard's heaviest API calls on a
// study-sized sweep (1,572 jobs, 1,000,000 metric points: two keys, 318
// steps each), against a plain indexed SELECT of the same rows in the same
// run. Seeds a throwaway PostgreSQL (default durability) with SQL, starts
// the dashboard in-process as the read-only role, checks each answer before
// timing it, then times every call --repeats times.
//
//   dashboard_bench [--jobs 1572] [--steps 318] [--repeats 30]
//
// Last line: key=value pairs; p95_ms is the slowest call's p95.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <httplib.h>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_timing.h"
#include "client/web/dashboard_server.h"
#include "common/sweep/sweep_spec.h"
#include "server/storage/migrator.h"
#include "server/storage/postgres_store.h"
#include "server/testing/postgres_cluster.h"

namespace {

int Flag(int argc, char** argv, const std::string& name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * (values.size() - 1) + 0.5));
  return values[index];
}

int Die(const std::string& message) {
  std::fprintf(stderr, "dashboard_bench: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int jobs = Flag(argc, argv, "jobs", 1572);
  const int steps = Flag(argc, argv, "steps", 318);
  const int repeats = Flag(argc, argv, "repeats", 30);

  auto cluster = expsvc::testing::PostgresCluster::Start(/*durable=*/true);
  if (!cluster.ok()) return Die(cluster.status().ToString());
  auto conninfo = (*cluster)->CreateDatabase("bench");
  if (!conninfo.ok()) return Die(conninfo.status().ToString());
  if (auto migrated = expsvc::storage::ApplyMigrations(*conninfo, EXPSVC_MIGRATIONS_DIR); !migrated.ok()) {
    return Die(migrated.status().ToString());
  }
  // The sweep: one stage, a grid of `jobs` seeds over 4 variants (SAE-study sized).
  const std::string yaml = absl::StrCat("name: dashboard-bench\nstages:\n  - name: train\n    kind: sleep\n    grid: {seed: [",
                                        [&] {
                                          std::string seeds;
                                          for (int i = 0; i < jobs / 4; ++i) absl::StrAppend(&seeds, i == 0 ? "" : ",", i);
                                          return seeds;
                                        }(),
                                        "], variant: [Attn, RelAttn, RIPOAttn, CirRelAttn]}\n");
  auto plan = expsvc::ParseSweep(yaml, "bench.yaml");
  if (!plan.ok()) return Die(plan.status().ToString());
  auto store = expsvc::storage::PostgresStore::Open(*conninfo, 2);
  if (!store.ok()) return Die(store.status().ToString());
  auto created = (*store)->CreateSweep(*plan, yaml, "");
  if (!created.ok()) return Die(created.status().ToString());
  const int64_t sweep_id = created->sweep_id;
  int64_t points = 0;
  {
    pqxx::connection connection(*conninfo);
    pqxx::work txn(connection);
    txn.exec_params("UPDATE jobs SET state = 'succeeded', attempt = 1, started_at = now(), finished_at = now() "
                    "WHERE sweep_id = $1",
                    sweep_id);
    txn.exec_params("INSERT INTO metrics (job_id, key, step, value) SELECT j.id, k.key, s, "
                    "1.0 / (s + 1) + 0.001 * (j.id % 97) FROM jobs j, (VALUES ('loss'), ('accuracy')) k(key), "
                    "generate_series(0, $2 - 1) s WHERE j.sweep_id = $1",
                    sweep_id, steps);
    points = txn.exec_params1("SELECT count(*) FROM metrics m JOIN jobs j ON j.id = m.job_id WHERE j.sweep_id = $1",
                              sweep_id)[0]
                 .as<int64_t>();
    txn.commit();
    pqxx::nontransaction analyze(connection);
    analyze.exec("ANALYZE");
  }
  std::printf("seeded sweep %ld: %d jobs, %ld metric points\n", static_cast<long>(sweep_id), jobs,
              static_cast<long>(points));

  expsvc::web::DashboardOptions options;
  options.database = *conninfo + " user=expsvc_reader";
  options.port = 0;
  auto server = expsvc::web::DashboardServer::Start(options);
  if (!server.ok()) return Die(server.status().ToString());
  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_read_timeout(60, 0);

  struct Call {
    std::string name;
    std::string path;
    // A check of the answer's body, run once before timing.
    std::function<bool(const std::string&)> valid;
  };
  const std::string sweep = absl::StrCat("/api/sweeps/", sweep_id);
  const std::vector<Call> calls = {
      // What the sweep page asks for a sweep this large: curves per colour
      // group (the variant), read from the rollups.
      {"series_1000", sweep + "/series?key=loss&buckets=1000&group=variant",
       [&](const std::string& body) {
         return body.find("\"grouped\":true") != std::string::npos &&
                body.find(absl::StrCat("\"points\":", static_cast<int64_t>(jobs / 4) * steps)) != std::string::npos;
       }},
      {"metrics_table", sweep + "/metrics?agg=min",
       [&](const std::string& body) { return body.find("\"accuracy\"") != std::string::npos; }},
      {"jobs_page", sweep + "/jobs?limit=5000", [&](const std::string& body) { return body.find("\"jobs\"") != std::string::npos; }},
      {"metrics_csv", sweep + "/metrics.csv", [&](const std::string& body) {
         return static_cast<int>(std::count(body.begin(), body.end(), '\n')) == jobs + 1;
       }},
      {"sweeps", "/api/sweeps", [](const std::string& body) { return body.find("dashboard-bench") != std::string::npos; }},
  };

  // Baseline: every point of the key the series call draws, by a plain
  // indexed SELECT on one connection (no bucketing, no HTTP, no JSON): what
  // any call reading the points costs at least.
  std::vector<double> baseline;
  {
    pqxx::connection connection(*conninfo);
    for (int i = 0; i < repeats; ++i) {
      baseline.push_back(expsvc::bench::Seconds([&] {
        pqxx::nontransaction txn(connection);
        pqxx::result rows = txn.exec_params(
            "SELECT m.job_id, m.step, m.value FROM jobs j JOIN metrics m ON m.job_id = j.id AND m.key = 'loss' "
            "WHERE j.sweep_id = $1",
            sweep_id);
        if (static_cast<int64_t>(rows.size()) != points / 2) std::abort();
      }));
    }
  }
  const double base_p50 = Percentile(baseline, 0.5) * 1000, base_p95 = Percentile(baseline, 0.95) * 1000;
  std::printf("%-14s p50 %8.1f ms  p95 %8.1f ms  (plain indexed SELECT of the series' %ld rows)\n", "baseline",
              base_p50, base_p95, static_cast<long>(points / 2));

  double slowest_p95 = 0;
  std::string slowest;
  std::string summary;
  for (const Call& call : calls) {
    auto first = client.Get(call.path.c_str());
    if (!first || first->status != 200 || !call.valid(first->body)) {
      return Die(absl::StrCat(call.name, ": unexpected answer ", first ? first->status : -1, " ",
                              first ? first->body.substr(0, 200) : ""));
    }
    std::vector<double> times;
    size_t bytes = first->body.size();
    for (int i = 0; i < repeats; ++i) {
      times.push_back(expsvc::bench::Seconds([&] {
        auto response = client.Get(call.path.c_str());
        if (!response || response->status != 200) std::abort();
      }));
    }
    const double p50 = Percentile(times, 0.5) * 1000, p95 = Percentile(times, 0.95) * 1000;
    std::printf("%-14s p50 %8.1f ms  p95 %8.1f ms  %8zu bytes  p50 / baseline p50 %.2f\n", call.name.c_str(), p50, p95,
                bytes, p50 / base_p50);
    absl::StrAppend(&summary, call.name, "_p95_ms=", absl::StrFormat("%.1f", p95), " ");
    if (p95 > slowest_p95) {
      slowest_p95 = p95;
      slowest = call.name;
    }
  }
  std::printf("jobs=%d points=%ld baseline_p95_ms=%.1f %sslowest=%s p95_ms=%.1f target_p95_ms=100\n", jobs,
              static_cast<long>(points), base_p95, summary.c_str(), slowest.c_str(), slowest_p95);
  return 0;
}
