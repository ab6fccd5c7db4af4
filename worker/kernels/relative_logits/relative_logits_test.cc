// The CPU kernel against its plain-loop reference, forward and backward, for
// every table mode, on fresh random inputs in float32 and float64.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "worker/kernels/relative_logits/relative_logits.h"
#include "worker/kernels/relative_logits/relative_logits_reference.h"
#include "worker/kernels/relative_logits/relative_logits_test_cases.h"

namespace expsvc::kernels {
namespace {

using relative_logits_cases::Case;
using relative_logits_cases::MakeCase;

class RelativeLogitsTest : public ::testing::TestWithParam<std::tuple<TableMode, torch::Dtype>> {};

TEST_P(RelativeLogitsTest, KernelMatchesReferenceForwardAndBackward) {
  const auto [mode, dtype] = GetParam();
  const double tolerance = dtype == torch::kFloat64 ? 1e-10 : 1e-5;
  for (int64_t seed : {1, 2, 3}) {
    Case c = MakeCase(mode, dtype, seed);
    const torch::Tensor expected = RelativeLogitsReference(c.content, c.tables, c.args);

    torch::Tensor content = c.content.clone().requires_grad_(true);
    std::vector<torch::Tensor> tables;
    for (const torch::Tensor& t : c.tables) tables.push_back(t.clone().requires_grad_(true));
    // The kernel works in place: hand it a non-leaf copy.
    const torch::Tensor logits = RelativeLogits(content * 1, at::TensorList(tables), c.args);
    ASSERT_TRUE(torch::equal(torch::isinf(logits), torch::isinf(expected))) << "mask differs, seed " << seed;
    const torch::Tensor visible = ~torch::isinf(expected);
    EXPECT_TRUE(torch::allclose(logits.masked_select(visible), expected.masked_select(visible), tolerance, tolerance))
        << "forward differs, seed " << seed;

    const torch::Tensor grad = torch::randn(logits.sizes(), dtype);
    logits.backward(grad);
    // Blocked entries get their zero gradient from the softmax, so the
    // content gradient passes through unchanged.
    EXPECT_TRUE(torch::allclose(content.grad(), grad));
    const std::vector<torch::Tensor> expected_grads = RelativeLogitsReferenceTableGrads(grad, c.tables, c.args);
    ASSERT_EQ(expected_grads.size(), tables.size());
    for (size_t k = 0; k < tables.size(); ++k) {
      EXPECT_TRUE(torch::allclose(tables[k].grad(), expected_grads[k], tolerance, tolerance))
          << "table " << k << " gradient differs, seed " << seed << "\n"
          << (tables[k].grad() - expected_grads[k]).abs().max();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryModeAndDtype, RelativeLogitsTest,
                         ::testing::Combine(::testing::Values(TableMode::kMaskOnly, TableMode::kIndexOnly,
                                                              TableMode::kCombined, TableMode::kSplit),
                                            ::testing::Values(torch::kFloat32, torch::kFloat64)));

// A hand-checked value: one visible pair reads the index, time and pitch
// columns of its chunk's table.
TEST(RelativeLogitsWorkedExample, CombinedAddsThreeColumns) {
  FusedLogitsArgs args;
  args.mode = TableMode::kCombined;
  args.query_chunk = 2;
  args.no_pitch = 1;
  args.blocked = torch::zeros({1, 1, 2, 2}, torch::kBool);
  args.time_row = torch::tensor({0, 0, 1, 0}, torch::kLong).reshape({1, 1, 2, 2});
  args.pitch_row = torch::tensor({0, 0, 1, 0}, torch::kLong).reshape({1, 1, 2, 2});
  args.time_row_offset = {0};
  args.columns = {ChunkColumns{.time = 2, .pitch = 4}};
  // Columns: index 0, 1 | time 0, 1 | pitch 0, no-pitch.
  const torch::Tensor table =
      torch::tensor({1., 2., 10., 20., 100., 0., 3., 4., 30., 40., 300., 0.}, torch::kFloat64).reshape({1, 1, 2, 6});
  const torch::Tensor content = torch::zeros({1, 1, 2, 2}, torch::kFloat64);
  const torch::Tensor logits = RelativeLogits(content.clone(), {table}, args);
  // Row 0: j = 0 → index 0 (1) + time 0 (10) + pitch 0 (100) = 111; j = 1 masked.
  EXPECT_DOUBLE_EQ(logits[0][0][0][0].item<double>(), 111.0);
  EXPECT_TRUE(std::isinf(logits[0][0][0][1].item<double>()));
  // Row 1: j = 0 → index 1 (4) + time 1 (40) + no pitch (0) = 44; j = 1 → 3 + 30 + 300.
  EXPECT_DOUBLE_EQ(logits[0][0][1][0].item<double>(), 44.0);
  EXPECT_DOUBLE_EQ(logits[0][0][1][1].item<double>(), 333.0);
}

}  // namespace
}  // namespace expsvc::kernels
