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
#include "server/grpc/scheduler_server.h"
#include "server/storage/migrator.h"
#include "server/testing/postgres_cluster.h"
#include "worker/music/data/midi_writer.h"

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
    SeedStudies();
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


  // Writes `bytes` under the artifact root and records it for `job_id`.
  static int64_t AddArtifact(pqxx::work& txn, int64_t job_id, const std::string& name, const std::string& bytes) {
    const std::string path = absl::StrCat(*artifact_root_, "/studies/job-", job_id, "/", name);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
    return txn
        .exec_params1("INSERT INTO artifacts (job_id, name, attempt, size_bytes, sha256, storage_path) "
                      "VALUES ($1, $2, 1, $3, $4, $5) RETURNING id",
                      job_id, name, static_cast<int64_t>(bytes.size()), Sha256Hex(bytes), path)[0]
        .as<int64_t>();
  }

  // The two studies' shapes: trainings with the paper's metrics, a
  // generation with a piece and its original (MIDI), an evaluation with
  // self-similarity, and SAE analyses over layer x checkpoint with a
  // features.json. Kinds are set afterwards (the sweep is parsed as noop).
  static void SeedStudies() {
    auto store = storage::PostgresStore::Open(*admin_, 2);
    ASSERT_TRUE(store.ok());
    auto plan = ParseSweep(R"(
name: studies
stages:
  - name: music
    kind: noop
    grid: {attention: [Attn, CirRelAttn-H], seed: [1, 2]}
  - name: generate
    kind: noop
    depends_on: music
    grid: {attention: [CirRelAttn-H]}
  - name: analysis
    kind: noop
    grid: {layer: [1, 2], checkpoint: [10, 20]}
)",
                           "studies.yaml");
    ASSERT_TRUE(plan.ok()) << plan.status();
    auto created = (*store)->CreateSweep(*plan, "name: studies", "");
    ASSERT_TRUE(created.ok());
    studies_sweep_id_ = created->sweep_id;
    pqxx::connection connection(*admin_);
    pqxx::work txn(connection);
    const auto ids = [&](const char* stage) {
      std::vector<int64_t> out;
      for (const auto& row : txn.exec_params("SELECT id FROM jobs WHERE sweep_id = $1 AND stage = $2 ORDER BY id",
                                             studies_sweep_id_, stage)) {
        out.push_back(row[0].as<int64_t>());
      }
      return out;
    };
    const std::vector<int64_t> music = ids("music"), generate = ids("generate"), analysis = ids("analysis");
    txn.exec_params("UPDATE jobs SET kind = 'train_music', state = 'succeeded' WHERE sweep_id = $1 AND stage = 'music'",
                    studies_sweep_id_);
    txn.exec_params("UPDATE jobs SET kind = 'generate_music' WHERE sweep_id = $1 AND stage = 'generate'",
                    studies_sweep_id_);
    txn.exec_params("UPDATE jobs SET kind = 'analyze_sae' WHERE sweep_id = $1 AND stage = 'analysis'",
                    studies_sweep_id_);
    // test_loss: Attn 1.0 and 1.2 over its seeds, CirRelAttn-H 0.8 and 0.9.
    const double losses[] = {1.0, 1.2, 0.8, 0.9};
    for (size_t i = 0; i < music.size(); ++i) {
      txn.exec_params("INSERT INTO metrics (job_id, key, step, value) VALUES ($1, 'test_loss', 100, $2), "
                      "($1, 'note_f1', 100, 0.5)",
                      music[i], losses[i]);
    }
    // SAE analyses: layer L, checkpoint C -> fraction_mixed = L / 10 + C / 1000.
    for (int64_t job : analysis) {
      pqxx::row params = txn.exec_params1(
          "SELECT (params->>'layer')::int, (params->>'checkpoint')::int FROM jobs WHERE id = $1", job);
      const double mixed = params[0].as<int>() / 10.0 + params[1].as<int>() / 1000.0;
      txn.exec_params("INSERT INTO metrics (job_id, key, step, value) VALUES ($1, 'fraction_mixed', 0, $2), "
                      "($1, 'fraction_japanese', 0, 0.3), ($1, 'fraction_english', 0, 0.3), "
                      "($1, 'fraction_dead', 0, 0.1), ($1, 'mean_r', 0, 0.7), ($1, 'mean_span', 0, 1.5)",
                      job, mixed);
    }
    sae_job_id_ = analysis[0];
    json features = {{"rule", "all_activations"}, {"threshold", 0.9}, {"summary", {{"n_latents", 4}, {"live", 3}}}};
    features["features"] = json::array({
        {{"id", 0}, {"class", "japanese"}, {"r", 0.9}, {"mean_span", 1.0}, {"count", 30},
         {"top", json::array({{{"value", 2.0}, {"text", "…の [[猫]] が…"}}})}},
        {{"id", 1}, {"class", "dead"}, {"r", nullptr}, {"mean_span", 0}, {"count", 0}},
        {{"id", 2}, {"class", "english"}, {"r", 0.4}, {"mean_span", 2.5}, {"count", 50}},
        {{"id", 3}, {"class", "mixed"}, {"r", 0.6}, {"mean_span", 1.2}, {"count", 10}}});
    AddArtifact(txn, sae_job_id_, "features.json", features.dump());
    AddArtifact(txn, analysis[1], "features.json", "{not json");
    // The piece: two notes (C4 then E4, a beat each at 120 bpm); the original one note.
    music::MidiWriterScore score;
    score.tracks.push_back({.name = "piano", .notes = {{.pitch = 60, .velocity = 100, .start_tick = 0, .duration_ticks = 480},
                                                       {.pitch = 64, .velocity = 80, .start_tick = 480, .duration_ticks = 480}}});
    auto piece = music::EncodeStandardMidiFile(score);
    ASSERT_TRUE(piece.ok());
    score.tracks[0].notes.resize(1);
    auto original = music::EncodeStandardMidiFile(score);
    ASSERT_TRUE(original.ok());
    piece_id_ = AddArtifact(txn, generate[0], "piece_0.mid", *piece);
    original_id_ = AddArtifact(txn, generate[0], "original_0.mid", *original);
    AddArtifact(txn, generate[0], "piece_0.json",
                json{{"window", 7}, {"prompt_bars", 1}, {"stop_reason", "eos"}, {"generated_notes", 2},
                     {"tokens", json::array({1, 2, 3})}}
                    .dump());
    corrupt_piece_id_ = AddArtifact(txn, generate[0], "piece_1.mid", "MThd garbage");
    AddArtifact(txn, music[0], "self_similarity.json",
                json{{"pieces", json::array({{{"window", 7}, {"truth", {{"values", {{1, 0}, {0, 1}}}}}}})}}.dump());
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
    return Checked(response, path, status);
  }

  json Post(const std::string& path, const std::string& body, int status,
            const std::string& content_type = "application/json") {
    return Checked(client_->Post(path.c_str(), body, content_type.c_str()), path, status);
  }

  json Checked(const httplib::Result& response, const std::string& path, int status) {
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
  static inline int64_t studies_sweep_id_ = 0;
  static inline int64_t sae_job_id_ = 0;
  static inline int64_t piece_id_ = 0;
  static inline int64_t original_id_ = 0;
  static inline int64_t corrupt_piece_id_ = 0;
  std::unique_ptr<DashboardServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(DashboardApiTest, SweepsWithCountsPerState) {
  json sweeps = Get("/api/sweeps");
  ASSERT_EQ(sweeps["sweeps"].size(), 2u);
  const json& sweep = sweeps["sweeps"][1];  // newest first
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
  // 1000 buckets of one step: read from the points, exact.
  json exact = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/series?key=loss&buckets=1000"));
  EXPECT_EQ(exact["width"], 1);
  EXPECT_FALSE(exact["grouped"]);
  ASSERT_EQ(exact["series"].size(), 4u);
  EXPECT_EQ(exact["first_step"], 0);
  EXPECT_EQ(exact["end_step"], 1000);
  for (int i = 0; i < 4; ++i) {
    const json& one = exact["series"][i];
    EXPECT_EQ(one["job_id"], job_ids_[i]);
    EXPECT_EQ(one["points"], 1000);
    ASSERT_EQ(one["steps"].size(), 1000u);
    EXPECT_EQ(one["buckets"][999], 1000);
    EXPECT_DOUBLE_EQ(one["min"][999].get<double>(), 1.0 / (999 + i + 1));
  }
  // 50 buckets of 20 steps: read from the 16-step rollups kept on write; a
  // rollup counts in the bucket of its first step (0 and 16 -> bucket 1).
  json series = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/series?key=loss&buckets=50"));
  EXPECT_EQ(series["width"], 16);
  ASSERT_EQ(series["series"].size(), 4u);
  EXPECT_EQ(series["series"][0]["buckets"][0], 1);
  for (int i = 0; i < 4; ++i) {
    const json& one = series["series"][i];
    EXPECT_EQ(one["points"], 1000);
    ASSERT_EQ(one["steps"].size(), 50u);
    EXPECT_EQ(one["steps"][0], 0);
    EXPECT_EQ(one["steps"][1], 32);
    EXPECT_DOUBLE_EQ(one["max"][0].get<double>(), 1.0 / (i + 1));
    EXPECT_DOUBLE_EQ(one["min"][0].get<double>(), 1.0 / (31 + i + 1));
  }
  // 100 buckets of 10 steps: narrower than a rollup, so the points, exact.
  json fine = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/series?key=loss&buckets=100"));
  EXPECT_EQ(fine["width"], 1);
  EXPECT_EQ(fine["series"][0]["steps"][1], 10);
  EXPECT_DOUBLE_EQ(fine["series"][0]["min"][0].get<double>(), 1.0 / 10);
  // Grouped by a parameter: Attn is jobs 0 and 2, RelAttn 1 and 3.
  json grouped = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/series?key=loss&buckets=1000&group=variant"));
  EXPECT_TRUE(grouped["grouped"]);
  EXPECT_TRUE(grouped["series"].empty());
  ASSERT_EQ(grouped["groups"].size(), 2u);
  const json& attn = grouped["groups"][0];
  EXPECT_EQ(attn["value"], "Attn");
  EXPECT_EQ(attn["jobs"], 2);
  EXPECT_EQ(attn["points"], 2000);
  EXPECT_DOUBLE_EQ(attn["max"][0].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(attn["min"][0].get<double>(), 1.0 / 3);
  EXPECT_DOUBLE_EQ(attn["mean"][0].get<double>(), (1.0 + 1.0 / 3) / 2);
  EXPECT_TRUE(Get(absl::StrCat("/api/sweeps/", sweep_id_, "/series?key=nothing"))["series"].empty());
}

TEST_F(DashboardApiTest, SummariesFollowEveryWrite) {
  // The summaries and rollups are kept by triggers: an overwritten point and
  // a deleted tail are reflected, as the points themselves say.
  pqxx::connection connection(*admin_);
  const int64_t job = job_ids_[1];
  const auto last = [&]() {
    return Get(absl::StrCat("/api/sweeps/", sweep_id_, "/metrics?agg=last"))["rows"][1]["metrics"]["loss"];
  };
  const auto max = [&]() {
    return Get(absl::StrCat("/api/sweeps/", sweep_id_, "/metrics?agg=max"))["rows"][1]["metrics"]["loss"];
  };
  EXPECT_DOUBLE_EQ(last().get<double>(), 1.0 / 1001);
  {
    pqxx::work txn(connection);
    txn.exec_params("UPDATE metrics SET value = 7 WHERE job_id = $1 AND key = 'loss' AND step = 500", job);
    txn.commit();
  }
  EXPECT_DOUBLE_EQ(max().get<double>(), 7.0);
  {
    pqxx::work txn(connection);
    txn.exec_params("DELETE FROM metrics WHERE job_id = $1 AND key = 'loss' AND step >= 500", job);
    txn.commit();
  }
  EXPECT_DOUBLE_EQ(last().get<double>(), 1.0 / 501);
  EXPECT_DOUBLE_EQ(max().get<double>(), 0.5);
  {
    pqxx::work txn(connection);
    txn.exec_params("INSERT INTO metrics (job_id, key, step, value) SELECT $1, 'loss', s, 1.0 / (s + 2) "
                    "FROM generate_series(500, 999) s",
                    job);
    txn.commit();
  }
  EXPECT_DOUBLE_EQ(last().get<double>(), 1.0 / 1001);
  pqxx::work txn(connection);
  pqxx::row rollup = txn.exec_params1(
      "SELECT r.points, r.min_value, r.sum_value FROM metric_rollups r WHERE job_id = $1 AND key = 'loss' "
      "AND width = 1024 AND bucket = 0",
      job);
  pqxx::row truth = txn.exec_params1(
      "SELECT count(*), min(value), sum(value) FROM metrics WHERE job_id = $1 AND key = 'loss'", job);
  EXPECT_EQ(rollup[0].as<int64_t>(), truth[0].as<int64_t>());
  EXPECT_DOUBLE_EQ(rollup[1].as<double>(), truth[1].as<double>());
  EXPECT_NEAR(rollup[2].as<double>(), truth[2].as<double>(), 1e-9);
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

TEST_F(DashboardApiTest, OnLoopbackOnlyRequestsForALoopbackNameAreAnswered) {
  // DNS rebinding, or a proxy passing its public name: refused with a message.
  json refused = Get("/api/sweeps", 403, {{"Host", "evil.example:8080"}});
  EXPECT_NE(refused["error"].get<std::string>().find("--listen"), std::string::npos) << refused;
  EXPECT_EQ(Get("/api/sweeps", 200, {{"Host", "localhost:8080"}})["sweeps"].size(), 2u);
  EXPECT_EQ(Get("/api/sweeps", 200, {{"Host", "[::1]:8080"}})["sweeps"].size(), 2u);
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
  EXPECT_EQ(Get("/api/health")["ok"], true);  // for probes: no token needed
  Get("/api/sweeps", 403, {{"Authorization", "Bearer worker-token"}});
  EXPECT_EQ(Get("/api/sweeps", 200, {{"Authorization", "Bearer user-token"}})["sweeps"].size(), 2u);
}


TEST_F(DashboardApiTest, MusicPageHasThePaperTablePiecesAndSelfSimilarity) {
  json music = Get(absl::StrCat("/api/sweeps/", studies_sweep_id_, "/music"));
  const json& report = music["report"];
  ASSERT_TRUE(report.contains("rows")) << report;
  EXPECT_EQ(report["row_params"], json({"attention"}));
  ASSERT_EQ(report["rows"].size(), 2u);
  // Paper order: Attn first; mean and sample std over the two seeds.
  EXPECT_EQ(report["rows"][0]["params"]["attention"], "Attn");
  EXPECT_EQ(report["rows"][0]["n"], 2);
  EXPECT_DOUBLE_EQ(report["rows"][0]["values"]["loss"]["mean"].get<double>(), 1.1);
  EXPECT_NEAR(report["rows"][0]["values"]["loss"]["std"].get<double>(), 0.141421, 1e-6);
  EXPECT_DOUBLE_EQ(report["rows"][1]["values"]["loss"]["mean"].get<double>(), 0.85);

  ASSERT_EQ(music["pieces"].size(), 2u);
  const json& piece = music["pieces"][0];
  EXPECT_EQ(piece["piece"]["id"], piece_id_);
  EXPECT_EQ(piece["original"]["id"], original_id_);
  EXPECT_EQ(piece["kind"], "generate_music");
  EXPECT_EQ(piece["params"]["attention"], "CirRelAttn-H");
  EXPECT_EQ(piece["record"]["stop_reason"], "eos");
  EXPECT_FALSE(piece["record"].contains("tokens"));  // the token list stays on disk
  EXPECT_EQ(piece["ratings"]["count"], 0);
  EXPECT_TRUE(music["pieces"][1]["original"].is_null());  // piece_1 has no original
  ASSERT_EQ(music["self_similarity"].size(), 1u);
  EXPECT_EQ(music["self_similarity"][0]["params"]["attention"], "Attn");

  // The same table on its own, and as CSV; 404 with the reason where there is none.
  EXPECT_EQ(Get(absl::StrCat("/api/sweeps/", studies_sweep_id_, "/report")), report);
  auto csv = client_->Get(absl::StrCat("/api/sweeps/", studies_sweep_id_, "/report.csv").c_str());
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->status, 200);
  EXPECT_EQ(csv->body.rfind("attention,n,loss_mean,loss_std,loss_n", 0), 0u) << csv->body;
  Get(absl::StrCat("/api/sweeps/", sweep_id_, "/report"), 404);
  json none = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/report?if_any=1"));
  EXPECT_TRUE(none["rows"].is_null());
  EXPECT_FALSE(none["reason"].get<std::string>().empty());
  Get(absl::StrCat("/api/sweeps/", sweep_id_, "/report.csv"), 404);

  // A sweep without music metrics: no table, and why.
  json other = Get(absl::StrCat("/api/sweeps/", sweep_id_, "/music"));
  EXPECT_TRUE(other["report"].contains("error"));
  EXPECT_TRUE(other["pieces"].empty());
}

TEST_F(DashboardApiTest, MidiArtifactsAsNotes) {
  json notes = Get(absl::StrCat("/api/artifacts/", piece_id_, "/notes"));
  EXPECT_EQ(notes["notes"], 2);
  EXPECT_NEAR(notes["duration_seconds"].get<double>(), 1.0, 1e-6);  // two beats at 120 bpm
  json all = json::array();
  for (const json& track : notes["tracks"]) {
    for (const json& note : track["notes"]) all.push_back(note);
  }
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0][0], 60);
  EXPECT_EQ(all[0][1], 100);
  EXPECT_NEAR(all[1][2].get<double>(), 0.5, 1e-6);
  EXPECT_NEAR(all[1][4].get<double>(), 1.0, 1e-6);  // onset in beats
  // Not MIDI: 400; a corrupt MIDI file: 422, naming the artifact.
  Get(absl::StrCat("/api/artifacts/", artifact_id_, "/notes"), 400);
  json corrupt = Get(absl::StrCat("/api/artifacts/", corrupt_piece_id_, "/notes"), 422);
  EXPECT_NE(corrupt["error"].get<std::string>().find("piece_1.mid"), std::string::npos) << corrupt;
  Get("/api/artifacts/999999/notes", 404);
  Get("/api/artifacts/x/notes", 400);
}

TEST_F(DashboardApiTest, SaeGridsAndTheFeatureBrowser) {
  json sae = Get(absl::StrCat("/api/sweeps/", studies_sweep_id_, "/sae"));
  ASSERT_EQ(sae["models"].size(), 1u);
  const json& model = sae["models"][0];
  EXPECT_EQ(model["layers"], json({1, 2}));
  EXPECT_EQ(model["checkpoints"], json({10, 20}));
  EXPECT_DOUBLE_EQ(model["values"]["fraction_mixed"][1][0].get<double>(), 0.21);  // layer 2, checkpoint 10
  EXPECT_DOUBLE_EQ(model["values"]["mean_span"][0][1].get<double>(), 1.5);
  EXPECT_EQ(model["analyses"][0][0]["job_id"], sae_job_id_);
  EXPECT_FALSE(model["analyses"][0][0]["features_artifact_id"].is_null());
  Get(absl::StrCat("/api/sweeps/", studies_sweep_id_, "/sae?layer=7"), 400);
  Get(absl::StrCat("/api/sweeps/", sweep_id_, "/sae"), 404);  // no analyze_sae jobs

  // Live features (dead left out) by firing count, descending.
  json live = Get(absl::StrCat("/api/jobs/", sae_job_id_, "/features"));
  EXPECT_EQ(live["total"], 3);
  ASSERT_EQ(live["features"].size(), 3u);
  EXPECT_EQ(live["features"][0]["id"], 2);
  EXPECT_EQ(live["summary"]["n_latents"], 4);
  json by_r = Get(absl::StrCat("/api/jobs/", sae_job_id_, "/features?class=any&sort=r&order=asc&limit=2&offset=1"));
  EXPECT_EQ(by_r["total"], 4);
  ASSERT_EQ(by_r["features"].size(), 2u);
  EXPECT_EQ(by_r["features"][0]["id"], 2);  // r: null (sorted first ascending), 0.4, 0.6, 0.9
  EXPECT_EQ(by_r["features"][1]["id"], 3);
  json japanese = Get(absl::StrCat("/api/jobs/", sae_job_id_, "/features?class=japanese"));
  ASSERT_EQ(japanese["features"].size(), 1u);
  EXPECT_EQ(japanese["features"][0]["top"][0]["text"], "…の [[猫]] が…");
  Get(absl::StrCat("/api/jobs/", sae_job_id_, "/features?class=french"), 400);
  Get(absl::StrCat("/api/jobs/", sae_job_id_, "/features?limit=0"), 400);
  Get(absl::StrCat("/api/jobs/", job_ids_[0], "/features"), 404);  // no features.json
  json corrupt = Get(absl::StrCat("/api/jobs/", sae_job_id_ + 1, "/features"), 422);
  EXPECT_NE(corrupt["error"].get<std::string>().find("features.json"), std::string::npos) << corrupt;
}

TEST_F(DashboardApiTest, RatingsGoThroughTheScheduler) {
  // Without a scheduler the form is off; bad bodies are refused either way.
  Post("/api/ratings", R"({"artifact_id": 1, "rater": "a", "coherence": 3, "musicality": 3, "overall": 3})", 503);
  Post("/api/ratings", "coherence=3", 400, "application/x-www-form-urlencoded");

  server::ServerOptions scheduler_options;
  scheduler_options.listen_address = "127.0.0.1:0";
  scheduler_options.database = *admin_;
  scheduler_options.migrations_dir = EXPSVC_DEFAULT_MIGRATIONS_DIR;
  scheduler_options.artifact_root = *artifact_root_;
  auto scheduler = server::SchedulerServer::Start(scheduler_options);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  server_.reset();
  DashboardOptions options;
  options.database = *admin_ + " user=expsvc_reader";
  options.port = 0;
  options.artifact_root = *artifact_root_;
  options.scheduler_address = absl::StrCat("127.0.0.1:", (*scheduler)->port());
  options.scheduler_token = "user-token";
  auto dashboard = DashboardServer::Start(options);
  ASSERT_TRUE(dashboard.ok()) << dashboard.status();
  server_ = *std::move(dashboard);
  client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());

  const auto rating = [&](const std::string& rater, int score) {
    return json{{"artifact_id", piece_id_}, {"rater", rater}, {"coherence", score}, {"musicality", 4}, {"overall", 5}}
        .dump();
  };
  json first = Post("/api/ratings", rating("ann", 2), 200);
  EXPECT_EQ(first["rating"]["rater"], "ann");
  EXPECT_EQ(first["ratings"]["count"], 1);
  Post("/api/ratings", rating("bob", 4), 200);
  // Ann changes her mind: her rating is replaced, not added.
  json again = Post("/api/ratings", rating("ann", 3), 200);
  EXPECT_EQ(again["ratings"]["count"], 2);
  EXPECT_DOUBLE_EQ(again["ratings"]["coherence"].get<double>(), 3.5);
  json music = Get(absl::StrCat("/api/sweeps/", studies_sweep_id_, "/music"));
  EXPECT_EQ(music["pieces"][0]["ratings"]["count"], 2);
  EXPECT_DOUBLE_EQ(music["pieces"][0]["ratings"]["overall"].get<double>(), 5.0);

  // Refused with a message: a score out of range, no rater, not a piece, no such artifact.
  Post("/api/ratings", rating("ann", 6), 400);
  Post("/api/ratings", rating("", 3), 400);
  json not_midi = Post("/api/ratings",
                       json{{"artifact_id", artifact_id_}, {"rater", "ann"}, {"coherence", 3}, {"musicality", 3},
                            {"overall", 3}}
                           .dump(),
                       400);
  EXPECT_NE(not_midi["error"].get<std::string>().find("model.bin"), std::string::npos) << not_midi;
  Post("/api/ratings",
       json{{"artifact_id", 999999}, {"rater", "ann"}, {"coherence", 3}, {"musicality", 3}, {"overall", 3}}.dump(),
       404);
  // The scheduler checks on its own too (other clients than the dashboard).
  expsvc::v1::Rating direct;
  direct.set_artifact_id(piece_id_);
  direct.set_rater("   ");
  direct.set_coherence(3);
  direct.set_musicality(3);
  direct.set_overall(3);
  EXPECT_EQ((*scheduler)->scheduler().SubmitRating(direct).status().code(), absl::StatusCode::kInvalidArgument);
  // The limit is 100 characters, not bytes: 100 three-byte characters pass, 101 do not.
  std::string name;
  for (int i = 0; i < 100; ++i) name += "\u732b";
  direct.set_rater(name);
  EXPECT_TRUE((*scheduler)->scheduler().SubmitRating(direct).ok());
  direct.set_rater(name + "x");
  EXPECT_EQ((*scheduler)->scheduler().SubmitRating(direct).status().code(), absl::StatusCode::kInvalidArgument);
  direct.set_rater("cy");
  direct.set_overall(0);
  EXPECT_EQ((*scheduler)->scheduler().SubmitRating(direct).status().code(), absl::StatusCode::kInvalidArgument);
  direct.set_overall(1);
  ASSERT_TRUE((*scheduler)->scheduler().SubmitRating(direct).ok());
  expsvc::v1::ListRatingsRequest list;
  list.set_sweep_id(studies_sweep_id_);
  auto listed = (*scheduler)->scheduler().ListRatings(list);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->ratings_size(), 4);  // ann, bob, the 100-character name, cy
  server_.reset();
  (*scheduler)->Shutdown();
}

}  // namespace
}  // namespace expsvc::web
