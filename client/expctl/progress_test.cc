#include "client/expctl/progress.h"

#include <gtest/gtest.h>

namespace expsvc::expctl {
namespace {

ProgressCounts ExampleCounts() {
  ProgressCounts counts;
  counts.total = 200;
  counts.succeeded = 118;
  counts.failed = 2;
  counts.running = 4;
  counts.queued = 70;
  counts.waiting = 6;
  return counts;
}

TEST(ProgressLineTest, MatchesTheDocumentedShape) {
  // 80 left at 12.3 jobs/s: 6.5 s, shown rounded.
  EXPECT_EQ(FormatProgressLine(ExampleCounts(), 12.3, 10),
            "[######....] 120/200 60%  ok 118 fail 2 run 4 queue 76  12.3 jobs/s  ETA 7s");
}

TEST(ProgressLineTest, ShowsCancelledOnlyWhenThereAreSome) {
  ProgressCounts counts = ExampleCounts();
  counts.cancelled = 3;
  counts.queued -= 3;
  std::string line = FormatProgressLine(counts, 1.0, 10);
  EXPECT_NE(line.find("123/200"), std::string::npos) << line;
  EXPECT_NE(line.find("cancel 3"), std::string::npos) << line;
  EXPECT_EQ(FormatProgressLine(ExampleCounts(), 1.0, 10).find("cancel"), std::string::npos);
}

TEST(ProgressLineTest, UnknownEtaWhileNothingFinishes) {
  std::string line = FormatProgressLine(ExampleCounts(), 0.0, 10);
  EXPECT_NE(line.find("0.0 jobs/s  ETA --"), std::string::npos) << line;
}

TEST(ProgressLineTest, EmptyAndCompleteSweeps) {
  EXPECT_EQ(FormatProgressLine(ProgressCounts{}, 0.0, 4),
            "[....] 0/0 0%  ok 0 fail 0 run 0 queue 0  0.0 jobs/s  ETA 0s");
  ProgressCounts done;
  done.total = 5;
  done.succeeded = 5;
  EXPECT_EQ(FormatProgressLine(done, 2.5, 4), "[####] 5/5 100%  ok 5 fail 0 run 0 queue 0  2.5 jobs/s  ETA 0s");
}

TEST(EtaTest, FormatsRemainingTime) {
  EXPECT_EQ(FormatEta(0, 0.0), "0s");
  EXPECT_EQ(FormatEta(10, 0.0), "--");
  EXPECT_EQ(FormatEta(10, 2.0), "5s");
  EXPECT_EQ(FormatEta(125, 1.0), "2m05s");
  EXPECT_EQ(FormatEta(7200, 1.0), "2h00m");
}

TEST(ThroughputTest, NeedsTwoSamplesASecondApart) {
  ThroughputEstimator estimator;
  EXPECT_EQ(estimator.Rate(), 0.0);
  estimator.AddSample(0.0, 0);
  EXPECT_EQ(estimator.Rate(), 0.0);
  estimator.AddSample(0.5, 10);
  EXPECT_EQ(estimator.Rate(), 0.0);
  estimator.AddSample(2.0, 10);
  EXPECT_DOUBLE_EQ(estimator.Rate(), 5.0);
}

TEST(ThroughputTest, FollowsTheRecentWindow) {
  ThroughputEstimator estimator(10.0);
  // 20 s at 10 jobs/s, then 10 s at 1 job/s.
  int64_t finished = 0;
  for (int t = 0; t <= 20; ++t) estimator.AddSample(t, finished += (t > 0 ? 10 : 0));
  EXPECT_NEAR(estimator.Rate(), 10.0, 1e-9);
  for (int t = 21; t <= 30; ++t) estimator.AddSample(t, finished += 1);
  EXPECT_NEAR(estimator.Rate(), 1.0, 1e-9) << "only the last 10 s count";
}

TEST(ThroughputTest, StallDecaysTheRateAndRetriesNeverMakeItNegative) {
  ThroughputEstimator estimator(10.0);
  estimator.AddSample(0, 0);
  estimator.AddSample(5, 50);
  EXPECT_NEAR(estimator.Rate(), 10.0, 1e-9);
  for (int t = 6; t <= 20; ++t) estimator.AddSample(t, 50);
  EXPECT_EQ(estimator.Rate(), 0.0);
  estimator.AddSample(21, 45);  // failed jobs requeued by a retry
  EXPECT_EQ(estimator.Rate(), 0.0);
}

}  // namespace
}  // namespace expsvc::expctl
