// Every sweep file under examples/ expands against the current job-kind
// catalog, with the job counts its comments promise.

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/sweep_spec.h"
#include "gtest/gtest.h"

namespace expsvc {
namespace {

SweepPlan Expand(const std::string& name) {
  const std::string path = absl::StrCat(EXPSVC_EXAMPLES_DIR, "/sweeps/", name);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto plan = ParseSweep(text.str(), path);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : SweepPlan{};
}

TEST(ExampleSweepsTest, DemoExpands) {
  SweepPlan plan = Expand("demo.yaml");
  EXPECT_GE(plan.jobs.size(), 10u);
  EXPECT_GE(plan.groups, 1);
}

TEST(ExampleSweepsTest, MusicAttentionIsBothRepresentationsTimesFiveVariants) {
  SweepPlan plan = Expand("music-attention.yaml");
  EXPECT_EQ(plan.jobs.size(), 30u);
  std::set<std::string> attentions, representations;
  for (const auto& job : plan.jobs) {
    attentions.insert(job.params["attention"].get<std::string>());
    representations.insert(job.params["representation"].get<std::string>());
  }
  EXPECT_EQ(attentions.size(), 5u);
  EXPECT_EQ(representations.size(), 2u);
}

TEST(ExampleSweepsTest, MusicDataSizeIsFourFractionsTimesFourVariants) {
  SweepPlan plan = Expand("music-datasize.yaml");
  EXPECT_EQ(plan.jobs.size(), 16u);
}

}  // namespace
}  // namespace expsvc
