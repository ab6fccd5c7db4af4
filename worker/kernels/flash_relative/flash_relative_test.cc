// The flash relative attention's CPU pass (the row code the CUDA kernels
// share) against the same attention built from whole L×L tensors with Torch
// ops and differentiated by autograd: output and every gradient, float64,
// with each term alone and all together, padding, clamped index distances
// and dropout. The attention layer's own test compares the layer built on
// it with the fused path (worker/music/model/music_models_test.cc).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "worker/kernels/flash_relative/flash_relative.h"
#include "worker/kernels/flash_relative/flash_relative_rows.h"

namespace expsvc::kernels {
namespace {

constexpr int64_t kB = 2;
constexpr int64_t kH = 2;
constexpr int64_t kL = 23;
constexpr int64_t kDh = 16;
constexpr int64_t kTimePeriod = 4;
constexpr int64_t kPitchPeriod = 3;

struct Case {
  bool index = false;
  int64_t index_rows = 0;
  bool time_pitch = false;
  bool padding = false;
  double dropout = 0.0;
};

struct Inputs {
  torch::Tensor q, k, v, index_embedding, time_table, pitch_table;
  FlashRelativeArgs args;
};

// Floor division written apart from the kernel's, for the reference.
int64_t Floor(int64_t a, int64_t b) {
  return static_cast<int64_t>(std::floor(static_cast<double>(a) / b));
}

Inputs MakeInputs(const Case& c, uint64_t seed) {
  torch::manual_seed(seed);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  Inputs in;
  in.q = torch::randn({kB, kH, kL, kDh}, f64).requires_grad_();
  in.k = torch::randn({kB, kH, kL, kDh}, f64).requires_grad_();
  in.v = torch::randn({kB, kH, kL, kDh}, f64).requires_grad_();
  if (c.index) in.index_embedding = torch::randn({c.index_rows, kDh}, f64).requires_grad_();
  // Non-decreasing times as in the music data, but a few bars apart so the
  // bar span gets clamped; pitches with gaps.
  in.args.times = torch::randint(0, 3 * kTimePeriod, {kB, kL}, torch::kLong).cumsum(1);
  in.args.pitches = torch::randint(0, 20, {kB, kL}, torch::kLong);
  in.args.has_pitch = torch::rand({kB, kL}).gt(0.2);
  if (c.time_pitch) {
    // Bars 0..2 (longer gaps clamp to bar 2); ΔP in [−19, 19] is octaves
    // −7..6, so both ends of −4..3 clamp.
    in.args.rules = {.time_period = kTimePeriod,
                     .first_bar = 0,
                     .num_bars = 3,
                     .pitch_period = kPitchPeriod,
                     .first_octave = -4,
                     .num_octaves = 8};
    in.time_table = torch::randn({kB, kH, kL, in.args.rules.TimeColumns()}, f64).requires_grad_();
    in.pitch_table = torch::randn({kB, kH, kL, in.args.rules.PitchColumns()}, f64).requires_grad_();
  }
  if (c.padding) {
    in.args.padding = torch::zeros({kB, kL}, torch::kBool);
    in.args.padding.narrow(1, kL - 5, 5).fill_(true);          // trailing padding in batch 0 and 1
    in.args.padding.select(0, 1).narrow(0, 3, 2).fill_(true);  // and two inside batch 1
  }
  in.args.dropout = c.dropout;
  in.args.seed = 0x5eed + seed;
  return in;
}

// The same attention from L×L tensors.
torch::Tensor Reference(const Inputs& in, const Case& c) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor scores = torch::matmul(in.q, in.k.transpose(-2, -1));
  std::vector<int64_t> index_rows(kL * kL, 0);
  std::vector<int64_t> time_cols(kB * kL * kL, 0);
  std::vector<int64_t> pitch_cols(kB * kL * kL, 0);
  std::vector<double> keep(kB * kH * kL * kL, 1.0);
  std::vector<bool> visible(kB * kL * kL, false);
  for (int64_t b = 0; b < kB; ++b) {
    for (int64_t i = 0; i < kL; ++i) {
      for (int64_t j = 0; j < kL; ++j) {
        const bool pad = c.padding && in.args.padding[b][j].item<bool>();
        visible[(b * kL + i) * kL + j] = j == i || (j < i && !pad);
        if (b == 0) index_rows[i * kL + j] = std::min(std::max<int64_t>(i - j, 0), c.index_rows - 1);
        if (c.time_pitch) {
          const int64_t dt = in.args.times[b][i].item<int64_t>() - in.args.times[b][j].item<int64_t>();
          const int64_t bar = std::clamp(Floor(dt, kTimePeriod), in.args.rules.first_bar,
                                         in.args.rules.first_bar + in.args.rules.num_bars - 1);
          time_cols[(b * kL + i) * kL + j] =
              (bar - in.args.rules.first_bar) * kTimePeriod + (dt - Floor(dt, kTimePeriod) * kTimePeriod);
          const bool pitched = in.args.has_pitch[b][i].item<bool>() && in.args.has_pitch[b][j].item<bool>();
          const int64_t dp = in.args.pitches[b][i].item<int64_t>() - in.args.pitches[b][j].item<int64_t>();
          const int64_t octave = std::clamp(Floor(dp, kPitchPeriod), in.args.rules.first_octave,
                                            in.args.rules.first_octave + in.args.rules.num_octaves - 1);
          pitch_cols[(b * kL + i) * kL + j] = pitched ? (octave - in.args.rules.first_octave) * kPitchPeriod +
                                                            (dp - Floor(dp, kPitchPeriod) * kPitchPeriod)
                                                      : in.args.rules.num_octaves * kPitchPeriod;
        }
        for (int64_t h = 0; h < kH; ++h) {
          FlashRelativeShape s;
          s.length = kL;
          s.dropout = c.dropout;
          s.seed = in.args.seed;
          keep[((b * kH + h) * kL + i) * kL + j] = flash_rows::Keep(s, b * kH + h, i, j) ? 1.0 : 0.0;
        }
      }
    }
  }
  const auto as_long = [](std::vector<int64_t>& v, at::IntArrayRef shape) {
    return torch::from_blob(v.data(), shape, torch::kLong).clone();
  };
  if (c.index) {
    const torch::Tensor rows = in.index_embedding.index_select(0, as_long(index_rows, {kL * kL})).view({kL, kL, kDh});
    scores = scores + torch::einsum("bhid,ijd->bhij", {in.q, rows});
  }
  if (c.time_pitch) {
    const torch::Tensor t = as_long(time_cols, {kB, 1, kL, kL}).expand({kB, kH, kL, kL});
    const torch::Tensor p = as_long(pitch_cols, {kB, 1, kL, kL}).expand({kB, kH, kL, kL});
    scores = scores + in.time_table.gather(3, t) + in.pitch_table.gather(3, p);
  }
  std::vector<uint8_t> blocked(visible.size());
  for (size_t n = 0; n < visible.size(); ++n) blocked[n] = visible[n] ? 0 : 1;
  const torch::Tensor mask = torch::from_blob(blocked.data(), {kB, 1, kL, kL}, torch::kUInt8).to(torch::kBool).clone();
  scores = scores.masked_fill(mask, -std::numeric_limits<double>::infinity());
  torch::Tensor weights = torch::softmax(scores, -1);
  if (c.dropout > 0) {
    weights = weights * torch::from_blob(keep.data(), {kB, kH, kL, kL}, f64).clone() / (1.0 - c.dropout);
  }
  return torch::matmul(weights, in.v);
}

std::vector<torch::Tensor> Leaves(const Inputs& in) {
  std::vector<torch::Tensor> leaves = {in.q, in.k, in.v};
  for (const torch::Tensor& t : {in.index_embedding, in.time_table, in.pitch_table}) {
    if (t.defined()) leaves.push_back(t);
  }
  return leaves;
}

void ExpectMatches(const Case& c, const std::string& name) {
  SCOPED_TRACE(name);
  const Inputs in = MakeInputs(c, 7);
  const torch::Tensor upstream = torch::randn({kB, kH, kL, kDh}, torch::kFloat64);
  const torch::Tensor expected = Reference(in, c);
  const std::vector<torch::Tensor> expected_grads = torch::autograd::grad({expected}, Leaves(in), {upstream});
  const torch::Tensor actual =
      FlashRelativeAttention(in.q, in.k, in.v, in.index_embedding, in.time_table, in.pitch_table, in.args);
  const std::vector<torch::Tensor> actual_grads = torch::autograd::grad({actual}, Leaves(in), {upstream});
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-10, 1e-12))
      << "max |diff| " << (actual - expected).abs().max().item<double>();
  const std::vector<std::string> names = {"q", "k", "v", "index/time", "time/pitch", "pitch"};
  for (size_t n = 0; n < expected_grads.size(); ++n) {
    EXPECT_TRUE(torch::allclose(actual_grads[n], expected_grads[n], 1e-10, 1e-12))
        << "gradient " << n << " (" << names[n] << "): max |diff| "
        << (actual_grads[n] - expected_grads[n]).abs().max().item<double>();
  }
}

TEST(FlashRelativeTest, MaskOnlyMatchesWholeTensors) {
  ExpectMatches({}, "mask only");
}

TEST(FlashRelativeTest, PaddingMatchesWholeTensors) {
  ExpectMatches({.padding = true}, "padding");
}

TEST(FlashRelativeTest, IndexTermMatchesWholeTensors) {
  ExpectMatches({.index = true, .index_rows = 40}, "index, more rows than L");
  ExpectMatches({.index = true, .index_rows = 6}, "index, distances ≥ 5 clamped to the last row");
}

TEST(FlashRelativeTest, TimeAndPitchTablesMatchWholeTensors) {
  ExpectMatches({.time_pitch = true}, "time and pitch");
  ExpectMatches({.index = true, .index_rows = 9, .time_pitch = true, .padding = true}, "every term, padding");
}

TEST(FlashRelativeTest, DropoutMatchesTheSameMaskOnWholeTensors) {
  ExpectMatches({.dropout = 0.3}, "dropout");
  ExpectMatches({.index = true, .index_rows = 9, .time_pitch = true, .padding = true, .dropout = 0.5},
                "every term, padding, dropout");
}

TEST(FlashRelativeTest, DropoutKeepsAboutOneMinusPOfThePairs) {
  FlashRelativeShape s;
  s.length = 200;
  s.dropout = 0.25;
  s.seed = 42;
  int64_t kept = 0;
  for (int64_t i = 0; i < s.length; ++i) {
    for (int64_t j = 0; j < s.length; ++j) kept += flash_rows::Keep(s, 3, i, j) ? 1 : 0;
  }
  EXPECT_NEAR(static_cast<double>(kept) / (s.length * s.length), 0.75, 0.01);
  s.seed = 43;
  int64_t same = 0;
  FlashRelativeShape t = s;
  t.seed = 42;
  for (int64_t j = 0; j < s.length; ++j) same += flash_rows::Keep(s, 3, 7, j) == flash_rows::Keep(t, 3, 7, j);
  EXPECT_LT(same, s.length) << "another seed must draw another mask";
}

TEST(FlashRelativeTest, Float32AgreesWithFloat64) {
  const Case c{.index = true, .index_rows = 30, .time_pitch = true, .padding = true};
  Inputs in = MakeInputs(c, 11);
  const torch::Tensor out64 =
      FlashRelativeAttention(in.q, in.k, in.v, in.index_embedding, in.time_table, in.pitch_table, in.args);
  const auto f32 = [](const torch::Tensor& t) { return t.detach().to(torch::kFloat32); };
  const torch::Tensor out32 = FlashRelativeAttention(f32(in.q), f32(in.k), f32(in.v), f32(in.index_embedding),
                                                     f32(in.time_table), f32(in.pitch_table), in.args);
  EXPECT_EQ(out32.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(out32.to(torch::kFloat64), out64, 1e-4, 1e-5));
}

// Bad arguments are refused with a message naming them, before any pass runs.
TEST(FlashRelativeTest, RefusesBadArguments) {
  const Case c{.index = true, .index_rows = 30, .time_pitch = true};
  const Inputs in = MakeInputs(c, 3);
  const auto message = [&](const std::function<void()>& call) -> std::string {
    try {
      call();
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  };
  EXPECT_NE(message([&] {
              FlashRelativeAttention(in.q, in.k, in.v, in.index_embedding, in.time_table.narrow(3, 0, 5),
                                     in.pitch_table, in.args);
            }).find("time_table must be"),
            std::string::npos);
  EXPECT_NE(message([&] {
              FlashRelativeAttention(in.q, in.k, in.v, in.index_embedding, in.time_table, torch::Tensor(), in.args);
            }).find("come together"),
            std::string::npos);
  FlashRelativeArgs no_times = in.args;
  no_times.times = torch::Tensor();
  EXPECT_NE(message([&] {
              FlashRelativeAttention(in.q, in.k, in.v, in.index_embedding, in.time_table, in.pitch_table, no_times);
            }).find("times is required"),
            std::string::npos);
  const torch::Tensor odd = torch::randn({1, 1, 4, 24}, torch::kFloat64);
  EXPECT_FALSE(FlashRelativeRunsOn(odd.device(), odd.scalar_type(), 24));
  EXPECT_NE(message([&] { FlashRelativeAttention(odd, odd, odd, {}, {}, {}, {}); }).find("head size 24"),
            std::string::npos);
  FlashRelativeArgs bad_dropout;
  bad_dropout.dropout = 1.0;
  const torch::Tensor x = torch::randn({1, 1, 4, 16}, torch::kFloat64);
  EXPECT_NE(message([&] { FlashRelativeAttention(x, x, x, {}, {}, {}, bad_dropout); }).find("dropout must be"),
            std::string::npos);
}

}  // namespace
}  // namespace expsvc::kernels
