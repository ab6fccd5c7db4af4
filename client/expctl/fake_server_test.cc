// expctl against an in-process fake of the scheduler's services on
// loopback: what goes over the wire (token, paging, filters) and what the
// user sees (output shapes, exit codes) before the real scheduler exists.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "client/expctl/dispatch.h"
#include "client/expctl/exit_codes.h"
#include "common/sha256.h"
#include "expsvc/v1/artifacts.grpc.pb.h"
#include "expsvc/v1/jobs.grpc.pb.h"
#include "expsvc/v1/metrics.grpc.pb.h"
#include "expsvc/v1/sweeps.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace expsvc::expctl {
namespace {

constexpr char kToken[] = "secret-token";
constexpr int64_t kSweepId = 12;
constexpr int64_t kJobCount = 25;
// Smaller than expctl's page size: paging must not stop at a short page.
constexpr int kServerPageCap = 10;

grpc::Status CheckToken(grpc::ServerContext* context) {
  auto found = context->client_metadata().find("authorization");
  if (found == context->client_metadata().end() ||
      std::string(found->second.data(), found->second.size()) != std::string("Bearer ") + kToken) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or bad token");
  }
  return grpc::Status::OK;
}

v1::Sweep MakeSweep(std::string state, int64_t succeeded, int64_t failed, int64_t queued) {
  v1::Sweep sweep;
  sweep.set_id(kSweepId);
  sweep.set_name("demo");
  sweep.set_state(std::move(state));
  sweep.set_created_at_ms(1'700'000'000'000);
  v1::StateCounts* counts = sweep.mutable_counts();
  counts->set_succeeded(succeeded);
  counts->set_failed(failed);
  counts->set_queued(queued);
  counts->set_total(succeeded + failed + queued);
  return sweep;
}

class FakeSweeps final : public v1::SweepService::Service {
 public:
  grpc::Status SubmitSweep(grpc::ServerContext* context, const v1::SubmitSweepRequest* request,
                           v1::SubmitSweepResponse* response) override {
    if (grpc::Status auth = CheckToken(context); !auth.ok()) return auth;
    if (request->spec_yaml().find("trian") != std::string::npos) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, request->file_name() + ":3:5: unknown kind 'trian'");
    }
    *response->mutable_sweep() = MakeSweep("running", 0, 0, 5);
    response->set_already_existed(request->idempotency_key() == "again");
    for (const char* stage : {"train", "check"}) {
      v1::StagePlan* plan = response->add_stages();
      plan->set_stage(stage);
      plan->set_kind("sleep");
      plan->set_jobs(stage == std::string("train") ? 4 : 1);
    }
    return grpc::Status::OK;
  }
  grpc::Status GetSweep(grpc::ServerContext* context, const v1::GetSweepRequest* request,
                        v1::GetSweepResponse* response) override {
    if (grpc::Status auth = CheckToken(context); !auth.ok()) return auth;
    if (request->sweep_id() != kSweepId) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "sweep " + std::to_string(request->sweep_id()) + " not found");
    }
    *response->mutable_sweep() = MakeSweep("running", 1, 0, 4);
    return grpc::Status::OK;
  }
  grpc::Status WatchSweep(grpc::ServerContext* context, const v1::WatchSweepRequest* request,
                          grpc::ServerWriter<v1::WatchSweepResponse>* writer) override {
    if (grpc::Status auth = CheckToken(context); !auth.ok()) return auth;
    const v1::Sweep updates[] = {
        MakeSweep("running", 2, 0, 3), MakeSweep("running", 4, 0, 1),
        MakeSweep(final_state, 4, final_state == "failed" ? 1 : 0, final_state == "failed" ? 0 : 1)};
    for (const v1::Sweep& sweep : updates) {
      v1::WatchSweepResponse response;
      *response.mutable_sweep() = sweep;
      writer->Write(response);
    }
    return grpc::Status::OK;
  }
  std::string final_state = "failed";
};

class FakeJobs final : public v1::JobService::Service {
 public:
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override {
    if (grpc::Status auth = CheckToken(context); !auth.ok()) return auth;
    {
      std::lock_guard lock(mutex);
      last_filter = request->params_filter_json();
      last_states.assign(request->states().begin(), request->states().end());
    }
    int limit = request->limit() > 0 ? std::min(request->limit(), kServerPageCap) : kServerPageCap;
    for (int64_t id = request->after_id() + 1; id <= kJobCount && limit > 0; ++id, --limit) {
      v1::Job* job = response->add_jobs();
      job->set_id(id);
      job->set_sweep_id(kSweepId);
      if (sae) {
        // 5 layers x 5 checkpoints of one model.
        job->set_stage("analysis");
        job->set_kind("analyze_sae");
        job->set_params_json(R"({"model":"m","layer":)" + std::to_string((id - 1) % 5 + 1) + R"(,"checkpoint":)" +
                             std::to_string(10 * ((id - 1) / 5 + 1)) + "}");
      } else {
        job->set_stage("train");
        job->set_kind("sleep");
        job->set_params_json(R"({"seconds":0.1,"steps":)" + std::to_string(id) + "}");
      }
      job->set_state(v1::JOB_STATE_FAILED);
      job->set_attempt(3);
      job->set_max_attempts(3);
      job->set_error("boom");
    }
    return grpc::Status::OK;
  }
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::GetJobResponse* response) override {
    if (grpc::Status auth = CheckToken(context); !auth.ok()) return auth;
    response->mutable_job()->set_id(request->job_id());
    response->mutable_job()->set_state(v1::JOB_STATE_SUCCEEDED);
    return grpc::Status::OK;
  }
  grpc::Status GetJobLogs(grpc::ServerContext* context, const v1::GetJobLogsRequest* request,
                          v1::GetJobLogsResponse* response) override {
    if (grpc::Status auth = CheckToken(context); !auth.ok()) return auth;
    // Three lines, served one per page.
    if (request->after_seq() < 3) {
      v1::LogLine* line = response->add_lines();
      line->set_seq(request->after_seq() + 1);
      line->set_attempt(request->after_seq() < 2 ? 1 : 2);
      line->set_line("line " + std::to_string(request->after_seq() + 1));
    }
    return grpc::Status::OK;
  }
  std::mutex mutex;
  std::string last_filter;
  std::vector<int> last_states;
  // Set before the first call: the sweep's jobs are analyze_sae jobs.
  std::atomic<bool> sae{false};
};

class FakeMetrics final : public v1::MetricsService::Service {
 public:
  grpc::Status QueryMetrics(grpc::ServerContext* context, const v1::QueryMetricsRequest* request,
                            v1::QueryMetricsResponse* response) override {
    if (grpc::Status auth = CheckToken(context); !auth.ok()) return auth;
    if (sae) {
      // Job 3 is layer 3 at step 10; the other analyses have not reported.
      v1::MetricsRow* row = response->add_rows();
      row->set_job_id(3);
      row->set_params_json(R"({"model":"m","layer":3,"checkpoint":10})");
      for (const auto& [key, value] : std::map<std::string, double>{{"fraction_japanese", 0.2},
                                                                    {"fraction_english", 0.13},
                                                                    {"fraction_mixed", 0.67},
                                                                    {"fraction_dead", 0},
                                                                    {"mean_r", 0.5}}) {
        (*row->mutable_values())[key] = value;
      }
      return grpc::Status::OK;
    }
    for (int64_t id : {1, 2}) {
      v1::MetricsRow* row = response->add_rows();
      row->set_job_id(id);
      row->set_stage("train");
      row->set_state("succeeded");
      row->set_params_json(R"({"lr":)" + std::string(id == 1 ? "0.1" : "0.01") + R"(,"note":"a, \"quoted\" note"})");
      (*row->mutable_values())["loss"] = 1.0 / static_cast<double>(id * 3);
    }
    response->add_keys("loss");
    return grpc::Status::OK;
  }
  std::atomic<bool> sae{false};
};

class FakeArtifacts final : public v1::ArtifactService::Service {
 public:
  grpc::Status DownloadArtifact(grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
                                grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) override {
    if (grpc::Status auth = CheckToken(context); !auth.ok()) return auth;
    if (request->artifact_id() > 2) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "artifact not found");
    }
    const std::string content(100'000, 'z');
    v1::DownloadArtifactResponse header;
    v1::ArtifactRef* artifact = header.mutable_artifact();
    artifact->set_id(request->artifact_id());
    artifact->set_name("checkpoints/model.pt");
    artifact->set_size_bytes(static_cast<int64_t>(content.size()));
    // Artifact 2 is recorded with a checksum its bytes do not have.
    artifact->set_sha256(request->artifact_id() == 1 ? Sha256Hex(content) : Sha256Hex("other"));
    writer->Write(header);
    for (size_t offset = 0; offset < content.size(); offset += 32'768) {
      v1::DownloadArtifactResponse chunk;
      chunk.set_chunk(content.substr(offset, 32'768));
      writer->Write(chunk);
    }
    return grpc::Status::OK;
  }
};

class FakeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&sweeps_);
    builder.RegisterService(&jobs_);
    builder.RegisterService(&metrics_);
    builder.RegisterService(&artifacts_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
    work_dir_ =
        std::filesystem::temp_directory_path() / ("expctl_fake_" + std::to_string(getpid()) + "_" +
                                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(work_dir_);
  }
  void TearDown() override {
    server_->Shutdown();
    std::filesystem::remove_all(work_dir_);
  }

  struct Outcome {
    int exit_code;
    std::string out;
    std::string err;
  };
  Outcome RunCli(std::vector<std::string> words, const std::string& token = kToken) {
    words.insert(words.begin(), {"--addr", address_, "--timeout", "10"});
    std::ostringstream out;
    std::ostringstream err;
    int code = RunExpctl(words, out, err, [&token](const char* name) -> const char* {
      return std::string(name) == "EXPSVC_TOKEN" && !token.empty() ? token.c_str() : nullptr;
    });
    return {code, out.str(), err.str()};
  }
  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string path = (work_dir_ / name).string();
    std::ofstream(path) << content;
    return path;
  }

  FakeSweeps sweeps_;
  FakeJobs jobs_;
  FakeMetrics metrics_;
  FakeArtifacts artifacts_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::filesystem::path work_dir_;
};

TEST_F(FakeServerTest, SubmitPrintsTheSweepIdFirst) {
  std::string path = WriteFile("sweep.yaml", "name: demo\n");
  Outcome outcome = RunCli({"submit", path});
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out, "sweep 12 submitted: 5 jobs in 2 stages\n");

  Outcome again = RunCli({"submit", path, "--key", "again"});
  EXPECT_EQ(again.out, "sweep 12 already exists (idempotency key again)\n");

  Outcome json = RunCli({"submit", path, "--output", "json"});
  ASSERT_EQ(json.exit_code, kExitOk);
  nlohmann::json report = nlohmann::json::parse(json.out);
  EXPECT_EQ(report["sweep_id"], 12);
  EXPECT_EQ(report["jobs"], 5);
  EXPECT_EQ(report["already_existed"], false);
}

TEST_F(FakeServerTest, ServerRefusalExitsOneWithCodeAndMessage) {
  std::string path = WriteFile("sweep.yaml", "stages: [{name: t, kind: trian}]\n");
  Outcome outcome = RunCli({"submit", path});
  EXPECT_EQ(outcome.exit_code, kExitFailed);
  EXPECT_EQ(outcome.err, "expctl: INVALID_ARGUMENT: " + path + ":3:5: unknown kind 'trian'\n");

  Outcome missing = RunCli({"status", "99"});
  EXPECT_EQ(missing.exit_code, kExitFailed);
  EXPECT_EQ(missing.err, "expctl: NOT_FOUND: sweep 99 not found\n");
}

TEST_F(FakeServerTest, MissingTokenStillCallsAndHints) {
  Outcome outcome = RunCli({"status", "12"}, /*token=*/"");
  EXPECT_EQ(outcome.exit_code, kExitFailed);
  EXPECT_NE(outcome.err.find("UNAUTHENTICATED"), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find("EXPSVC_TOKEN is unset"), std::string::npos) << outcome.err;
}

TEST_F(FakeServerTest, StatusShowsCounts) {
  Outcome outcome = RunCli({"status", "12"});
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_NE(outcome.out.find("state      running"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("succeeded"), std::string::npos);
}

TEST_F(FakeServerTest, ListJobsPagesPastServerCap) {
  Outcome all = RunCli({"ls", "jobs", "--sweep", "12", "--limit", "0", "--output", "json", "--param", "steps=3",
                        "--state", "failed,cancelled"});
  ASSERT_EQ(all.exit_code, kExitOk) << all.err;
  nlohmann::json jobs = nlohmann::json::parse(all.out);
  EXPECT_EQ(jobs.size(), static_cast<size_t>(kJobCount));
  EXPECT_EQ(jobs[24]["id"], 25);
  EXPECT_EQ(jobs[0]["params"]["steps"], 1);
  {
    std::lock_guard lock(jobs_.mutex);
    EXPECT_EQ(jobs_.last_filter, R"({"steps":3})");
    EXPECT_EQ(jobs_.last_states, (std::vector<int>{v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED}));
  }

  Outcome limited = RunCli({"ls", "jobs", "--sweep=12", "--limit=15"});
  ASSERT_EQ(limited.exit_code, kExitOk) << limited.err;
  // Header plus 15 rows.
  EXPECT_EQ(std::count(limited.out.begin(), limited.out.end(), '\n'), 16) << limited.out;
  EXPECT_NE(limited.err.find("first 15 jobs"), std::string::npos) << limited.err;
}

TEST_F(FakeServerTest, WatchEndsOneWhenTheSweepFailed) {
  Outcome outcome = RunCli({"watch", "12"});
  EXPECT_EQ(outcome.exit_code, kExitFailed) << outcome.err;
  EXPECT_EQ(outcome.out.find('\r'), std::string::npos) << "no control characters off a TTY";
  EXPECT_EQ(outcome.out.find('\x1b'), std::string::npos);
  EXPECT_NE(outcome.out.find("5/5 100%  ok 4 fail 1"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("sweep 12 failed"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("failed jobs"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("boom"), std::string::npos);
}

TEST_F(FakeServerTest, WatchEndsZeroWhenTheSweepSucceeded) {
  sweeps_.final_state = "succeeded";
  Outcome outcome = RunCli({"watch", "12", "--interval", "100"});
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_NE(outcome.out.find("sweep 12 succeeded"), std::string::npos) << outcome.out;
}

TEST_F(FakeServerTest, LogsPageThroughAndMarkAttempts) {
  Outcome outcome = RunCli({"logs", "7"});
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out, "line 1\nline 2\n=== attempt 2 ===\nline 3\n");

  Outcome follow = RunCli({"logs", "7", "--follow"});
  ASSERT_EQ(follow.exit_code, kExitOk) << follow.err;
  EXPECT_EQ(follow.out, outcome.out);
}

TEST_F(FakeServerTest, MetricsCsvIsQuotedAndFullPrecision) {
  Outcome outcome = RunCli({"metrics", "12", "--format", "csv"});
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out,
            "job_id,stage,state,lr,loss\n"
            "1,train,succeeded,0.1,0.3333333333333333\n"
            "2,train,succeeded,0.01,0.16666666666666666\n");
  Outcome all = RunCli({"metrics", "12", "--format", "csv", "--all-params"});
  EXPECT_NE(all.out.find(R"("a, ""quoted"" note")"), std::string::npos) << all.out;
}

TEST_F(FakeServerTest, ReportNeedsAKnownSweepAndSaysWhatIsMissing) {
  Outcome missing = RunCli({"report", "99"});
  EXPECT_EQ(missing.exit_code, kExitFailed);
  EXPECT_EQ(missing.err, "expctl: NOT_FOUND: sweep 99 not found\n");

  // The fake's jobs report only "loss", none of the default columns.
  Outcome no_columns = RunCli({"report", "12"});
  EXPECT_EQ(no_columns.exit_code, kExitFailed);
  EXPECT_NE(no_columns.err.find("sweep 12 (demo): no job of the sweep has any of the metrics"), std::string::npos)
      << no_columns.err;
  EXPECT_NE(no_columns.err.find("its jobs report: loss (pick some with --columns)"), std::string::npos)
      << no_columns.err;

  Outcome csv = RunCli({"report", "12", "--columns", "loss", "--rows", "lr", "--format", "csv"});
  ASSERT_EQ(csv.exit_code, kExitOk) << csv.err;
  EXPECT_EQ(csv.out,
            "lr,n,loss_mean,loss_std,loss_n\n"
            "0.01,1,0.16666666666666666,,1\n"
            "0.1,1,0.3333333333333333,,1\n");

  Outcome json = RunCli({"report", "12", "--columns", "loss", "--format", "json"});
  ASSERT_EQ(json.exit_code, kExitOk) << json.err;
  nlohmann::json report = nlohmann::json::parse(json.out);
  EXPECT_EQ(report["sweep_id"], 12);
  EXPECT_EQ(report["rows"][0]["n"], 2);

  Outcome bad_format = RunCli({"report", "12", "--format", "html"});
  EXPECT_EQ(bad_format.exit_code, kExitUsage);
}

TEST_F(FakeServerTest, ReportOfAnSaeSweepShowsLayerByCheckpointTables) {
  jobs_.sae = true;
  metrics_.sae = true;
  Outcome text = RunCli({"report", "12"});
  ASSERT_EQ(text.exit_code, kExitOk) << text.err;
  EXPECT_EQ(text.out.rfind("## model m\n", 0), 0u) << text.out;
  EXPECT_NE(text.out.find("| layer |    10 |  20 |  30 |  40 |  50 |\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("| 3     | 0.670 |   - |   - |   - |   - |\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Languages at layer 3 "), std::string::npos) << text.out;  // the middle of 1..5
  EXPECT_NE(text.out.find("| 10         |    0.200 |   0.130 | 0.670 | 0.000 |\n"), std::string::npos) << text.out;

  Outcome json = RunCli({"report", "12", "--sae", "--layer", "5", "--format", "json"});
  ASSERT_EQ(json.exit_code, kExitOk) << json.err;
  nlohmann::json report = nlohmann::json::parse(json.out);
  EXPECT_EQ(report["sweep_id"], 12);
  EXPECT_EQ(report["models"][0]["language_layer"], 5);
  EXPECT_EQ(report["models"][0]["values"]["fraction_mixed"][2][0], 0.67);

  EXPECT_EQ(RunCli({"report", "12", "--layer", "9"}).exit_code, kExitUsage);
  EXPECT_EQ(RunCli({"report", "12", "--sae", "--rows", "lr"}).exit_code, kExitUsage);
}

TEST_F(FakeServerTest, LayerIsOnlyForTheSaeReport) {
  Outcome outcome = RunCli({"report", "12", "--columns", "loss", "--layer", "2"});
  EXPECT_EQ(outcome.exit_code, kExitUsage);
  EXPECT_NE(outcome.err.find("--layer is for the SAE report"), std::string::npos) << outcome.err;
}

TEST_F(FakeServerTest, ArtifactDownloadVerifiesAndRenames) {
  Outcome outcome = RunCli({"artifacts", "get", "1", "-o", work_dir_.string()});
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  std::string expected_path = (work_dir_ / "model.pt").string();
  EXPECT_EQ(outcome.out, expected_path + "\n");
  EXPECT_EQ(std::filesystem::file_size(expected_path), 100'000u);

  Outcome corrupt = RunCli({"artifacts", "get", "2", "-o", (work_dir_ / "bad.pt").string()});
  EXPECT_EQ(corrupt.exit_code, kExitFailed);
  EXPECT_NE(corrupt.err.find("sha256 mismatch"), std::string::npos) << corrupt.err;
  EXPECT_FALSE(std::filesystem::exists(work_dir_ / "bad.pt"));
  // No temporary file left behind either.
  for (const auto& entry : std::filesystem::directory_iterator(work_dir_)) {
    EXPECT_EQ(entry.path().string().find(".part-"), std::string::npos) << entry.path();
  }

  Outcome missing = RunCli({"artifacts", "get", "9"});
  EXPECT_EQ(missing.exit_code, kExitFailed);
  EXPECT_EQ(missing.err, "expctl: NOT_FOUND: artifact not found\n");
}

}  // namespace
}  // namespace expsvc::expctl
