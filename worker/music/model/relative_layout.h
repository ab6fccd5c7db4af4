#pragma once
// The row indices of the relative tables: for every visible (query, key)
// pair of a batch, which row of the time table (bar distance × position) and
// of the pitch table (octave × semitone) its bias reads, the causal/padding
// mask, and the spans that keep the tables small. Built once per batch from
// the token metadata and shared by every attention layer. Two builders give
// the same rows: plain loops over the visible pairs (CPU) and L×L tensor ops
// (other devices); the tests compare them.

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "worker/music/data/music_grid.h"

namespace expsvc::music {

// kPositionsPerBar (48) and kNumPitches (128) come from the data library's
// grid; with the octave they are the periods of the circular decomposition.
inline constexpr int64_t kSemitonesPerOctave = 12;
// ΔP ∈ [−127, 127] floor-divided by 12 lies in [−11, 10].
inline constexpr int64_t kMinOctaveDiff = -11;
inline constexpr int64_t kMaxOctaveDiff = 10;
inline constexpr int64_t kNumOctaveDiffs = kMaxOctaveDiff - kMinOctaveDiff + 1;

// Floor division by a positive divisor.
inline int64_t FloorDiv(int64_t value, int64_t divisor) {
  const int64_t quotient = value / divisor;
  return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient;
}

inline torch::TensorOptions LongOn(const torch::Device& device) {
  return torch::TensorOptions().dtype(torch::kLong).device(device);
}

// Everything the attention layers need from the token metadata. It depends
// only on times/pitches/masks, so a model builds it once per batch and every
// layer reuses it.
struct RelativeLayout {
  int64_t batch = 0;
  int64_t length = 0;
  // [B,1,L,L] true where query i must NOT see key j: j > i, or key j is
  // padding (a padding query still sees itself, so no row is empty).
  torch::Tensor blocked;
  // Time table rows span bar distances [first_bar, first_bar + num_bars),
  // 48 positions each: row = (bar − first_bar)·48 + (ΔT mod 48). The span is
  // the one the visible pairs of this batch use, so the table stays small.
  // [B,1,L,L] int64; undefined when the kind has no S^T.
  torch::Tensor time_row;
  int64_t first_bar = 0;
  int64_t num_bars = 0;
  // Pitch table rows span octave distances [first_octave,
  // first_octave + num_octaves), 12 semitones each; row num_octaves·12 is an
  // all-zero row that pairs involving a token without pitch point to.
  torch::Tensor pitch_row;
  int64_t first_octave = 0;
  int64_t num_octaves = 0;
  // The fused path works on query chunks of this many rows: chunk k only
  // needs index distances < its last row + 1 and the bar span its own
  // visible pairs use, which is about half of the full tables (causality).
  int64_t query_chunk = 0;
  std::vector<int64_t> chunk_first_bar;
  std::vector<int64_t> chunk_num_bars;
  // The token metadata itself, [B,L]: times and pitches int64, has_pitch
  // bool, padding bool (undefined without padding). The flash kernel derives
  // each pair's rows from these instead of the L×L maps above.
  torch::Tensor times;
  torch::Tensor pitches;
  torch::Tensor has_pitch;
  torch::Tensor padding;
  // Whether blocked, time_row and pitch_row were built (BuildTokenLayout
  // leaves them out).
  bool has_pair_maps() const { return blocked.defined(); }
};

// times, pitches: [B,L] int64; has_pitch: [B,L] bool; padding_mask: [B,L]
// bool (true = padding) or undefined. Index tensors are created on times'
// device. with_time_pitch=false builds only `blocked`. On CPU the rows come
// from plain loops; use_tensor_ops=true forces the L×L tensor-op version that
// other devices run (tests compare the two).
RelativeLayout BuildRelativeLayout(const torch::Tensor& times, const torch::Tensor& pitches,
                                   const torch::Tensor& has_pitch, const torch::Tensor& padding_mask,
                                   int64_t max_relative_bars, bool with_time_pitch, int64_t query_chunk = 128,
                                   bool use_tensor_ops = false);

// The layout of the flash kernel (worker/kernels/flash_relative): the token
// metadata and the same table spans (first_bar/num_bars,
// first_octave/num_octaves) as BuildRelativeLayout, found with prefix
// maxima and minima over the keys in O(B·L) on times' device; no L×L map
// and no per-chunk spans.
RelativeLayout BuildTokenLayout(const torch::Tensor& times, const torch::Tensor& pitches,
                                const torch::Tensor& has_pitch, const torch::Tensor& padding_mask,
                                int64_t max_relative_bars, bool with_time_pitch);

}  // namespace expsvc::music
