#include "worker/music/data/self_similarity.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "worker/music/data/music_metrics.h"

namespace expsvc::music {
namespace {

double RollCosine(const GridRoll& a, const GridRoll& b) {
  const size_t a_cells = a.count();
  const size_t b_cells = b.count();
  if (a_cells == 0 && b_cells == 0) return std::numeric_limits<double>::quiet_NaN();
  if (a_cells == 0 || b_cells == 0) return 0.0;
  return static_cast<double>((a & b).count()) / std::sqrt(static_cast<double>(a_cells) * static_cast<double>(b_cells));
}

// Shortest text that reads back as the same double; JSON has no NaN.
std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (error != std::errc()) return "null";
  return std::string(buffer, end);
}

}  // namespace

double BarSimilarity(const Bar& a, const Bar& b) {
  return RollCosine(Pianoroll(a), Pianoroll(b));
}

SimilarityMatrix BarSelfSimilarity(std::span<const Bar> bars) {
  const int64_t n = static_cast<int64_t>(bars.size());
  std::vector<GridRoll> rolls;
  rolls.reserve(bars.size());
  for (const Bar& bar : bars) rolls.push_back(Pianoroll(bar));

  SimilarityMatrix matrix{.size = n, .values = std::vector<double>(static_cast<size_t>(n * n))};
  for (int64_t i = 0; i < n; ++i) {
    // Exactly 1 on the diagonal (missing for an empty bar) and exactly
    // symmetric: each pair computed once.
    matrix.values[static_cast<size_t>(i * n + i)] =
        rolls[static_cast<size_t>(i)].none() ? std::numeric_limits<double>::quiet_NaN() : 1.0;
    for (int64_t j = i + 1; j < n; ++j) {
      const double similarity = RollCosine(rolls[static_cast<size_t>(i)], rolls[static_cast<size_t>(j)]);
      matrix.values[static_cast<size_t>(i * n + j)] = similarity;
      matrix.values[static_cast<size_t>(j * n + i)] = similarity;
    }
  }
  return matrix;
}

double MeanSimilarityAtLag(const SimilarityMatrix& matrix, int64_t lag, int64_t end) {
  const int64_t bars = end < 0 ? matrix.size : std::min(end, matrix.size);
  const int64_t first = std::max<int64_t>(0, -lag);
  const int64_t last = std::min(bars, bars - lag);
  double sum = 0;
  int64_t pairs = 0;
  for (int64_t i = first; i < last; ++i) {
    const double value = matrix.at(i, i + lag);
    if (std::isnan(value)) continue;
    sum += value;
    ++pairs;
  }
  return pairs == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / static_cast<double>(pairs);
}

std::string SimilarityMatrixJson(const SimilarityMatrix& matrix, int64_t end) {
  const int64_t bars = end < 0 ? matrix.size : std::min(end, matrix.size);
  std::string json = absl::StrCat("{\"size\":", matrix.size, ",\"bars_scored\":", bars, ",\"values\":[");
  for (int64_t i = 0; i < matrix.size; ++i) {
    absl::StrAppend(&json, i == 0 ? "[" : ",[");
    for (int64_t j = 0; j < matrix.size; ++j) {
      absl::StrAppend(&json, j == 0 ? "" : ",", JsonNumber(matrix.at(i, j)));
    }
    absl::StrAppend(&json, "]");
  }
  absl::StrAppend(&json, "],\"lags\":{");
  for (size_t k = 0; k < kSelfSimilarityLags.size(); ++k) {
    absl::StrAppend(&json, k == 0 ? "" : ",", "\"", kSelfSimilarityLags[k],
                    "\":", JsonNumber(MeanSimilarityAtLag(matrix, kSelfSimilarityLags[k], bars)));
  }
  absl::StrAppend(&json, "}}");
  return json;
}

}  // namespace expsvc::music
