#include "worker/diagnostic/diagnostic_jobs.h"

#include <string>
#include <vector>

#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "worker/runtime/testing/fake_job_context.h"

namespace expsvc::worker {
namespace {

using testing::FakeJobContext;

std::vector<int64_t> StepsOf(const FakeJobContext& context, const std::string& key) {
  std::vector<int64_t> steps;
  auto series = context.metrics().find(key);
  if (series == context.metrics().end()) return steps;
  for (const auto& [step, value] : series->second) steps.push_back(step);
  return steps;
}

TEST(SleepJobTest, ReportsProgressAndAttemptAtEveryStep) {
  fs::TempDir dir("sleep_progress");
  FakeJobContext context({{"seconds", 0.0}, {"steps", 4}}, dir.path().string(), 2);
  ASSERT_TRUE(RunSleepJob(context).ok());
  EXPECT_EQ(StepsOf(context, "progress"), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(StepsOf(context, "attempt"), (std::vector<int64_t>{1, 2, 3, 4}));
  for (const auto& [step, value] : context.metrics().at("progress")) EXPECT_DOUBLE_EQ(value, step / 4.0);
  for (const auto& [step, value] : context.metrics().at("attempt")) EXPECT_EQ(value, 2);
}

TEST(SleepJobTest, FailsAtStepOneWhileAttemptIsAtMostFailAttempts) {
  fs::TempDir dir("sleep_fail_attempts");
  FakeJobContext first({{"seconds", 0.0}, {"steps", 3}, {"fail_attempts", 1}}, dir.path().string(), 1);
  absl::Status status = RunSleepJob(first);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "injected failure");
  EXPECT_TRUE(first.metrics().empty());

  FakeJobContext second({{"seconds", 0.0}, {"steps", 3}, {"fail_attempts", 1}}, dir.path().string(), 2);
  EXPECT_TRUE(RunSleepJob(second).ok());
}

TEST(SleepJobTest, FailAtStepFailsThere) {
  fs::TempDir dir("sleep_fail_at");
  FakeJobContext context({{"seconds", 0.0}, {"steps", 5}, {"fail_at_step", 3}}, dir.path().string(), 1);
  EXPECT_EQ(RunSleepJob(context).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StepsOf(context, "progress"), (std::vector<int64_t>{1, 2}));
}

TEST(SleepJobTest, FailAtStepWithFailAttemptsOnlyHitsEarlyAttempts) {
  fs::TempDir dir("sleep_fail_early");
  FakeJobContext first({{"seconds", 0.0}, {"steps", 5}, {"fail_at_step", 3}, {"fail_attempts", 1}}, dir.path().string(),
                       1);
  EXPECT_EQ(RunSleepJob(first).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StepsOf(first, "progress"), (std::vector<int64_t>{1, 2}));
  FakeJobContext second({{"seconds", 0.0}, {"steps", 5}, {"fail_at_step", 3}, {"fail_attempts", 1}},
                        dir.path().string(), 2);
  EXPECT_TRUE(RunSleepJob(second).ok());
}

TEST(SleepJobTest, CheckpointsAndResumes) {
  nlohmann::json params = {
      {"seconds", 0.0}, {"steps", 5}, {"checkpoint_every", 2}, {"fail_at_step", 5}, {"fail_attempts", 1}};
  fs::TempDir dir("sleep_checkpoint");
  FakeJobContext first(params, dir.path().string(), 1);
  EXPECT_EQ(RunSleepJob(first).code(), absl::StatusCode::kUnavailable);
  // Checkpoints at steps 2 and 4, the second replacing the first.
  EXPECT_EQ(first.upload_count(), 2);
  ASSERT_EQ(first.uploaded().size(), 1u);
  ASSERT_TRUE(first.uploaded().contains("checkpoint.json"));
  EXPECT_EQ(nlohmann::json::parse(*fs::ReadFile(first.artifact_path("checkpoint.json")))["step"], 4);

  // The retry shares the artifact folder, so it sees the first attempt's checkpoint.
  FakeJobContext second(params, dir.path().string(), 2);
  second.PromoteUploadsToEarlierAttempt(first);
  ASSERT_TRUE(RunSleepJob(second).ok());
  EXPECT_EQ(second.replaced_after(), (std::vector<int64_t>{4}));
  EXPECT_EQ(StepsOf(second, "progress"), (std::vector<int64_t>{5}));
  ASSERT_FALSE(second.logs().empty());
  EXPECT_NE(second.logs()[0].find("resuming from checkpoint at step 4"), std::string::npos);
}

TEST(SleepJobTest, StopsWhenCancelledOrShuttingDown) {
  fs::TempDir dir("sleep_stop");
  FakeJobContext cancelled({{"seconds", 60.0}, {"steps", 2}}, dir.file("cancelled"), 1);
  cancelled.RequestStop();
  EXPECT_EQ(RunSleepJob(cancelled).code(), absl::StatusCode::kCancelled);

  FakeJobContext draining({{"seconds", 60.0}, {"steps", 2}}, dir.file("draining"), 1);
  draining.RequestShutdown();
  EXPECT_EQ(RunSleepJob(draining).code(), absl::StatusCode::kAborted);
}

TEST(DiagnosticJobsTest, RegistersNoopAndSleep) {
  JobKindRegistry registry;
  ASSERT_TRUE(RegisterDiagnosticJobs(registry).ok());
  EXPECT_NE(registry.Find("noop"), nullptr);
  EXPECT_NE(registry.Find("sleep"), nullptr);
  EXPECT_EQ(RegisterDiagnosticJobs(registry).code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace expsvc::worker
