#pragma once
// Objective next-bar metrics of Study 1: a generated bar compared with the
// true bar (note F1, pianoroll F1, grooving, chroma and pitch-range
// similarity), and their means over many windows. Definitions, edge cases
// and the choices where the paper is silent: worker/music/data/README.md,
// "Objective metrics".
//
// Shared rules: the three tracks are merged; notes outside the grid (pitch
// not 0..127 or position not 0..47) are ignored, so a bar holding only such
// notes counts as empty; both bars empty gives 1 for every metric, exactly
// one empty gives 0 for every metric.

#include <bitset>
#include <cstdint>

#include "worker/music/data/music_grid.h"

namespace expsvc::music {

// A bar as a 48 × 128 binary image: cell position * kNumPitches + pitch.
using GridRoll = std::bitset<static_cast<size_t>(kPositionsPerBar) * kNumPitches>;

// The cells where notes start: one per distinct (position, pitch).
GridRoll OnsetRoll(const Bar& bar);
// The cells where notes sound: (frame, pitch) for frame in
// [position, position + duration), clipped at the bar end; a duration below
// 1 counts as 1.
GridRoll Pianoroll(const Bar& bar);

// 2·|G ∩ T| / (|G| + |T|) over distinct (position, pitch) onsets.
double NoteF1(const Bar& generated, const Bar& truth);
// 2·|G ∩ T| / (|G| + |T|) over the sounding (frame, pitch) cells.
double PianorollF1(const Bar& generated, const Bar& truth);
// 1 − (1/48)·Σ_q XOR(onset at q in G, onset at q in T), onsets of any pitch.
double GroovingSimilarity(const Bar& generated, const Bar& truth);
// Cosine of the 12-bin pitch-class vectors, each note adding 1 to its bin
// (onset counts; durations ignored).
double ChromaSimilarity(const Bar& generated, const Bar& truth);
// |[min,max]_G ∩ [min,max]_T| / |[min,max]_G ∪ [min,max]_T| on inclusive
// integer pitch ranges (|[a,b]| = b − a + 1).
double PitchRangeSimilarity(const Bar& generated, const Bar& truth);

struct BarMetrics {
  double note_f1 = 0;
  double pianoroll_f1 = 0;
  double grooving_similarity = 0;
  double chroma_similarity = 0;
  double pitch_range_similarity = 0;
};

BarMetrics CompareBars(const Bar& generated, const Bar& truth);

// Accumulates per-window metrics and gives means.
class BarMetricsAccumulator {
 public:
  void Add(const BarMetrics& metrics);
  int64_t count() const { return count_; }
  // Field-wise means; every field NaN while nothing was added.
  BarMetrics Mean() const;

 private:
  BarMetrics sum_;
  int64_t count_ = 0;
};

}  // namespace expsvc::music
