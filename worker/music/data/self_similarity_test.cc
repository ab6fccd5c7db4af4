#include "worker/music/data/self_similarity.h"

#include <gtest/gtest.h>

#include <cmath>

namespace expsvc::music {
namespace {

// Notes are {track, pitch, position, duration}.
const Bar kX{.notes = {{kMelodyTrack, 60, 0, 12}}};   // 12 cells
const Bar kY{.notes = {{kMelodyTrack, 60, 0, 6}}};    // 6 of X's cells
const Bar kZ{.notes = {{kMelodyTrack, 72, 24, 12}}};  // shares nothing with X or Y

TEST(SelfSimilarityTest, BarSimilarityIsThePianorollCosine) {
  EXPECT_DOUBLE_EQ(BarSimilarity(kX, kX), 1.0);
  // |X ∩ Y| = 6: 6 / sqrt(12 · 6) = 1/√2.
  EXPECT_DOUBLE_EQ(BarSimilarity(kX, kY), 1.0 / std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(BarSimilarity(kY, kX), 1.0 / std::sqrt(2.0));
  EXPECT_EQ(BarSimilarity(kX, kZ), 0.0);
  // Tracks are merged: the same cells on another track are the same bar.
  const Bar x_on_piano{.notes = {{kPianoTrack, 60, 0, 12}}};
  EXPECT_DOUBLE_EQ(BarSimilarity(kX, x_on_piano), 1.0);
  EXPECT_TRUE(std::isnan(BarSimilarity(Bar{}, Bar{})));
  EXPECT_EQ(BarSimilarity(Bar{}, kX), 0.0);
}

// The piece X Y X Z: bar 2 repeats bar 0.
//        X     Y     X     Z
//   X    1   1/√2    1     0
//   Y  1/√2    1   1/√2    0
//   X    1   1/√2    1     0
//   Z    0     0     0     1
TEST(SelfSimilarityTest, HandBuiltPieceWithARepeatedBar) {
  const std::vector<Bar> piece = {kX, kY, kX, kZ};
  const SimilarityMatrix matrix = BarSelfSimilarity(piece);
  ASSERT_EQ(matrix.size, 4);
  ASSERT_EQ(matrix.values.size(), 16u);
  const double r = 1.0 / std::sqrt(2.0);
  const double expected[4][4] = {{1, r, 1, 0}, {r, 1, r, 0}, {1, r, 1, 0}, {0, 0, 0, 1}};
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 4; ++j) {
      EXPECT_DOUBLE_EQ(matrix.at(i, j), expected[i][j]) << i << "," << j;
      EXPECT_EQ(matrix.at(i, j), matrix.at(j, i)) << "exactly symmetric";
    }
    EXPECT_EQ(matrix.at(i, i), 1.0);
  }

  EXPECT_DOUBLE_EQ(MeanSimilarityAtLag(matrix, 0), 1.0);
  // Lag 1: (X,Y) (Y,X) (X,Z) = (r + r + 0) / 3 = √2 / 3.
  EXPECT_DOUBLE_EQ(MeanSimilarityAtLag(matrix, 1), std::sqrt(2.0) / 3.0);
  // Lag 2: (X,X) (Y,Z) = (1 + 0) / 2: the repetition shows up here.
  EXPECT_DOUBLE_EQ(MeanSimilarityAtLag(matrix, 2), 0.5);
  EXPECT_DOUBLE_EQ(MeanSimilarityAtLag(matrix, -2), 0.5);
  EXPECT_DOUBLE_EQ(MeanSimilarityAtLag(matrix, 3), 0.0);  // (X,Z)
  EXPECT_TRUE(std::isnan(MeanSimilarityAtLag(matrix, 4)));
  EXPECT_TRUE(std::isnan(MeanSimilarityAtLag(matrix, -4)));
}

TEST(SelfSimilarityTest, EmptyPairsAreMissingNotSimilar) {
  const std::vector<Bar> piece = {kX, Bar{}, Bar{}, kX, Bar{}};
  const SimilarityMatrix matrix = BarSelfSimilarity(piece);
  EXPECT_EQ(matrix.at(0, 0), 1.0);
  EXPECT_TRUE(std::isnan(matrix.at(1, 1)));
  EXPECT_TRUE(std::isnan(matrix.at(1, 2)));  // silence repeating silence is no evidence
  EXPECT_EQ(matrix.at(0, 1), 0.0);
  // Lag 3: (X,X)=1, (∅,∅) missing → 1, not (1 + 1) / 2 by luck.
  EXPECT_EQ(MeanSimilarityAtLag(matrix, 3), 1.0);
  // Lag 1: (X,∅)=0, (∅,∅) missing, (∅,X)=0, (X,∅)=0 → 0 over three pairs.
  EXPECT_EQ(MeanSimilarityAtLag(matrix, 1), 0.0);
  // Only empty pairs at this lag: no evidence at all.
  const std::vector<Bar> silence = {Bar{}, kX, Bar{}};
  EXPECT_TRUE(std::isnan(MeanSimilarityAtLag(BarSelfSimilarity(silence), 2)));
}

// A generator cut off after bar 2 of 5 leaves the rest empty: those bars are
// not scored, whatever they would add.
TEST(SelfSimilarityTest, OnlyBarsActuallyGeneratedAreScored) {
  const std::vector<Bar> piece = {kX, kY, kX, Bar{}, kZ};
  const SimilarityMatrix matrix = BarSelfSimilarity(piece);
  // All five bars: lag 2 = (X,X)=1, (Y,∅)=0, (X,Z)=0 → 1/3.
  EXPECT_DOUBLE_EQ(MeanSimilarityAtLag(matrix, 2), 1.0 / 3.0);
  // Bars 0..2 only: (X,X) = 1.
  EXPECT_EQ(MeanSimilarityAtLag(matrix, 2, 3), 1.0);
  EXPECT_TRUE(std::isnan(MeanSimilarityAtLag(matrix, 3, 3)));
  const std::string json = SimilarityMatrixJson(matrix, 3);
  EXPECT_NE(json.find(R"("bars_scored":3)"), std::string::npos) << json;
  EXPECT_NE(json.find("null"), std::string::npos) << "the empty bar's diagonal is missing: " << json;
}

TEST(SelfSimilarityTest, EmptyPiece) {
  const SimilarityMatrix matrix = BarSelfSimilarity({});
  EXPECT_EQ(matrix.size, 0);
  EXPECT_TRUE(matrix.values.empty());
  EXPECT_TRUE(std::isnan(MeanSimilarityAtLag(matrix, 0)));
  EXPECT_EQ(SimilarityMatrixJson(matrix), R"({"size":0,"bars_scored":0,"values":[],"lags":{"4":null,"8":null,"12":null}})");
}

TEST(SelfSimilarityTest, JsonHasRowsAndTheLagMeans) {
  const std::vector<Bar> two = {kX, kY};
  EXPECT_EQ(SimilarityMatrixJson(BarSelfSimilarity(two)),
            R"({"size":2,"bars_scored":2,"values":[[1,0.7071067811865476],[0.7071067811865476,1]],)"
            R"("lags":{"4":null,"8":null,"12":null}})");

  // 13 bars alternating X, Y: even lags pair equal bars (1), so the 4, 8
  // and 12 lag means are all 1.
  std::vector<Bar> alternating;
  for (int i = 0; i < 13; ++i) alternating.push_back(i % 2 == 0 ? kX : kY);
  const std::string json = SimilarityMatrixJson(BarSelfSimilarity(alternating));
  EXPECT_EQ(json.substr(0, 12), R"({"size":13,")");
  EXPECT_NE(json.find(R"("lags":{"4":1,"8":1,"12":1}})"), std::string::npos) << json;
}

}  // namespace
}  // namespace expsvc::music
