#include "worker/music/data/music_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace expsvc::music {
namespace {

Bar MakeBar(std::vector<BarNote> notes) {
  Bar bar{.notes = std::move(notes)};
  SortBarNotes(bar);
  return bar;
}

void ExpectEveryMetric(const BarMetrics& metrics, double expected) {
  EXPECT_DOUBLE_EQ(metrics.note_f1, expected);
  EXPECT_DOUBLE_EQ(metrics.pianoroll_f1, expected);
  EXPECT_DOUBLE_EQ(metrics.grooving_similarity, expected);
  EXPECT_DOUBLE_EQ(metrics.chroma_similarity, expected);
  EXPECT_DOUBLE_EQ(metrics.pitch_range_similarity, expected);
}

// Notes are {track, pitch, position, duration}.
const Bar& Truth() {
  static const Bar bar = MakeBar(
      {{kMelodyTrack, 60, 0, 12}, {kMelodyTrack, 64, 12, 12}, {kPianoTrack, 48, 0, 24}, {kMelodyTrack, 67, 24, 24}});
  return bar;
}

const Bar& Generated() {
  static const Bar bar = MakeBar({{kMelodyTrack, 60, 0, 6},
                                  {kBridgeTrack, 60, 0, 6},  // same onset on another track
                                  {kMelodyTrack, 65, 12, 12},
                                  {kPianoTrack, 48, 0, 60},  // runs past the bar end
                                  {kMelodyTrack, 72, 36, 12}});
  return bar;
}

TEST(MusicMetricsTest, IdenticalBarsScoreOneEverywhere) {
  ExpectEveryMetric(CompareBars(Truth(), Truth()), 1.0);
  ExpectEveryMetric(CompareBars(Generated(), Generated()), 1.0);
}

TEST(MusicMetricsTest, BothEmptyIsOneAndOneEmptyIsZero) {
  const Bar empty;
  ExpectEveryMetric(CompareBars(empty, empty), 1.0);
  ExpectEveryMetric(CompareBars(empty, Truth()), 0.0);
  ExpectEveryMetric(CompareBars(Truth(), empty), 0.0);
}

TEST(MusicMetricsTest, NotesOffTheGridAreIgnored) {
  const Bar off_grid = MakeBar(
      {{kMelodyTrack, 128, 0, 4}, {kMelodyTrack, 60, 48, 4}, {kMelodyTrack, -1, 3, 4}, {kMelodyTrack, 60, -2, 4}});
  ExpectEveryMetric(CompareBars(off_grid, Bar{}), 1.0);  // counts as empty
  ExpectEveryMetric(CompareBars(off_grid, Truth()), 0.0);
  Bar truth_and_noise = Truth();
  truth_and_noise.notes.insert(truth_and_noise.notes.end(), off_grid.notes.begin(), off_grid.notes.end());
  ExpectEveryMetric(CompareBars(truth_and_noise, Truth()), 1.0);
}

TEST(MusicMetricsTest, DisjointBarsScoreZeroWhereTheDefinitionsDo) {
  // Different onsets, pitches, pitch classes {0, 2} vs {10, 11}, ranges
  // [60, 62] vs [70, 71]; the sounding cells do not meet either.
  const Bar a = MakeBar({{kMelodyTrack, 60, 0, 12}, {kMelodyTrack, 62, 12, 12}});
  const Bar b = MakeBar({{kMelodyTrack, 70, 24, 12}, {kMelodyTrack, 71, 36, 12}});
  const BarMetrics metrics = CompareBars(a, b);
  EXPECT_EQ(metrics.note_f1, 0.0);
  EXPECT_EQ(metrics.pianoroll_f1, 0.0);
  EXPECT_EQ(metrics.chroma_similarity, 0.0);
  EXPECT_EQ(metrics.pitch_range_similarity, 0.0);
  // GS counts agreement on silent positions too: 4 of 48 positions differ.
  EXPECT_DOUBLE_EQ(metrics.grooving_similarity, 1.0 - 4.0 / 48.0);
}

TEST(MusicMetricsTest, GroovingIsZeroWhenEveryPositionDisagrees) {
  Bar even;
  Bar odd;
  for (int32_t position = 0; position < kPositionsPerBar; ++position) {
    (position % 2 == 0 ? even : odd).notes.push_back({kPianoTrack, 60, position, 1});
  }
  EXPECT_EQ(GroovingSimilarity(even, odd), 0.0);
}

// The worked partial case, by hand:
//   truth     onsets (pos, pitch): (0,60) (12,64) (0,48) (24,67)
//   generated onsets:              (0,60) [twice, collapsed] (12,65) (0,48) (36,72)
TEST(MusicMetricsTest, NoteF1WorkedCase) {
  // |G| = 4, |T| = 4, common (0,60) and (0,48): 2·2 / (4 + 4) = 0.5.
  EXPECT_DOUBLE_EQ(NoteF1(Generated(), Truth()), 0.5);
  EXPECT_DOUBLE_EQ(NoteF1(Truth(), Generated()), 0.5);
}

TEST(MusicMetricsTest, PianorollF1WorkedCase) {
  // G cells: 60 × frames 0–5 (6, the two tracks merge), 65 × 12–23 (12),
  //          48 × 0–47 (48, clipped from 60), 72 × 36–47 (12)  → |G| = 78.
  // T cells: 60 × 0–11 (12), 64 × 12–23 (12), 48 × 0–23 (24), 67 × 24–47 (24) → |T| = 72.
  // Common: 60 × 0–5 (6) + 48 × 0–23 (24) = 30.  F1 = 60 / 150 = 0.4.
  EXPECT_DOUBLE_EQ(PianorollF1(Generated(), Truth()), 0.4);
}

TEST(MusicMetricsTest, GroovingWorkedCase) {
  // Onset positions G {0, 12, 36}, T {0, 12, 24}: XOR at 24 and 36 → 1 − 2/48.
  EXPECT_DOUBLE_EQ(GroovingSimilarity(Generated(), Truth()), 46.0 / 48.0);
}

TEST(MusicMetricsTest, ChromaWorkedCase) {
  // Counts per pitch class: G: C = 4 (60, 60, 48, 72), F = 1 (65).
  //                         T: C = 2 (60, 48), E = 1 (64), G = 1 (67).
  // Cosine = (4·2) / (sqrt(16 + 1) · sqrt(4 + 1 + 1)) = 8 / sqrt(102) ≈ 0.7921.
  EXPECT_DOUBLE_EQ(ChromaSimilarity(Generated(), Truth()), 8.0 / std::sqrt(102.0));
}

TEST(MusicMetricsTest, PitchRangeWorkedCase) {
  // G [48, 72] (25 pitches), T [48, 67] (20): intersection 20, union 25 → 0.8.
  EXPECT_DOUBLE_EQ(PitchRangeSimilarity(Generated(), Truth()), 0.8);
  // Overlapping on one side only: [60, 71] and [65, 76] → 7 / (12 + 12 − 7) = 7/17.
  const Bar low = MakeBar({{kMelodyTrack, 60, 0, 1}, {kMelodyTrack, 71, 1, 1}});
  const Bar high = MakeBar({{kMelodyTrack, 65, 0, 1}, {kMelodyTrack, 76, 1, 1}});
  EXPECT_DOUBLE_EQ(PitchRangeSimilarity(low, high), 7.0 / 17.0);
  // Single pitches: equal → 1, adjacent → 0.
  const Bar c = MakeBar({{kMelodyTrack, 60, 0, 1}});
  const Bar c_sharp = MakeBar({{kMelodyTrack, 61, 0, 1}});
  EXPECT_DOUBLE_EQ(PitchRangeSimilarity(c, c), 1.0);
  EXPECT_DOUBLE_EQ(PitchRangeSimilarity(c, c_sharp), 0.0);
}

TEST(MusicMetricsTest, CompareBarsGathersEveryMetric) {
  const BarMetrics metrics = CompareBars(Generated(), Truth());
  EXPECT_DOUBLE_EQ(metrics.note_f1, NoteF1(Generated(), Truth()));
  EXPECT_DOUBLE_EQ(metrics.pianoroll_f1, PianorollF1(Generated(), Truth()));
  EXPECT_DOUBLE_EQ(metrics.grooving_similarity, GroovingSimilarity(Generated(), Truth()));
  EXPECT_DOUBLE_EQ(metrics.chroma_similarity, ChromaSimilarity(Generated(), Truth()));
  EXPECT_DOUBLE_EQ(metrics.pitch_range_similarity, PitchRangeSimilarity(Generated(), Truth()));
}

TEST(MusicMetricsTest, PianorollClipsAtTheBarEndAndCountsShortNotesOnce) {
  const Bar bar = MakeBar({{kMelodyTrack, 60, 40, 96}, {kMelodyTrack, 61, 5, 0}});
  EXPECT_EQ(Pianoroll(bar).count(), 8u + 1u);
  EXPECT_EQ(OnsetRoll(bar).count(), 2u);
}

TEST(MusicMetricsTest, AccumulatorGivesMeansAndNanWhenEmpty) {
  BarMetricsAccumulator accumulator;
  EXPECT_EQ(accumulator.count(), 0);
  EXPECT_TRUE(std::isnan(accumulator.Mean().note_f1));
  EXPECT_TRUE(std::isnan(accumulator.Mean().pitch_range_similarity));

  accumulator.Add(CompareBars(Truth(), Truth()));      // all 1
  accumulator.Add(CompareBars(Generated(), Truth()));  // the worked case
  ASSERT_EQ(accumulator.count(), 2);
  const BarMetrics mean = accumulator.Mean();
  EXPECT_DOUBLE_EQ(mean.note_f1, (1.0 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(mean.pianoroll_f1, (1.0 + 0.4) / 2);
  EXPECT_DOUBLE_EQ(mean.grooving_similarity, (1.0 + 46.0 / 48.0) / 2);
  EXPECT_DOUBLE_EQ(mean.chroma_similarity, (1.0 + 8.0 / std::sqrt(102.0)) / 2);
  EXPECT_DOUBLE_EQ(mean.pitch_range_similarity, (1.0 + 0.8) / 2);
}

}  // namespace
}  // namespace expsvc::music
