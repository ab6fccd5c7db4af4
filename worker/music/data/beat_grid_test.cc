#include "worker/music/data/beat_grid.h"

#include <gtest/gtest.h>

#include <vector>

namespace expsvc::music {
namespace {

std::vector<double> EvenBeats(int count, double seconds_per_beat, double offset = 0.0) {
  std::vector<double> beats;
  for (int i = 0; i < count; ++i) beats.push_back(offset + i * seconds_per_beat);
  return beats;
}

TEST(BeatGridTest, InterpolatesBetweenUnevenBeats) {
  auto grid = BeatGrid::Create({1.0, 2.0, 2.5, 4.5}, {0});
  ASSERT_TRUE(grid.ok()) << grid.status();
  EXPECT_DOUBLE_EQ(grid->SecondsToBeats(1.0), 0.0);
  EXPECT_DOUBLE_EQ(grid->SecondsToBeats(1.5), 0.5);
  EXPECT_DOUBLE_EQ(grid->SecondsToBeats(2.25), 1.5);
  EXPECT_DOUBLE_EQ(grid->SecondsToBeats(3.5), 2.5);
  EXPECT_EQ(grid->SecondsToTick(2.25), 18);
}

TEST(BeatGridTest, ExtrapolatesWithTheFirstAndLastIntervals) {
  auto grid = BeatGrid::Create({1.0, 2.0, 2.5}, {0});
  ASSERT_TRUE(grid.ok());
  EXPECT_DOUBLE_EQ(grid->SecondsToBeats(0.5), -0.5);
  EXPECT_DOUBLE_EQ(grid->SecondsToBeats(3.0), 3.0);
}

TEST(BeatGridTest, RejectsBadBeatLists) {
  EXPECT_FALSE(BeatGrid::Create({1.0}, {0}).ok());
  EXPECT_FALSE(BeatGrid::Create({1.0, 1.0}, {0}).ok());
  EXPECT_FALSE(BeatGrid::Create({1.0, 0.5}, {0}).ok());
  EXPECT_FALSE(BeatGrid::Create({1.0, 2.0}, {}).ok());
  EXPECT_FALSE(BeatGrid::Create({1.0, 2.0}, {2}).ok());
}

TEST(BeatGridTest, RegularBarsStartAtDownbeats) {
  auto grid = BeatGrid::Create(EvenBeats(16, 0.5), {0, 4, 8, 12});
  ASSERT_TRUE(grid.ok());
  EXPECT_EQ(grid->BarStartTicks(0, 12 * 15), (std::vector<int64_t>{0, 48, 96, 144}));
}

TEST(BeatGridTest, PickupBarsAreLaidBackwardsFromTheFirstDownbeat) {
  // Three pickup beats before the first downbeat at beat 3.
  auto grid = BeatGrid::Create(EvenBeats(11, 0.5), {3, 7});
  ASSERT_TRUE(grid.ok());
  // A note on beat 1 (tick 12) falls in the bar [-12, 36): position 24.
  EXPECT_EQ(grid->BarStartTicks(12, 12 * 8), (std::vector<int64_t>{-12, 36, 84}));
}

TEST(BeatGridTest, LongBarsSplitEveryFourBeatsAndShortBarsStayWhole) {
  // Bars of 6 beats (0..6), 2 beats (6..8), then 4 beats.
  auto grid = BeatGrid::Create(EvenBeats(14, 0.5), {0, 6, 8, 12});
  ASSERT_TRUE(grid.ok());
  EXPECT_EQ(grid->BarStartTicks(0, 12 * 12), (std::vector<int64_t>{0, 48, 72, 96, 144}));
}

TEST(BeatGridTest, BarsContinueAfterTheLastDownbeatAsFarAsNeeded) {
  auto grid = BeatGrid::Create(EvenBeats(5, 0.5), {0, 4});
  ASSERT_TRUE(grid.ok());
  EXPECT_EQ(grid->BarStartTicks(0, 48 * 3 + 5), (std::vector<int64_t>{0, 48, 96, 144}));
}

}  // namespace
}  // namespace expsvc::music
