#include "worker/music/data/music_metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>

namespace expsvc::music {
namespace {

bool IsOnGrid(const BarNote& note) {
  return note.pitch >= 0 && note.pitch < kNumPitches && note.position >= 0 && note.position < kPositionsPerBar;
}

size_t Cell(int32_t position, int32_t pitch) {
  return static_cast<size_t>(position) * kNumPitches + static_cast<size_t>(pitch);
}

bool IsEmpty(const Bar& bar) {
  return std::none_of(bar.notes.begin(), bar.notes.end(), IsOnGrid);
}

// The shared edge cases: both bars empty → 1, exactly one empty → 0;
// nullopt when both have notes and the metric's own formula applies.
std::optional<double> EmptyBarsScore(const Bar& generated, const Bar& truth) {
  const bool generated_empty = IsEmpty(generated);
  const bool truth_empty = IsEmpty(truth);
  if (generated_empty && truth_empty) return 1.0;
  if (generated_empty || truth_empty) return 0.0;
  return std::nullopt;
}

// Dice/F1 of two cell sets; only called with at least one non-empty set.
double SetF1(const GridRoll& generated, const GridRoll& truth) {
  const double common = static_cast<double>((generated & truth).count());
  return 2.0 * common / static_cast<double>(generated.count() + truth.count());
}

std::bitset<kPositionsPerBar> OnsetPositions(const Bar& bar) {
  std::bitset<kPositionsPerBar> onsets;
  for (const BarNote& note : bar.notes) {
    if (IsOnGrid(note)) onsets.set(static_cast<size_t>(note.position));
  }
  return onsets;
}

std::array<double, 12> PitchClassCounts(const Bar& bar) {
  std::array<double, 12> counts{};
  for (const BarNote& note : bar.notes) {
    if (IsOnGrid(note)) counts[static_cast<size_t>(note.pitch % 12)] += 1;
  }
  return counts;
}

struct PitchRange {
  int32_t low = std::numeric_limits<int32_t>::max();
  int32_t high = std::numeric_limits<int32_t>::min();
};

PitchRange RangeOf(const Bar& bar) {
  PitchRange range;
  for (const BarNote& note : bar.notes) {
    if (!IsOnGrid(note)) continue;
    range.low = std::min(range.low, note.pitch);
    range.high = std::max(range.high, note.pitch);
  }
  return range;
}

}  // namespace

GridRoll OnsetRoll(const Bar& bar) {
  GridRoll roll;
  for (const BarNote& note : bar.notes) {
    if (IsOnGrid(note)) roll.set(Cell(note.position, note.pitch));
  }
  return roll;
}

GridRoll Pianoroll(const Bar& bar) {
  GridRoll roll;
  for (const BarNote& note : bar.notes) {
    if (!IsOnGrid(note)) continue;
    const int32_t end = std::min(kPositionsPerBar, note.position + std::max(note.duration, 1));
    for (int32_t frame = note.position; frame < end; ++frame) roll.set(Cell(frame, note.pitch));
  }
  return roll;
}

double NoteF1(const Bar& generated, const Bar& truth) {
  if (auto score = EmptyBarsScore(generated, truth)) return *score;
  return SetF1(OnsetRoll(generated), OnsetRoll(truth));
}

double PianorollF1(const Bar& generated, const Bar& truth) {
  if (auto score = EmptyBarsScore(generated, truth)) return *score;
  return SetF1(Pianoroll(generated), Pianoroll(truth));
}

double GroovingSimilarity(const Bar& generated, const Bar& truth) {
  // The raw formula would give an empty bar 1 − k/48 against a bar with k
  // onsets, rewarding silence; the shared rule gives 0 instead.
  if (auto score = EmptyBarsScore(generated, truth)) return *score;
  const size_t differing = (OnsetPositions(generated) ^ OnsetPositions(truth)).count();
  return 1.0 - static_cast<double>(differing) / kPositionsPerBar;
}

double ChromaSimilarity(const Bar& generated, const Bar& truth) {
  if (auto score = EmptyBarsScore(generated, truth)) return *score;
  const std::array<double, 12> g = PitchClassCounts(generated);
  const std::array<double, 12> t = PitchClassCounts(truth);
  double dot = 0, g_norm = 0, t_norm = 0;
  for (size_t pitch_class = 0; pitch_class < 12; ++pitch_class) {
    dot += g[pitch_class] * t[pitch_class];
    g_norm += g[pitch_class] * g[pitch_class];
    t_norm += t[pitch_class] * t[pitch_class];
  }
  return dot / std::sqrt(g_norm * t_norm);
}

double PitchRangeSimilarity(const Bar& generated, const Bar& truth) {
  if (auto score = EmptyBarsScore(generated, truth)) return *score;
  const PitchRange g = RangeOf(generated);
  const PitchRange t = RangeOf(truth);
  const int32_t intersection = std::max(0, std::min(g.high, t.high) - std::max(g.low, t.low) + 1);
  const int32_t union_size = (g.high - g.low + 1) + (t.high - t.low + 1) - intersection;
  return static_cast<double>(intersection) / union_size;
}

BarMetrics CompareBars(const Bar& generated, const Bar& truth) {
  return BarMetrics{
      .note_f1 = NoteF1(generated, truth),
      .pianoroll_f1 = PianorollF1(generated, truth),
      .grooving_similarity = GroovingSimilarity(generated, truth),
      .chroma_similarity = ChromaSimilarity(generated, truth),
      .pitch_range_similarity = PitchRangeSimilarity(generated, truth),
  };
}

void BarMetricsAccumulator::Add(const BarMetrics& metrics) {
  sum_.note_f1 += metrics.note_f1;
  sum_.pianoroll_f1 += metrics.pianoroll_f1;
  sum_.grooving_similarity += metrics.grooving_similarity;
  sum_.chroma_similarity += metrics.chroma_similarity;
  sum_.pitch_range_similarity += metrics.pitch_range_similarity;
  ++count_;
}

BarMetrics BarMetricsAccumulator::Mean() const {
  if (count_ == 0) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return BarMetrics{nan, nan, nan, nan, nan};
  }
  const double n = static_cast<double>(count_);
  return BarMetrics{
      .note_f1 = sum_.note_f1 / n,
      .pianoroll_f1 = sum_.pianoroll_f1 / n,
      .grooving_similarity = sum_.grooving_similarity / n,
      .chroma_similarity = sum_.chroma_similarity / n,
      .pitch_range_similarity = sum_.pitch_range_similarity / n,
  };
}

}  // namespace expsvc::music
