#include "worker/music/model/relative_layout.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

namespace expsvc::music {
namespace {

// Min and max of `values` over the entries where `keep` is true, or nullopt
// when there is none. One host sync each: the table size depends on them.
std::optional<std::pair<int64_t, int64_t>> MaskedRange(const torch::Tensor& values, const torch::Tensor& keep) {
  const torch::Tensor kept = values.masked_select(keep);
  if (kept.numel() == 0) return std::nullopt;
  return std::make_pair(kept.min().item<int64_t>(), kept.max().item<int64_t>());
}

// Device-agnostic version (for devices other than the CPU): L×L integer tensor ops.
void FillTimePitchRowsWithTensorOps(RelativeLayout& layout, const torch::Tensor& times, const torch::Tensor& pitches,
                                    const torch::Tensor& has_pitch, int64_t max_relative_bars) {
  const int64_t L = layout.length;
  const int64_t query_chunk = layout.query_chunk;
  const torch::Device device = times.device();
  const torch::Tensor visible = layout.blocked.logical_not();

  // Time: ΔT = T_i − T_j split by floor division into (bar, position).
  {
    const torch::Tensor delta = (times.unsqueeze(2) - times.unsqueeze(1)).to(torch::kLong).unsqueeze(1);  // [B,1,L,L]
    torch::Tensor bar = torch::div(delta, kPositionsPerBar, "floor");
    const torch::Tensor position_in_bar = delta - bar * kPositionsPerBar;
    bar = bar.clamp(-max_relative_bars, max_relative_bars);
    // Bar span of each query row's visible pairs (the diagonal is always
    // visible, so every row has one); one copy to the host for all chunks.
    const torch::Tensor row_first = bar.masked_fill(layout.blocked, max_relative_bars).amin({0, 1, 3}).cpu();
    const torch::Tensor row_last = bar.masked_fill(layout.blocked, -max_relative_bars).amax({0, 1, 3}).cpu();
    const auto first = row_first.accessor<int64_t, 1>();
    const auto last = row_last.accessor<int64_t, 1>();
    int64_t first_bar = max_relative_bars;
    int64_t last_bar = -max_relative_bars;
    for (int64_t start = 0; start < L; start += query_chunk) {
      int64_t chunk_first = max_relative_bars;
      int64_t chunk_last = -max_relative_bars;
      for (int64_t i = start; i < std::min(L, start + query_chunk); ++i) {
        chunk_first = std::min(chunk_first, first[i]);
        chunk_last = std::max(chunk_last, last[i]);
      }
      layout.chunk_first_bar.push_back(chunk_first);
      layout.chunk_num_bars.push_back(chunk_last - chunk_first + 1);
      first_bar = std::min(first_bar, chunk_first);
      last_bar = std::max(last_bar, chunk_last);
    }
    layout.first_bar = first_bar;
    layout.num_bars = last_bar - first_bar + 1;
    layout.time_row = (bar.clamp(first_bar, last_bar) - first_bar) * kPositionsPerBar + position_in_bar;
  }

  // Pitch: ΔP = P_i − P_j split into (octave, semitone); pairs where either
  // token has no pitch point at the zero row after the table.
  {
    const torch::Tensor with_pitch = has_pitch.to(torch::kBool);
    const torch::Tensor pitch_pair = (with_pitch.unsqueeze(2).logical_and(with_pitch.unsqueeze(1))).unsqueeze(1);
    const torch::Tensor delta = (pitches.unsqueeze(2) - pitches.unsqueeze(1)).to(torch::kLong).unsqueeze(1);
    torch::Tensor octave = torch::div(delta, kSemitonesPerOctave, "floor");
    const torch::Tensor semitone = delta - octave * kSemitonesPerOctave;
    // A no-op for pitches in 0..127; keeps table lookups in bounds otherwise.
    octave = octave.clamp(kMinOctaveDiff, kMaxOctaveDiff);
    const auto range = MaskedRange(octave, pitch_pair.logical_and(visible));
    const int64_t first_octave = range ? range->first : 0;
    const int64_t last_octave = range ? range->second : 0;
    layout.first_octave = first_octave;
    layout.num_octaves = last_octave - first_octave + 1;
    const torch::Tensor row = (octave.clamp(first_octave, last_octave) - first_octave) * kSemitonesPerOctave + semitone;
    layout.pitch_row =
        torch::where(pitch_pair, row, torch::full({}, layout.num_octaves * kSemitonesPerOctave, LongOn(device)));
  }
}

// CPU version: the same rows from two passes of plain loops over the visible
// pairs (the tensor-op version allocates a dozen L×L integer tensors).
void FillTimePitchRowsWithLoops(RelativeLayout& layout, const torch::Tensor& times_in, const torch::Tensor& pitches_in,
                                const torch::Tensor& has_pitch_in, int64_t max_relative_bars) {
  const int64_t B = layout.batch;
  const int64_t L = layout.length;
  const int64_t max_bars = max_relative_bars;
  const torch::Tensor times = times_in.to(torch::kLong).contiguous();
  const torch::Tensor pitches = pitches_in.to(torch::kLong).contiguous();
  const torch::Tensor has_pitch_tensor = has_pitch_in.to(torch::kBool).contiguous();
  const int64_t* time = times.data_ptr<int64_t>();
  const int64_t* pitch = pitches.data_ptr<int64_t>();
  const bool* has_pitch = has_pitch_tensor.data_ptr<bool>();
  const bool* blocked = layout.blocked.data_ptr<bool>();

  // Pass 1: bar span of each query row and octave span of each row's
  // visible pairs (j ≤ i always includes the visible ones).
  std::vector<int64_t> row_first_bar(L, max_bars);
  std::vector<int64_t> row_last_bar(L, -max_bars);
  std::vector<int64_t> row_first_octave(L, kMaxOctaveDiff + 1);
  std::vector<int64_t> row_last_octave(L, kMinOctaveDiff - 1);
  at::parallel_for(0, L, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t* t = time + b * L;
        const int64_t* p = pitch + b * L;
        const bool* pitched = has_pitch + b * L;
        const bool* blocked_row = blocked + (b * L + i) * L;
        for (int64_t j = 0; j <= i; ++j) {
          if (blocked_row[j]) continue;
          const int64_t bar = std::clamp(FloorDiv(t[i] - t[j], kPositionsPerBar), -max_bars, max_bars);
          row_first_bar[i] = std::min(row_first_bar[i], bar);
          row_last_bar[i] = std::max(row_last_bar[i], bar);
          if (pitched[i] && pitched[j]) {
            const int64_t octave =
                std::clamp(FloorDiv(p[i] - p[j], kSemitonesPerOctave), kMinOctaveDiff, kMaxOctaveDiff);
            row_first_octave[i] = std::min(row_first_octave[i], octave);
            row_last_octave[i] = std::max(row_last_octave[i], octave);
          }
        }
      }
    }
  });
  int64_t first_bar = max_bars;
  int64_t last_bar = -max_bars;
  for (int64_t start = 0; start < L; start += layout.query_chunk) {
    const int64_t stop = std::min(L, start + layout.query_chunk);
    const int64_t chunk_first = *std::min_element(row_first_bar.begin() + start, row_first_bar.begin() + stop);
    const int64_t chunk_last = *std::max_element(row_last_bar.begin() + start, row_last_bar.begin() + stop);
    layout.chunk_first_bar.push_back(chunk_first);
    layout.chunk_num_bars.push_back(chunk_last - chunk_first + 1);
    first_bar = std::min(first_bar, chunk_first);
    last_bar = std::max(last_bar, chunk_last);
  }
  layout.first_bar = first_bar;
  layout.num_bars = last_bar - first_bar + 1;
  int64_t first_octave = *std::min_element(row_first_octave.begin(), row_first_octave.end());
  int64_t last_octave = *std::max_element(row_last_octave.begin(), row_last_octave.end());
  if (first_octave > last_octave) first_octave = last_octave = 0;  // no pitched pair
  layout.first_octave = first_octave;
  layout.num_octaves = last_octave - first_octave + 1;
  const int64_t zero_row = layout.num_octaves * kSemitonesPerOctave;

  // Pass 2: every pair gets an in-range row (blocked ones too; never read).
  const auto long_options = torch::TensorOptions().dtype(torch::kLong);
  layout.time_row = torch::empty({B, 1, L, L}, long_options);
  layout.pitch_row = torch::empty({B, 1, L, L}, long_options);
  int64_t* time_row = layout.time_row.data_ptr<int64_t>();
  int64_t* pitch_row = layout.pitch_row.data_ptr<int64_t>();
  at::parallel_for(0, B * L, 16, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / L;
      const int64_t i = row % L;
      const int64_t* t = time + b * L;
      const int64_t* p = pitch + b * L;
      const bool* pitched = has_pitch + b * L;
      int64_t* time_out = time_row + row * L;
      int64_t* pitch_out = pitch_row + row * L;
      for (int64_t j = 0; j < L; ++j) {
        const int64_t delta_time = t[i] - t[j];
        const int64_t bar = FloorDiv(delta_time, kPositionsPerBar);
        const int64_t position = delta_time - bar * kPositionsPerBar;
        time_out[j] = (std::clamp(bar, first_bar, last_bar) - first_bar) * kPositionsPerBar + position;
        if (pitched[i] && pitched[j]) {
          const int64_t delta_pitch = p[i] - p[j];
          const int64_t octave = FloorDiv(delta_pitch, kSemitonesPerOctave);
          const int64_t semitone = delta_pitch - octave * kSemitonesPerOctave;
          pitch_out[j] =
              (std::clamp(octave, first_octave, last_octave) - first_octave) * kSemitonesPerOctave + semitone;
        } else {
          pitch_out[j] = zero_row;
        }
      }
    }
  });
}

// Keeps the token metadata in the layout (for the flash kernel), in the
// dtypes it reads.
void StoreTokens(RelativeLayout& layout, const torch::Tensor& times, const torch::Tensor& pitches,
                 const torch::Tensor& has_pitch, const torch::Tensor& padding_mask, bool with_time_pitch) {
  layout.times = times.to(torch::kLong).contiguous();
  if (padding_mask.defined()) {
    TORCH_CHECK(padding_mask.sizes() == times.sizes(), "padding_mask must be [B, L]");
    layout.padding = padding_mask.to(torch::kBool).contiguous();
  }
  if (!with_time_pitch) return;
  TORCH_CHECK(pitches.sizes() == times.sizes(), "pitches must be [B, L]");
  TORCH_CHECK(has_pitch.sizes() == times.sizes(), "has_pitch must be [B, L]");
  layout.pitches = pitches.to(torch::kLong).contiguous();
  layout.has_pitch = has_pitch.to(torch::kBool).contiguous();
}

// For each query row, the largest and smallest value among the keys it sees
// (earlier keys where `visible_keys`, and itself): prefix
// maxima/minima with the hidden keys replaced by values that lose.
std::pair<torch::Tensor, torch::Tensor> VisibleKeyRange(const torch::Tensor& values,
                                                        const torch::Tensor& visible_keys) {
  constexpr int64_t kLow = std::numeric_limits<int64_t>::min();
  constexpr int64_t kHigh = std::numeric_limits<int64_t>::max();
  const torch::Tensor highest = std::get<0>(torch::cummax(values.masked_fill(visible_keys.logical_not(), kLow), 1));
  const torch::Tensor lowest = std::get<0>(torch::cummin(values.masked_fill(visible_keys.logical_not(), kHigh), 1));
  return {torch::maximum(highest, values), torch::minimum(lowest, values)};
}

}  // namespace

RelativeLayout BuildTokenLayout(const torch::Tensor& times, const torch::Tensor& pitches,
                                const torch::Tensor& has_pitch, const torch::Tensor& padding_mask,
                                int64_t max_relative_bars, bool with_time_pitch) {
  TORCH_CHECK(times.dim() == 2, "times must be [B, L]");
  RelativeLayout layout;
  layout.batch = times.size(0);
  layout.length = times.size(1);
  StoreTokens(layout, times, pitches, has_pitch, padding_mask, with_time_pitch);
  if (!with_time_pitch || times.numel() == 0) return layout;

  const torch::Tensor keys =
      layout.padding.defined() ? layout.padding.logical_not() : torch::ones_like(layout.times, torch::kBool);
  // Bars are monotone in ΔT, so a row's bar span comes from its extreme ΔT.
  {
    const auto [latest, earliest] = VisibleKeyRange(layout.times, keys);
    const auto bar = [&](const torch::Tensor& delta) {
      return torch::div(delta, kPositionsPerBar, "floor").clamp(-max_relative_bars, max_relative_bars);
    };
    layout.first_bar = bar(layout.times - latest).min().item<int64_t>();
    const int64_t last_bar = bar(layout.times - earliest).max().item<int64_t>();
    layout.num_bars = last_bar - layout.first_bar + 1;
  }
  // Octaves likewise, over pairs of pitched tokens only.
  {
    const torch::Tensor pitched = layout.has_pitch;
    const auto [highest, lowest] = VisibleKeyRange(layout.pitches, keys.logical_and(pitched));
    const auto octave = [&](const torch::Tensor& delta) {
      return torch::div(delta, kSemitonesPerOctave, "floor")
          .clamp(kMinOctaveDiff, kMaxOctaveDiff)
          .masked_select(pitched);
    };
    const torch::Tensor first = octave(layout.pitches - highest);
    if (first.numel() == 0) {  // no pitched pair
      layout.first_octave = 0;
      layout.num_octaves = 1;
    } else {
      layout.first_octave = first.min().item<int64_t>();
      layout.num_octaves = octave(layout.pitches - lowest).max().item<int64_t>() - layout.first_octave + 1;
    }
  }
  return layout;
}

RelativeLayout BuildRelativeLayout(const torch::Tensor& times, const torch::Tensor& pitches,
                                   const torch::Tensor& has_pitch, const torch::Tensor& padding_mask,
                                   int64_t max_relative_bars, bool with_time_pitch, int64_t query_chunk,
                                   bool use_tensor_ops) {
  TORCH_CHECK(times.dim() == 2, "times must be [B, L]");
  TORCH_CHECK(query_chunk > 0, "query_chunk must be positive");
  RelativeLayout layout;
  layout.batch = times.size(0);
  layout.length = times.size(1);
  layout.query_chunk = query_chunk;
  const int64_t B = layout.batch;
  const int64_t L = layout.length;
  const torch::Device device = times.device();

  const torch::Tensor position = torch::arange(L, LongOn(device));
  // blocked[i, j] = j > i
  torch::Tensor blocked = position.unsqueeze(0).gt(position.unsqueeze(1)).view({1, 1, L, L});
  if (padding_mask.defined()) {
    TORCH_CHECK(padding_mask.sizes() == times.sizes(), "padding_mask must be [B, L]");
    const torch::Tensor off_diagonal =
        torch::eye(L, torch::TensorOptions().dtype(torch::kBool).device(device)).logical_not().view({1, 1, L, L});
    blocked = blocked.logical_or(padding_mask.to(torch::kBool).view({B, 1, 1, L}).logical_and(off_diagonal));
  }
  // Contiguous: the fused kernel reads it row by row.
  layout.blocked = blocked.expand({B, 1, L, L}).contiguous();
  StoreTokens(layout, times, pitches, has_pitch, padding_mask, with_time_pitch);
  if (!with_time_pitch) return layout;
  if (device.is_cpu() && !use_tensor_ops) {
    FillTimePitchRowsWithLoops(layout, times, pitches, has_pitch, max_relative_bars);
  } else {
    FillTimePitchRowsWithTensorOps(layout, times, pitches, has_pitch, max_relative_bars);
  }
  return layout;
}

}  // namespace expsvc::music
