// The CPU kernel against its plain-loop reference, forward and backward, for
// every table mode, on fresh random inputs in float32 and float64.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "worker/kernels/relative_logits/relative_logits.h"
#include "worker/kernels/relative_logits/relative_logits_reference.h"

namespace expsvc::kernels {
namespace {

constexpr int64_t kB = 2, kH = 3, kL = 13, kChunk = 5;
constexpr int64_t kTimeRows = 7;               // kCombined
constexpr int64_t kPitchRows = 6;              // kCombined (+1 zero column)
constexpr int64_t kTimePeriod = 4, kBars = 3;  // kSplit
constexpr int64_t kPitchPeriod = 3, kOctaves = 2;

struct Case {
  FusedLogitsArgs args;
  torch::Tensor content;
  std::vector<torch::Tensor> tables;
};

Case MakeCase(TableMode mode, torch::Dtype dtype, int64_t seed) {
  torch::manual_seed(seed);
  Case c;
  FusedLogitsArgs& args = c.args;
  args.mode = mode;
  args.query_chunk = kChunk;
  args.time_period = kTimePeriod;
  args.pitch_period = kPitchPeriod;
  args.blocked = torch::rand({kB, 1, kL, kL}) < 0.15;
  c.content = torch::randn({kB, kH, kL, kL}, dtype);
  if (mode == TableMode::kMaskOnly) return c;
  const bool split = mode == TableMode::kSplit;
  args.no_pitch = split ? kOctaves * kPitchPeriod : kPitchRows;
  const int64_t time_rows = split ? kBars * kTimePeriod : kTimeRows;
  args.time_row = torch::empty({kB, 1, kL, kL}, torch::kLong);
  args.pitch_row = torch::randint(0, args.no_pitch + 1, {kB, 1, kL, kL}, torch::kLong);
  for (int64_t k = 0; k * kChunk < kL; ++k) {
    const int64_t first = k * kChunk, end = std::min(kL, first + kChunk);
    const int64_t offset = k;  // each chunk's time rows start elsewhere
    args.time_row_offset.push_back(offset);
    args.time_row.narrow(2, first, end - first).random_(offset, offset + time_rows);
    ChunkColumns col;
    int64_t width = end;  // index columns [0, end)
    if (mode == TableMode::kCombined) {
      col.time = width, width += time_rows;
      col.pitch = width, width += kPitchRows + 1;
    } else if (split) {
      col.time = width, width += kBars;
      col.position = width, width += kTimePeriod;
      col.pitch = width, width += kOctaves;
      col.semitone = width, width += kPitchPeriod;
    }
    if (mode != TableMode::kIndexOnly) args.columns.push_back(col);
    c.tables.push_back(torch::randn({kB, kH, end - first, width}, dtype));
  }
  return c;
}

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
    const torch::Tensor logits = RelativeLogitsCpu(content * 1, at::TensorList(tables), c.args);
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
  const torch::Tensor logits = RelativeLogitsCpu(content.clone(), {table}, args);
  // Row 0: j = 0 → index 0 (1) + time 0 (10) + pitch 0 (100) = 111; j = 1 masked.
  EXPECT_DOUBLE_EQ(logits[0][0][0][0].item<double>(), 111.0);
  EXPECT_TRUE(std::isinf(logits[0][0][0][1].item<double>()));
  // Row 1: j = 0 → index 1 (4) + time 1 (40) + no pitch (0) = 44; j = 1 → 3 + 30 + 300.
  EXPECT_DOUBLE_EQ(logits[0][0][1][0].item<double>(), 44.0);
  EXPECT_DOUBLE_EQ(logits[0][0][1][1].item<double>(), 333.0);
}

}  // namespace
}  // namespace expsvc::kernels
