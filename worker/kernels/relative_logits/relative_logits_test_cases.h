#pragma once
// Random inputs for the relative-logits tests (the CPU unit test and the
// CUDA gpu test): content logits, a random blocked mask, and per-chunk tables
// with time and pitch rows drawn anywhere in their segments.

#include <algorithm>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "worker/kernels/relative_logits/relative_logits.h"

namespace expsvc::kernels::relative_logits_cases {

struct CaseSize {
  int64_t batch = 2;
  int64_t heads = 3;
  int64_t length = 13;
  int64_t query_chunk = 5;
  // Unused columns appended to every table (their gradient must be zero):
  // makes rows wider than a kernel's fast path.
  int64_t extra_columns = 0;
};

struct Case {
  FusedLogitsArgs args;
  torch::Tensor content;
  std::vector<torch::Tensor> tables;
};

inline Case MakeCase(TableMode mode, torch::Dtype dtype, int64_t seed, const CaseSize& size = {}) {
  constexpr int64_t kTimeRows = 7;               // kCombined
  constexpr int64_t kPitchRows = 6;              // kCombined (+1 zero column)
  constexpr int64_t kTimePeriod = 4, kBars = 3;  // kSplit
  constexpr int64_t kPitchPeriod = 3, kOctaves = 2;
  const int64_t B = size.batch, H = size.heads, L = size.length, chunk = size.query_chunk;
  torch::manual_seed(seed);
  Case c;
  FusedLogitsArgs& args = c.args;
  args.mode = mode;
  args.query_chunk = chunk;
  args.time_period = kTimePeriod;
  args.pitch_period = kPitchPeriod;
  args.blocked = torch::rand({B, 1, L, L}) < 0.15;
  c.content = torch::randn({B, H, L, L}, dtype);
  if (mode == TableMode::kMaskOnly) return c;
  const bool split = mode == TableMode::kSplit;
  args.no_pitch = split ? kOctaves * kPitchPeriod : kPitchRows;
  const int64_t time_rows = split ? kBars * kTimePeriod : kTimeRows;
  args.time_row = torch::empty({B, 1, L, L}, torch::kLong);
  args.pitch_row = torch::randint(0, args.no_pitch + 1, {B, 1, L, L}, torch::kLong);
  for (int64_t k = 0; k * chunk < L; ++k) {
    const int64_t first = k * chunk, end = std::min(L, first + chunk);
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
    c.tables.push_back(torch::randn({B, H, end - first, width + size.extra_columns}, dtype));
  }
  return c;
}

}  // namespace expsvc::kernels::relative_logits_cases
