#include "worker/command/command_job.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/kinds/command_kinds.h"
#include "common/kinds/param_schema.h"
#include "worker/runtime/testing/fake_job_context.h"

namespace expsvc::worker {
namespace {

using ::testing::HasSubstr;
using testing::FakeJobContext;

nlohmann::json Params(nlohmann::json given) {
  auto full = ValidateJobParams(kinds::CommandParams::Spec(), given);
  EXPECT_TRUE(full.ok()) << full.status();
  return full.ok() ? *full : nlohmann::json::object();
}

std::string FreshDir(const std::string& name) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/command-", name, "-", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool LogHas(const FakeJobContext& context, const std::string& text) {
  for (const std::string& line : context.logs()) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

CommandJobOptions Options();

// Runs the job and calls `request` (a cancel, a drain) once the program has
// created ./started.
absl::Status RunThen(FakeJobContext& context, const std::function<void()>& request) {
  std::thread requester([&] {
    const auto started = std::filesystem::path(context.scratch_dir()) / "started";
    for (int i = 0; i < 500 && !std::filesystem::exists(started); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    request();
  });
  absl::Status status = RunCommandJob(context, Options());
  requester.join();
  return status;
}

CommandJobOptions Options() {
  return {.scheduler_address = "127.0.0.1:1", .tls_ca_file = "", .python_path = "/opt/expsvc-python"};
}

TEST(CommandJobTest, GpusAreNamedAsTheWorkersOwnCudaVisibleDevicesNamesThem) {
  // The worker numbers GPUs within its own CUDA_VISIBLE_DEVICES (Slurm's
  // --gres sets it): the child must get the entries those numbers stand for.
  const std::string dir = FreshDir("gpus");
  for (const auto& [worker_visible, expected] :
       std::vector<std::pair<const char*, std::string>>{{"GPU-aaa,GPU-bbb,GPU-ccc", "[GPU-ccc,GPU-aaa]"},
                                                        {"", "[2,0]"},
                                                        {nullptr, "[2,0]"}}) {
    if (worker_visible == nullptr) {
      ::unsetenv("CUDA_VISIBLE_DEVICES");
    } else {
      ::setenv("CUDA_VISIBLE_DEVICES", worker_visible, 1);
    }
    FakeJobContext context(Params({{"command", {"sh", "-c", "echo \"gpus=[$CUDA_VISIBLE_DEVICES]\""}}}), dir);
    context.set_assigned_gpus({2, 0});
    ASSERT_TRUE(RunCommandJob(context, Options()).ok());
    EXPECT_TRUE(LogHas(context, "gpus=" + expected)) << "worker's CUDA_VISIBLE_DEVICES: "
                                                     << (worker_visible ? worker_visible : "(unset)");
  }
  ::unsetenv("CUDA_VISIBLE_DEVICES");
}

TEST(CommandJobTest, RunsTheProgramWithItsParametersMetricsAndOutputs) {
  ::setenv("EXPSVC_TOKEN", "worker-secret", 1);
  const std::string dir = FreshDir("run");
  FakeJobContext context(
      Params({{"command",
               {"sh", "-c",
                "echo \"lr=$1 env=$EXPSVC_PARAM_LR tok=${{EXPSVC_TOKEN:-none}} job=$EXPSVC_JOB_TOKEN "
                "gpus=[$CUDA_VISIBLE_DEVICES] py=$PYTHONPATH\"; "
                "cat params.json > outputs/seen-params.json; "
                "echo '{\"step\": 1, \"loss\": 0.5}'; echo '{\"step\": 2, \"loss\": 0.25, \"acc\": 0.9}'; "
                "echo warn >&2",
                "script", "{lr}"}},
              {"lr", 0.125}}),
      dir);
  context.mutable_leased_job().set_job_token("expsvcjob_1_1_abc");
  absl::Status status = RunCommandJob(context, Options());
  ::unsetenv("EXPSVC_TOKEN");
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(LogHas(context, "lr=0.125 env=0.125 tok=none job=expsvcjob_1_1_abc gpus=[] py=/opt/expsvc-python"));
  EXPECT_TRUE(LogHas(context, "[stderr] warn"));
  // Metric lines are metrics, not log lines.
  EXPECT_THAT(context.logs(), ::testing::Not(::testing::Contains(R"({"step": 1, "loss": 0.5})")));
  EXPECT_EQ(context.metrics().at("loss"), (std::map<int64_t, double>{{1, 0.5}, {2, 0.25}}));
  EXPECT_EQ(context.metrics().at("acc").at(2), 0.9);
  ASSERT_TRUE(context.uploaded().contains("seen-params.json"));
  const auto seen = nlohmann::json::parse(ReadFile(context.artifact_path("seen-params.json")));
  EXPECT_EQ(seen.at("lr"), 0.125);
  EXPECT_EQ(seen.at("grace_seconds"), 10.0);
}

TEST(CommandJobTest, NonZeroExitFailsWithTheLastStderrLinesAndKeepsOutputs) {
  const std::string dir = FreshDir("fail");
  FakeJobContext context(
      Params({{"command", {"sh", "-c", "echo partial > outputs/partial.txt; echo 'CUDA out of memory' >&2; exit 7"}}}),
      dir);
  absl::Status status = RunCommandJob(context, Options());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_THAT(std::string(status.message()), HasSubstr("exit code 7"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("CUDA out of memory"));
  EXPECT_TRUE(context.uploaded().contains("partial.txt"));
}

TEST(CommandJobTest, ARetryFindsTheOutputsOfTheAttemptBefore) {
  const std::string dir = FreshDir("resume");
  const nlohmann::json params = Params(
      {{"command",
        {"sh", "-c",
         "if [ -f outputs/ckpt ]; then echo \"resumed from $(cat outputs/ckpt)\"; exit 0; fi; "
         "echo 41 > outputs/ckpt; kill -9 $$"}}});
  FakeJobContext first(params, dir, /*attempt=*/1);
  absl::Status failed = RunCommandJob(first, Options());
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnknown);
  EXPECT_THAT(std::string(failed.message()), HasSubstr("signal 9"));
  ASSERT_TRUE(first.uploaded().contains("ckpt"));

  FakeJobContext second(params, dir, /*attempt=*/2);
  second.PromoteUploadsToEarlierAttempt(first);
  ASSERT_TRUE(RunCommandJob(second, Options()).ok());
  EXPECT_TRUE(LogHas(second, "restored 1 file(s)"));
  EXPECT_TRUE(LogHas(second, "resumed from 41"));
  // Unchanged since the attempt before: not sent again.
  EXPECT_FALSE(second.uploaded().contains("ckpt"));
}

TEST(CommandJobTest, CancelCreatesTheStopFileThenStopsTheProgram) {
  const std::string dir = FreshDir("cancel");
  FakeJobContext context(
      Params({{"command",
               {"sh", "-c",
                "trap 'if [ -f \"$EXPSVC_STOP_FILE\" ]; then echo saw-stop-file; fi; exit 0' TERM; "
                "touch started; while :; do sleep 0.1; done"}},
              {"grace_seconds", 5}}),
      dir);
  absl::Status status = RunThen(context, [&] { context.RequestStop(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(LogHas(context, "saw-stop-file"));
  EXPECT_TRUE(context.uploaded().empty());
}

TEST(CommandJobTest, DrainStopsTheProgramAndKeepsItsOutputsForTheNextLease) {
  const std::string dir = FreshDir("drain");
  FakeJobContext context(
      Params({{"command", {"sh", "-c", "echo 3 > outputs/step; touch started; while :; do sleep 0.1; done"}},
              {"grace_seconds", 1}}),
      dir);
  absl::Status status = RunThen(context, [&] { context.RequestShutdown(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(context.uploaded().contains("step"));
}

TEST(CommandJobTest, BadCommandsAreRefusedWithoutRetry) {
  const std::string dir = FreshDir("bad");
  FakeJobContext unknown_param(Params({{"command", {"echo", "{nope}"}}}), dir);
  auto status = RunCommandJob(unknown_param, Options());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("no parameter 'nope'"));

  FakeJobContext empty(Params({{"command", nlohmann::json::array()}}), dir);
  EXPECT_EQ(RunCommandJob(empty, Options()).code(), absl::StatusCode::kInvalidArgument);

  FakeJobContext missing(Params({{"command", {"no-such-program-expsvc"}}}), dir);
  EXPECT_EQ(RunCommandJob(missing, Options()).code(), absl::StatusCode::kNotFound);

  FakeJobContext no_token(Params({{"command", {"true"}}}), dir);
  no_token.mutable_leased_job().clear_job_token();
  auto refused = RunCommandJob(no_token, Options());
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("no job token"));
}

TEST(CommandJobTest, TheCommandParameterIsRequiredAtSubmit) {
  auto missing = ValidateJobParams(kinds::CommandParams::Spec(), {{"lr", 1}});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("missing required parameter 'command'"));
  auto wrong_type = ValidateJobParams(kinds::CommandParams::Spec(), {{"command", "python3 train.py"}});
  EXPECT_EQ(wrong_type.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace expsvc::worker
