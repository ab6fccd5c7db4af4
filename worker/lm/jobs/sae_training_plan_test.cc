#include "worker/lm/jobs/sae_training_plan.h"

#include <algorithm>
#include <set>

#include "gtest/gtest.h"

namespace expsvc::worker {
namespace {

TEST(WindowOrder, EachPassVisitsEveryWindowOnceAndDependsOnlyOnSeedAndStep) {
  WindowOrder order(7, 10);
  std::multiset<int64_t> first_pass;
  for (int64_t step = 0; step < 5; ++step) {
    for (int64_t window : order.Batch(step, 2)) first_pass.insert(window);
  }
  EXPECT_EQ(first_pass, std::multiset<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // A fresh order (a resumed job) asked for a later step first agrees.
  WindowOrder resumed(7, 10);
  EXPECT_EQ(resumed.Batch(3, 2), order.Batch(3, 2));
  EXPECT_NE(WindowOrder(8, 10).Batch(0, 10), order.Batch(0, 10));
  // Batches wrap into the next pass, which is shuffled differently.
  const std::vector<int64_t> wrapped = order.Batch(1, 7);  // windows 7..13: 3 of pass 0, 4 of pass 1
  EXPECT_EQ(wrapped.size(), 7u);
  EXPECT_NE(order.Batch(1, 10), order.Batch(0, 10));
}

TEST(EvenlySpacedWindows, SpreadsACapOverTheWholeSplit) {
  EXPECT_EQ(EvenlySpacedWindows(10, 4), (std::vector<int64_t>{0, 2, 5, 7}));
  EXPECT_EQ(EvenlySpacedWindows(3, 0), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(EvenlySpacedWindows(3, 9), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(EvenlySpacedWindows(0, 5).empty());
  const std::vector<int64_t> half = EvenlySpacedWindows(477, 64);
  EXPECT_EQ(half.size(), 64u);
  EXPECT_GT(half.back(), 400);  // reaches the split's far end (the other language)
}

TEST(PlanMemberSubsets, KeepsEveryoneTogetherWhenTheyFitAndSplitsWhenNot) {
  const SaeMemoryEstimate member{.resident_bytes = 100, .transient_bytes = 50};
  const std::vector<SaeMemoryEstimate> members(4, member);
  auto together = PlanMemberSubsets(members, 10, 10 + 50 + 400);
  ASSERT_TRUE(together.ok()) << together.status();
  EXPECT_EQ(*together, (std::vector<std::vector<int>>{{0, 1, 2, 3}}));
  auto split = PlanMemberSubsets(members, 10, 10 + 50 + 250);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(*split, (std::vector<std::vector<int>>{{0, 1}, {2, 3}}));
  auto none = PlanMemberSubsets(members, 10, 100);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(none.status().message().find("member 0"), std::string::npos) << none.status();
}

TEST(EstimateSaeMemory, CountsParametersGradientsAndAdamMoments) {
  // d 512, n 32768 (the 150M model's SAE): 33.6M parameters, ×4 tensors ×4 bytes.
  const SaeMemoryEstimate estimate = EstimateSaeMemory(512, 32768, 32, 4, 2048);
  const int64_t parameters = 2 * 32768 * 512 + 32768 + 512;
  EXPECT_EQ(estimate.resident_bytes, parameters * 16 + 32768 * 8);
  EXPECT_GT(estimate.transient_bytes, 2048LL * 32768 * 4);
  EXPECT_LT(EstimateSaeMemory(512, 32768, 32, 2, 2048).resident_bytes, estimate.resident_bytes);
  // A bf16 encoder product: 2 of its 8 bytes per [rows, n] element saved.
  EXPECT_EQ(estimate.transient_bytes - EstimateSaeMemory(512, 32768, 32, 4, 2048, 2).transient_bytes,
            2048LL * 32768 * 2);
}

}  // namespace
}  // namespace expsvc::worker
