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

// The fastest of repeated runs. On a shared VM interference only ever adds
// time (other tenants, page reclaim), so the fastest run is the steadiest
// estimate of what the code itself costs; medians of a few runs swung by 2x.
inline double Fastest(const std::vector<double>& values) {
  return *std::min_element(values.begin(), values.end());
}

}  // namespace expsvc::bench
