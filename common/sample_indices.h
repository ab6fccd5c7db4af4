#pragma once
// A seeded sample of indices, the same on every platform (SplitMix64), for
// the studies' "evaluate N windows" choices and the race's sample.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "common/splitmix64.h"

namespace expsvc {

// `count` distinct indices of 0..available−1 drawn with `seed`, ascending
// (all of them, in order, when count is 0 or >= available): a partial
// Fisher–Yates shuffle.
inline std::vector<size_t> SampleIndices(size_t available, int64_t count, uint64_t seed) {
  std::vector<size_t> indices(available);
  std::iota(indices.begin(), indices.end(), size_t{0});
  if (count <= 0 || static_cast<size_t>(count) >= available) return indices;
  SplitMix64 random(seed);
  for (size_t i = 0; i < static_cast<size_t>(count); ++i) {
    const size_t j = i + static_cast<size_t>(random.UniformBelow(available - i));
    std::swap(indices[i], indices[j]);
  }
  indices.resize(static_cast<size_t>(count));
  std::sort(indices.begin(), indices.end());
  return indices;
}

}  // namespace expsvc
