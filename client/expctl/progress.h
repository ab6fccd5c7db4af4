#pragma once
// The `watch` progress line and the throughput estimate behind its rate
// and ETA. Pure functions of counts and times, so they are unit-tested
// without a server or a clock.

#include <cstdint>
#include <deque>
#include <string>
#include <utility>

namespace expsvc::expctl {

struct ProgressCounts {
  int64_t total = 0;
  int64_t waiting = 0;
  int64_t queued = 0;
  int64_t running = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t cancelled = 0;

  int64_t finished() const { return succeeded + failed + cancelled; }
  bool operator==(const ProgressCounts&) const = default;
};

// Finished jobs per second over a moving window, so the rate follows the
// sweep's current pace (stages differ by orders of magnitude) rather than
// its average since the start.
class ThroughputEstimator {
 public:
  explicit ThroughputEstimator(double window_seconds = 10.0) : window_seconds_(window_seconds) {}

  // Records the finished count at `seconds` (monotonic, from any origin).
  // Call it on every redraw, not only on changes, so a stall decays the rate.
  void AddSample(double seconds, int64_t finished);

  // Jobs per second; 0 until two samples at least 1 s apart exist. Never
  // negative (a retry can lower the finished count).
  double Rate() const;

 private:
  double window_seconds_;
  // (time, finished), oldest first; keeps one sample older than the window
  // so the window is always fully spanned.
  std::deque<std::pair<double, int64_t>> samples_;
};

// "[#####.....] 120/200 60%  ok 118 fail 2 run 4 queue 76  12.3 jobs/s  ETA 7s"
// queue counts waiting and queued jobs; "cancel N" appears only when some
// are cancelled; the ETA is "--" while the rate is 0 and work remains.
std::string FormatProgressLine(const ProgressCounts& counts, double jobs_per_second, int bar_width);

// Remaining time at the given rate: "7s", "2m05s"; "--" when unknown.
std::string FormatEta(int64_t remaining_jobs, double jobs_per_second);

}  // namespace expsvc::expctl
