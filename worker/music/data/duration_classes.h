#pragma once
// The 27 duration classes shared by both token representations, in grid
// positions (12 per beat): every value from 1/12 beat to one beat, then the
// common longer values up to two bars (96 positions).
//
//   class:  0..11 -> 1..12 (every 1/12 beat up to a quarter note)
//   class: 12..26 -> 15 16 18 20 21 24 30 36 40 42 48 60 72 84 96
//
// Quantisation is to the nearest class value; a tie goes to the shorter
// class; anything longer than 96 becomes 96 and anything below 1 becomes 1.

#include <array>
#include <cstddef>
#include <cstdint>

namespace expsvc::music {

inline constexpr int kNumDurationClasses = 27;
inline constexpr std::array<int32_t, kNumDurationClasses> kDurationClassPositions = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 16, 18, 20, 21, 24, 30, 36, 40, 42, 48, 60, 72, 84, 96};

// Nearest class for a duration in positions (see the rule above).
int32_t DurationToClass(int32_t duration_positions);

// The duration in positions a class stands for; `duration_class` must be in
// [0, kNumDurationClasses).
inline int32_t ClassToDuration(int32_t duration_class) {
  return kDurationClassPositions[static_cast<size_t>(duration_class)];
}

}  // namespace expsvc::music
