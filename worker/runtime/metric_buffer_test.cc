#include "worker/runtime/metric_buffer.h"

#include <set>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace expsvc::worker {
namespace {

TEST(MetricBufferTest, KeepsTheLastValuePerKeyAndStep) {
  MetricBuffer buffer;
  buffer.Add("loss", 1, 3.0);
  buffer.Add("loss", 1, 2.5);
  buffer.Add("acc", 1, 0.5);
  ASSERT_EQ(buffer.size(), 2u);
  auto batch = buffer.Take(10);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_TRUE(buffer.empty());
  for (const auto& point : batch) {
    if (point.key() == "loss") {
      EXPECT_EQ(point.step(), 1);
      EXPECT_EQ(point.value(), 2.5);
    }
  }
}

TEST(MetricBufferTest, SplitsIntoBatchesOfAtMostN) {
  MetricBuffer buffer;
  for (int step = 0; step < 2500; ++step) buffer.Add("progress", step, step);
  EXPECT_EQ(buffer.Take(1000).size(), 1000u);
  EXPECT_EQ(buffer.Take(1000).size(), 1000u);
  EXPECT_EQ(buffer.Take(1000).size(), 500u);
  EXPECT_TRUE(buffer.Take(1000).empty());
}

TEST(MetricBufferTest, BatchesCoverEveryPointOnce) {
  MetricBuffer buffer;
  for (int step = 0; step < 30; ++step) {
    buffer.Add("a", step, 1);
    buffer.Add("b", step, 2);
  }
  std::set<std::pair<std::string, int64_t>> seen;
  while (!buffer.empty()) {
    for (const auto& point : buffer.Take(7)) EXPECT_TRUE(seen.insert({point.key(), point.step()}).second);
  }
  EXPECT_EQ(seen.size(), 60u);
}

TEST(MetricBufferTest, DropAfterForgetsLaterSteps) {
  MetricBuffer buffer;
  for (int step = 1; step <= 10; ++step) buffer.Add("progress", step, step);
  buffer.DropAfter(4);
  auto batch = buffer.Take(100);
  ASSERT_EQ(batch.size(), 4u);
  for (const auto& point : batch) EXPECT_LE(point.step(), 4);
}

}  // namespace
}  // namespace expsvc::worker
