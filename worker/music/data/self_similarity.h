#pragma once
// Bar-level self-similarity of a piece (Study 1): every pair of bars
// compared, the matrix the dashboard draws, and the mean similarity at a
// lag (the paper sees stripes at 4, 8 and 12 bars for CirRelAttn-H).
// Definitions: worker/music/data/README.md, "Objective metrics".

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "worker/music/data/music_grid.h"

namespace expsvc::music {

// The lags SimilarityMatrixJson reports.
inline constexpr std::array<int64_t, 3> kSelfSimilarityLags = {4, 8, 12};

// n × n, row-major, symmetric; diagonal 1 except for empty bars. A pair of
// empty bars is NaN (missing): silence repeating silence says nothing about
// structure, and counting it as 1 would reward a generator for stopping early.
struct SimilarityMatrix {
  int64_t size = 0;
  std::vector<double> values;

  double at(int64_t i, int64_t j) const { return values[static_cast<size_t>(i * size + j)]; }
};

// Cosine of the two bars' binary 48 × 128 pianorolls (tracks merged, notes
// clipped at the bar end, as Pianoroll in music_metrics.h):
// |A ∩ B| / sqrt(|A|·|B|). Both empty → NaN (missing), exactly one empty → 0.
double BarSimilarity(const Bar& a, const Bar& b);

SimilarityMatrix BarSelfSimilarity(std::span<const Bar> bars);

// Mean of at(i, i + lag) over every i with both indices below `end` (the
// bars actually generated; -1 or anything past the matrix: all of it),
// skipping missing (empty–empty) pairs. A negative lag reads below the
// diagonal, the same values by symmetry. NaN when no pair is left.
double MeanSimilarityAtLag(const SimilarityMatrix& matrix, int64_t lag, int64_t end = -1);

// The artifact the dashboard draws:
// {"size":n,"bars_scored":e,"values":[[row 0],...],"lags":{"4":m,"8":m,"12":m}},
// numbers in the shortest form that reads back exactly, missing pairs and a
// lag without pairs as null; the lag means use bars [0, e) (`end` as above).
std::string SimilarityMatrixJson(const SimilarityMatrix& matrix, int64_t end = -1);

}  // namespace expsvc::music
