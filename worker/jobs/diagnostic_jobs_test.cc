#include "worker/jobs/diagnostic_jobs.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "common/job_kind_catalog.h"
#include "gtest/gtest.h"

namespace expsvc::worker {
namespace {

namespace v1 = expsvc::v1;

// An in-memory JobContext: artifacts are kept in a map, metrics in a vector.
class FakeJobContext final : public JobContext {
 public:
  FakeJobContext(nlohmann::json params, int32_t attempt) {
    const JobKindSpec* sleep = FindJobKind("sleep");
    params_ = *ValidateJobParams(*sleep, params);
    leased_.mutable_job()->set_id(42);
    leased_.mutable_job()->set_kind("sleep");
    leased_.mutable_job()->set_attempt(attempt);
    scratch_ = (std::filesystem::temp_directory_path() /
                ("diagnostic-jobs-test-" + std::to_string(::getpid()) + "-" + std::to_string(attempt)))
                   .string();
    std::filesystem::remove_all(scratch_);
    std::filesystem::create_directories(scratch_);
  }
  ~FakeJobContext() override { std::filesystem::remove_all(scratch_); }

  int64_t job_id() const override { return leased_.job().id(); }
  int32_t attempt() const override { return leased_.job().attempt(); }
  const nlohmann::json& params() const override { return params_; }
  const v1::LeasedJob& leased_job() const override { return leased_; }
  bool should_stop() const override { return stop || shutting_down(); }
  bool shutting_down() const override { return shutdown; }
  void ReportMetric(std::string_view key, int64_t step, double value) override {
    metrics.push_back({std::string(key), step, value});
  }
  absl::Status ReplaceMetricsAfter(int64_t step) override {
    replaced_after.push_back(step);
    return absl::OkStatus();
  }
  void Log(std::string_view line) override { logs.emplace_back(line); }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<v1::ArtifactRef> UploadArtifact(std::string_view name, const std::string& path) override {
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    v1::ArtifactRef ref;
    ref.set_id(static_cast<int64_t>(uploads.size()) + 1);
    ref.set_name(std::string(name));
    uploads.push_back({ref, content.str()});
    return ref;
  }
  std::optional<v1::ArtifactRef> FindOwnArtifact(std::string_view name) const override {
    for (const auto& [ref, content] : own_artifacts) {
      if (ref.name() == name) return ref;
    }
    return std::nullopt;
  }
  std::optional<v1::ArtifactRef> FindParentArtifact(std::string_view) const override { return std::nullopt; }
  absl::StatusOr<std::string> FetchArtifact(const v1::ArtifactRef& artifact) override {
    for (const auto& [ref, content] : own_artifacts) {
      if (ref.id() != artifact.id()) continue;
      std::string path = scratch_ + "/fetched-" + ref.name();
      std::ofstream(path) << content;
      return path;
    }
    return absl::NotFoundError("no such artifact");
  }
  const std::string& scratch_dir() const override { return scratch_; }

  struct Point {
    std::string key;
    int64_t step;
    double value;
  };
  std::vector<Point> metrics;
  std::vector<int64_t> replaced_after;
  std::vector<std::string> logs;
  std::vector<std::pair<v1::ArtifactRef, std::string>> uploads;
  std::vector<std::pair<v1::ArtifactRef, std::string>> own_artifacts;
  std::atomic<bool> stop{false};
  std::atomic<bool> shutdown{false};

 private:
  nlohmann::json params_;
  v1::LeasedJob leased_;
  std::string scratch_;
};

std::vector<int64_t> StepsOf(const FakeJobContext& context, const std::string& key) {
  std::vector<int64_t> steps;
  for (const auto& point : context.metrics) {
    if (point.key == key) steps.push_back(point.step);
  }
  return steps;
}

TEST(SleepJobTest, ReportsProgressAndAttemptAtEveryStep) {
  FakeJobContext context({{"seconds", 0.0}, {"steps", 4}}, 2);
  ASSERT_TRUE(RunSleepJob(context).ok());
  EXPECT_EQ(StepsOf(context, "progress"), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(StepsOf(context, "attempt"), (std::vector<int64_t>{1, 2, 3, 4}));
  for (const auto& point : context.metrics) {
    if (point.key == "progress") EXPECT_DOUBLE_EQ(point.value, point.step / 4.0);
    if (point.key == "attempt") EXPECT_EQ(point.value, 2);
  }
}

TEST(SleepJobTest, FailsAtStepOneWhileAttemptIsAtMostFailAttempts) {
  FakeJobContext first({{"seconds", 0.0}, {"steps", 3}, {"fail_attempts", 1}}, 1);
  absl::Status status = RunSleepJob(first);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "injected failure");
  EXPECT_TRUE(first.metrics.empty());

  FakeJobContext second({{"seconds", 0.0}, {"steps", 3}, {"fail_attempts", 1}}, 2);
  EXPECT_TRUE(RunSleepJob(second).ok());
}

TEST(SleepJobTest, FailAtStepFailsThere) {
  FakeJobContext context({{"seconds", 0.0}, {"steps", 5}, {"fail_at_step", 3}}, 1);
  EXPECT_EQ(RunSleepJob(context).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StepsOf(context, "progress"), (std::vector<int64_t>{1, 2}));
}

TEST(SleepJobTest, FailAtStepWithFailAttemptsOnlyHitsEarlyAttempts) {
  FakeJobContext first({{"seconds", 0.0}, {"steps", 5}, {"fail_at_step", 3}, {"fail_attempts", 1}}, 1);
  EXPECT_EQ(RunSleepJob(first).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StepsOf(first, "progress"), (std::vector<int64_t>{1, 2}));
  FakeJobContext second({{"seconds", 0.0}, {"steps", 5}, {"fail_at_step", 3}, {"fail_attempts", 1}}, 2);
  EXPECT_TRUE(RunSleepJob(second).ok());
}

TEST(SleepJobTest, CheckpointsAndResumes) {
  nlohmann::json params = {
      {"seconds", 0.0}, {"steps", 5}, {"checkpoint_every", 2}, {"fail_at_step", 5}, {"fail_attempts", 1}};
  FakeJobContext first(params, 1);
  EXPECT_EQ(RunSleepJob(first).code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(first.uploads.size(), 2u);
  EXPECT_EQ(first.uploads[1].first.name(), "checkpoint.json");
  EXPECT_EQ(nlohmann::json::parse(first.uploads[1].second)["step"], 4);

  FakeJobContext second(params, 2);
  second.own_artifacts.push_back(first.uploads[1]);
  ASSERT_TRUE(RunSleepJob(second).ok());
  EXPECT_EQ(second.replaced_after, (std::vector<int64_t>{4}));
  EXPECT_EQ(StepsOf(second, "progress"), (std::vector<int64_t>{5}));
  ASSERT_FALSE(second.logs.empty());
  EXPECT_NE(second.logs[0].find("resuming from checkpoint at step 4"), std::string::npos);
}

TEST(SleepJobTest, StopsWhenCancelledOrShuttingDown) {
  FakeJobContext cancelled({{"seconds", 60.0}, {"steps", 2}}, 1);
  cancelled.stop = true;
  EXPECT_EQ(RunSleepJob(cancelled).code(), absl::StatusCode::kCancelled);

  FakeJobContext draining({{"seconds", 60.0}, {"steps", 2}}, 1);
  draining.shutdown = true;
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
