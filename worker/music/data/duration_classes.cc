#include "worker/music/data/duration_classes.h"

#include <cstdlib>

namespace expsvc::music {

int32_t DurationToClass(int32_t duration_positions) {
  int32_t best_class = 0;
  int64_t best_distance = -1;
  // Ascending scan with a strict comparison keeps the shorter class on a tie.
  for (int32_t c = 0; c < kNumDurationClasses; ++c) {
    const int64_t distance = std::llabs(static_cast<int64_t>(duration_positions) - kDurationClassPositions[c]);
    if (best_distance < 0 || distance < best_distance) {
      best_distance = distance;
      best_class = c;
    }
  }
  return best_class;
}

}  // namespace expsvc::music
