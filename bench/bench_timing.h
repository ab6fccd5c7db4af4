#pragma once
// Timing helpers the benchmarks share: wall seconds of one call and the
// median of repeated measurements.

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace expsvc::bench {

inline double Seconds(const std::function<void()>& body) {
  const auto start = std::chrono::steady_clock::now();
  body();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace expsvc::bench
