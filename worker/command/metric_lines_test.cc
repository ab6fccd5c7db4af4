#include "worker/command/metric_lines.h"

#include <gtest/gtest.h>

namespace expsvc::worker {
namespace {

TEST(MetricLinesTest, EveryNumberIsAPointAtTheStep) {
  auto points = ParseMetricLine(R"({"step": 100, "loss": 0.5, "val": {"acc": 0.75}, "note": "x", "ok": true})");
  ASSERT_TRUE(points.has_value());
  ASSERT_EQ(points->size(), 2u);
  EXPECT_EQ((*points)[0].key, "loss");
  EXPECT_EQ((*points)[0].step, 100);
  EXPECT_DOUBLE_EQ((*points)[0].value, 0.5);
  EXPECT_EQ((*points)[1].key, "val/acc");
  EXPECT_DOUBLE_EQ((*points)[1].value, 0.75);
}

TEST(MetricLinesTest, OtherLinesAreNotMetrics) {
  for (const char* line : {"epoch 3 loss 0.5", "", "{not json", R"({"loss": 0.5})", R"({"step": -1, "loss": 1})",
                           R"({"step": 1.5, "loss": 1})", R"({"step": 3, "name": "x"})", R"([{"step": 1}])",
                           R"({"step": "3", "loss": 1})"}) {
    EXPECT_FALSE(ParseMetricLine(line).has_value()) << line;
  }
}

TEST(MetricLinesTest, LeadingBlanksAndCarriageReturnAreAccepted) {
  auto points = ParseMetricLine("  {\"step\": 0, \"x\": 1}\r");
  ASSERT_TRUE(points.has_value());
  EXPECT_EQ(points->front().key, "x");
}

}  // namespace
}  // namespace expsvc::worker
