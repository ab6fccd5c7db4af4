// The dashboard's API against a real PostgreSQL seeded with a sweep (jobs in
// every state, metrics, logs, an artifact, a worker), read through the
// read-only role: every route, bad ids and parameters, and writes refused.

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <httplib.h>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "client/web/dashboard_server.h"
#include "common/sha256.h"
#include "common/sweep/sweep_spec.h"
#include "server/storage/migrator.h"
#include "server/testing/postgres_cluster.h"

namespace expsvc::web {
namespace {

using nlohmann::json;

class DashboardApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = testing::PostgresCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
    auto conninfo = cluster_->CreateDatabase("dashboard");
    ASSERT_TRUE(conninfo.ok()) << conninfo.status();
    admin_ = new std::string(*conninfo);
    ASSERT_TRUE(storage::ApplyMigrations(*admin_, EXPSVC_DEFAULT_MIGRATIONS_DIR).ok());
    artifact_root_ = new std::string(::testing::TempDir() + "/dashboard-artifacts");
    std::filesystem::create_directories(*artifact_root_);
    Seed();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete admin_;
    delete artifact_root_;
  }

  // Two stages: train (lr × variant: 4 jobs) and evaluate (depends on train).
  static void Seed() {
    auto store = storage::PostgresStore::Open(*admin_, 2);
    ASSERT_TRUE(store.ok());
    auto plan = ParseSweep(R"(
name: seeded
stages:
  - name: train
    kind: sleep
    grid: {lr: [0.1, 0.01], variant: [Attn, RelAttn]}
  - name: evaluate
    kind: noop
    depends_on: train
    grid: {lr: [0.1, 0.01], variant: [Attn, RelAttn]}
)",
                           "seeded.yaml");
    ASSERT_TRUE(plan.ok()) << plan.status();
    auto created = (*store)->CreateSweep(*plan, "name: seeded", "");
    ASSERT_TRUE(created.ok());
    sweep_id_ = created->sweep_id;
    pqxx::connection connection(*admin_);
    pqxx::work txn(connection);
    txn.exec("INSERT INTO workers (id, name, hostname, capabilities) VALUES ('w-1', 'gpu-node', 'host-a', "
             "'{\"slots\": 2, \"kinds\": [\"sleep\"]}')");
    pqxx::result jobs = txn.exec_params("SELECT id FROM jobs WHERE sweep_id = $1 AND stage = 'train' ORDER BY id",
                                        sweep_id_);
    for (int i = 0; i < 4; ++i) job_ids_[i] = jobs[i][0].as<int64_t>();
    // Job 0 and 1 succeeded, 2 failed, 3 runs on w-1.
    txn.exec_params("UPDATE jobs SET state = 'succeeded', attempt = 1, started_at = now(), finished_at = now() "
                    "WHERE id = ANY($1::bigint[])",
                    absl::StrCat("{", job_ids_[0], ",", job_ids_[1], "}"));
    txn.exec_params("UPDATE jobs SET state = 'failed', attempt = 3, error = 'boom', finished_at = now() WHERE id = $1",
                    job_ids_[2]);
    txn.exec_params("UPDATE jobs SET state = 'running', attempt = 1, worker_id = 'w-1', lease_epoch = 4, "
                    "lease_expires_at = now() + interval '1 hour', started_at = now() WHERE id = $1",
                    job_ids_[3]);
    // 1000 steps of loss per job, and 3 log lines for job 0.
    for (int i = 0; i < 4; ++i) {
      txn.exec_params("INSERT INTO metrics (job_id, key, step, value) SELECT $1, 'loss', s, 1.0 / (s + $2) "
                      "FROM generate_series(0, 999) s",
                      job_ids_[i], i + 1);
    }
    txn.exec_params("INSERT INTO job_logs (job_id, attempt, line) VALUES ($1, 1, 'one'), ($1, 1, 'two'), "
                    "($1, 1, 'three')",
                    job_ids_[0]);
    const std::string path = *artifact_root_ + "/sweep-1/job-1/abc-model.bin";
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << "weights";
    artifact_id_ = txn.exec_params1("INSERT INTO artifacts (job_id, name, attempt, size_bytes, sha256, storage_path) "
                                    "VALUES ($1, 'model.bin', 1, 7, $2, $3) RETURNING id",
                                    job_ids_[0], Sha256Hex("weights"), path)[0]
                       .as<int64_t>();
    missing_artifact_id_ =
        txn.exec_params1("INSERT INTO artifacts (job_id, name, attempt, size_bytes, sha256, storage_path) "
                         "VALUES ($1, 'gone.bin', 1, 3, 'x', $2) RETURNING id",
                         job_ids_[1], *artifact_root_ + "/sweep-1/job-2/gone.bin")[0]
            .as<int64_t>();
    txn.exec_params("INSERT INTO auth_tokens (name, role, token_hash) VALUES ('alice', 'user', $1), "
                    "('node', 'worker', $2)",
                    Sha256Hex("user-token"), Sha256Hex("worker-token"));
    txn.commit();
  }

  void SetUp() override { StartServer("127.0.0.1"); }

  void StartServer(const std::string& host) {
    server_.reset();
    DashboardOptions options;
    options.database = *admin_ + " user=expsvc_reader";
    options.host = host;
    options.port = 0;
    options.artifact_root = *artifact_root_;
    auto server = DashboardServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<httplib::Client>(host, server_->port());
  }

  // GET path; expects `status` and returns the parsed body.
  json Get(const std::string& path, int status = 200, const httplib::Headers& headers = {}) {
    auto response = client_->Get(path.c_str(), headers);
    EXPECT_TRUE(response) << path;
    if (!response) return json();
    EXPECT_EQ(response->status, status) << path << ": " << response->body;
    json body = json::parse(response->body, nullptr, false);
    if (status >= 400) {
      EXPECT_TRUE(body.contains("error")) << path << ": " << response->body;
      EXPECT_FALSE(body.value("error", "").empty()) << path;
    }
    return body;
  }

  static inline testing::PostgresCluster* cluster_ = nullptr;
  static inline std::string* admin_ = nullptr;
  static inline std::string* artifact_root_ = nullptr;
  static inline int64_t sweep_id_ = 0;
  static inline int64_t job_ids_[4] = {};
  static inline int64_t artifact_id_ = 0;
  static inline int64_t missing_artifact_id_ = 0;
  std::unique_ptr<DashboardServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(DashboardApiTest, SweepsWithCountsPerState) {
  json sweeps = Get("/api/sweeps");
  ASSERT_EQ(sweeps["sweeps"].size(), 1u);
  const json& sweep = sweeps["sweeps"][0];
  EXPECT_EQ(sweep["id"], sweep_id_);
  EXPECT_EQ(sweep["name"], "seeded");
  EXPECT_EQ(sweep["counts"]["total"], 8);
  EXPECT_EQ(sweep["counts"]["succeeded"], 2);
  EXPECT_EQ(sweep["counts"]["failed"], 1);
  EXPECT_EQ(sweep["counts"]["running"], 1);
  EXPECT_EQ(sweep["counts"]["waiting"], 4);
  json one = Get(absl::StrCat("/api/sweeps/", sweep_id_));
  EXPECT_EQ(one["spec_yaml"], "name: seeded");
}

TEST_F(DashboardApiTest, JobsFilteredAndPaged) {
  json all = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/jobs"));
  EXPECT_EQ(all["jobs"].size(), 8u);
  EXPECT_TRUE(all["next_after"].is_null());
  json failed = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/jobs?state=failed"));
  ASSERT_EQ(failed["jobs"].size(), 1u);
  EXPECT_EQ(failed["jobs"][0]["error"], "boom");
  EXPECT_EQ(failed["jobs"][0]["params"]["variant"], "Attn");
  json page = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/jobs?limit=3"));
  ASSERT_EQ(page["jobs"].size(), 3u);
  json next = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/jobs?limit=5&after=", page["next_after"].get<int64_t>()));
  EXPECT_EQ(next["jobs"].size(), 5u);
  EXPECT_EQ(Get(absl::StrCat("/api/sweeps/", sweep_id_, "/jobs?kind=noop"))["jobs"].size(), 4u);
}

TEST_F(DashboardApiTest, MetricsTableAsExpctlAndCsv) {
  json table = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/metrics?agg=min"));
  EXPECT_EQ(table["keys"], json({"loss"}));
  // Every job has a row, as in expctl (the evaluate jobs without points);
  // parameters that differ between them are columns.
  ASSERT_EQ(table["rows"].size(), 8u);
  for (const char* param : {"lr", "variant", "steps"}) {
    EXPECT_NE(std::find(table["param_columns"].begin(), table["param_columns"].end(), param),
              table["param_columns"].end())
        << param;
  }
  EXPECT_TRUE(table["rows"][4]["metrics"]["loss"].is_null());
  // min of 1/(s + i + 1) over s < 1000 is 1/(1000 + i).
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(table["rows"][i]["job_id"], job_ids_[i]);
    EXPECT_DOUBLE_EQ(table["rows"][i]["metrics"]["loss"].get<double>(), 1.0 / (1000 + i));
  }
  auto csv = client_->Get(absl::StrCat("/api/sweeps/", sweep_id_, "/metrics.csv?agg=last").c_str());
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->status, 200);
  EXPECT_EQ(csv->get_header_value("Content-Type"), "text/csv");
  const std::string header = csv->body.substr(0, csv->body.find('\n'));
  EXPECT_EQ(header.rfind("job_id,stage,state,", 0), 0u) << header;
  EXPECT_TRUE(header.ends_with(",lr,seconds,steps,variant,loss")) << header;
  EXPECT_EQ(std::count(csv->body.begin(), csv->body.end(), '\n'), 9);
}

TEST_F(DashboardApiTest, SeriesAreBucketedOnTheServer) {
  json series = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/series?key=loss&buckets=100"));
  ASSERT_EQ(series["series"].size(), 4u);
  EXPECT_EQ(series["first_step"], 0);
  EXPECT_EQ(series["end_step"], 1000);
  EXPECT_EQ(series["series"][0]["buckets"][0], 1);
  EXPECT_EQ(series["series"][0]["buckets"][99], 100);
  for (int i = 0; i < 4; ++i) {
    const json& one = series["series"][i];
    EXPECT_EQ(one["job_id"], job_ids_[i]);
    EXPECT_EQ(one["points"], 1000);
    ASSERT_EQ(one["steps"].size(), 100u);  // 1000 points, 100 buckets of 10 steps
    EXPECT_EQ(one["steps"][0], 0);
    EXPECT_EQ(one["steps"][1], 10);
    // Bucket 0 holds steps 0..9: max at step 0, min at step 9.
    EXPECT_DOUBLE_EQ(one["max"][0].get<double>(), 1.0 / (i + 1));
    EXPECT_DOUBLE_EQ(one["min"][0].get<double>(), 1.0 / (9 + i + 1));
  }
  EXPECT_TRUE(Get(absl::StrCat("/api/sweeps/", sweep_id_, "/series?key=nothing"))["series"].empty());
}

TEST_F(DashboardApiTest, AJobWithItsFamilyLogsAndArtifacts) {
  json job = Get(absl::StrCat("/api/jobs/", job_ids_[0]));
  EXPECT_EQ(job["state"], "succeeded");
  ASSERT_EQ(job["child_ids"].size(), 1u);
  json child = Get(absl::StrCat("/api/jobs/", job["child_ids"][0].get<int64_t>()));
  EXPECT_EQ(child["parent_ids"], json({job_ids_[0]}));
  json logs = Get(absl::StrCat("/api/jobs/", job_ids_[0], "/logs"));
  ASSERT_EQ(logs["lines"].size(), 3u);
  EXPECT_EQ(logs["lines"][2]["line"], "three");
  json after = Get(absl::StrCat("/api/jobs/", job_ids_[0], "/logs?after=", logs["lines"][0]["seq"].get<int64_t>()));
  EXPECT_EQ(after["lines"].size(), 2u);
  json artifacts = Get(absl::StrCat("/api/jobs/", job_ids_[0], "/artifacts"));
  ASSERT_EQ(artifacts["artifacts"].size(), 1u);
  EXPECT_EQ(artifacts["artifacts"][0]["name"], "model.bin");
  EXPECT_EQ(artifacts["artifacts"][0]["id"], artifact_id_);
  auto download = client_->Get(absl::StrCat("/api/artifacts/", artifact_id_, "/download").c_str());
  ASSERT_TRUE(download);
  EXPECT_EQ(download->status, 200);
  EXPECT_EQ(download->body, "weights");
  EXPECT_EQ(download->get_header_value("X-Expsvc-Sha256"), Sha256Hex("weights"));
  Get(absl::StrCat("/api/artifacts/", missing_artifact_id_, "/download"), 404);
}

TEST_F(DashboardApiTest, WithoutAnArtifactRootNothingIsServed) {
  server_.reset();
  DashboardOptions options;
  options.database = *admin_ + " user=expsvc_reader";
  options.port = 0;
  auto server = DashboardServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  json refused = Get(absl::StrCat("/api/artifacts/", artifact_id_, "/download"), 404);
  EXPECT_NE(refused["error"].get<std::string>().find("--artifact_root"), std::string::npos);
}

TEST_F(DashboardApiTest, WorkersWithTheirLeases) {
  json workers = Get("/api/workers?all=1");
  ASSERT_EQ(workers["workers"].size(), 1u);
  const json& worker = workers["workers"][0];
  EXPECT_EQ(worker["name"], "gpu-node");
  ASSERT_EQ(worker["leases"].size(), 1u);
  EXPECT_EQ(worker["leases"][0]["job_id"], job_ids_[3]);
  EXPECT_EQ(worker["leases"][0]["lease_epoch"], 4);
}

TEST_F(DashboardApiTest, BadIdsAndParametersAre4xxWithAMessage) {
  Get("/api/sweeps/abc", 400);
  Get("/api/sweeps/0", 400);
  Get("/api/sweeps/999999", 404);
  Get("/api/sweeps/999999/jobs", 404);
  Get(absl::StrCat("/api/sweeps/", sweep_id_, "/jobs?state=finished"), 400);
  Get(absl::StrCat("/api/sweeps/", sweep_id_, "/jobs?limit=0"), 400);
  Get(absl::StrCat("/api/sweeps/", sweep_id_, "/metrics?agg=median"), 400);
  Get(absl::StrCat("/api/sweeps/", sweep_id_, "/series"), 400);
  Get(absl::StrCat("/api/sweeps/", sweep_id_, "/series?key=loss&buckets=999999"), 400);
  Get("/api/jobs/-4", 400);
  Get("/api/jobs/999999", 404);
  Get("/api/jobs/999999/logs", 404);
  Get("/api/jobs/999999/artifacts", 404);
  Get("/api/artifacts/999999/download", 404);
  Get("/api/nothing/here", 404);
  Get("/api/sweeps?limit=abc", 400);
}

TEST_F(DashboardApiTest, TheReaderRoleCannotWriteAndAWriterRoleIsRefused) {
  pqxx::connection reader(*admin_ + " user=expsvc_reader");
  for (const char* write : {"INSERT INTO auth_tokens (name, role, token_hash) VALUES ('x', 'admin', 'h')",
                            "UPDATE jobs SET state = 'queued'", "DELETE FROM metrics", "TRUNCATE job_logs"}) {
    pqxx::work txn(reader);
    EXPECT_THROW(txn.exec(write), pqxx::insufficient_privilege) << write;
  }
  {
    pqxx::work txn(reader);
    EXPECT_THROW(txn.exec("SELECT secret FROM job_token_key"), pqxx::insufficient_privilege);
  }
  DashboardOptions as_admin;
  as_admin.database = *admin_;  // user postgres: a superuser
  as_admin.port = 0;
  auto refused = DashboardServer::Start(as_admin);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("superuser"), std::string_view::npos);
}

TEST_F(DashboardApiTest, OffLoopbackEveryCallNeedsAUserToken) {
  // 127.0.0.2 is loopback too; "0.0.0.0" is not, and is reached on 127.0.0.1.
  server_.reset();
  DashboardOptions options;
  options.database = *admin_ + " user=expsvc_reader";
  options.host = "0.0.0.0";
  options.port = 0;
  auto server = DashboardServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  EXPECT_TRUE(server_->requires_token());
  client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  Get("/api/sweeps", 401);
  Get("/api/sweeps", 401, {{"Authorization", "Bearer wrong"}});
  Get("/api/sweeps", 403, {{"Authorization", "Bearer worker-token"}});
  EXPECT_EQ(Get("/api/sweeps", 200, {{"Authorization", "Bearer user-token"}})["sweeps"].size(), 1u);
}

}  // namespace
}  // namespace expsvc::web
