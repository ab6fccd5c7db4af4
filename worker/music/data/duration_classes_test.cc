#include "worker/music/data/duration_classes.h"

#include <gtest/gtest.h>

namespace expsvc::music {
namespace {

TEST(DurationClassesTest, TwentySevenIncreasingClassesFromOneTwelfthBeatToTwoBars) {
  ASSERT_EQ(kDurationClassPositions.size(), 27u);
  EXPECT_EQ(kDurationClassPositions.front(), 1);  // 1/12 beat
  EXPECT_EQ(kDurationClassPositions.back(), 96);  // two 4/4 bars
  for (size_t i = 1; i < kDurationClassPositions.size(); ++i) {
    EXPECT_LT(kDurationClassPositions[i - 1], kDurationClassPositions[i]);
  }
}

TEST(DurationClassesTest, EveryClassValueMapsToItself) {
  for (int32_t c = 0; c < kNumDurationClasses; ++c) {
    EXPECT_EQ(DurationToClass(ClassToDuration(c)), c) << "class " << c;
  }
}

TEST(DurationClassesTest, NearestClassWithTiesToTheShorter) {
  EXPECT_EQ(ClassToDuration(DurationToClass(13)), 12);  // 12 is 1 away, 15 is 2
  EXPECT_EQ(ClassToDuration(DurationToClass(14)), 15);
  EXPECT_EQ(ClassToDuration(DurationToClass(17)), 16);  // tie 16 / 18 -> shorter
  EXPECT_EQ(ClassToDuration(DurationToClass(27)), 24);  // tie 24 / 30 -> shorter
  EXPECT_EQ(ClassToDuration(DurationToClass(28)), 30);
  EXPECT_EQ(ClassToDuration(DurationToClass(54)), 48);  // tie 48 / 60 -> shorter
  EXPECT_EQ(ClassToDuration(DurationToClass(55)), 60);
  EXPECT_EQ(ClassToDuration(DurationToClass(90)), 84);  // tie 84 / 96 -> shorter
  EXPECT_EQ(ClassToDuration(DurationToClass(91)), 96);
}

TEST(DurationClassesTest, OutOfRangeDurationsClamp) {
  EXPECT_EQ(DurationToClass(0), 0);
  EXPECT_EQ(DurationToClass(-5), 0);
  EXPECT_EQ(DurationToClass(97), 26);
  EXPECT_EQ(DurationToClass(100000), 26);
}

}  // namespace
}  // namespace expsvc::music
