#include "client/expctl/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/expctl/format.h"

namespace expsvc::expctl {
namespace {

constexpr double kMinimumSpanSeconds = 1.0;

}  // namespace

void ThroughputEstimator::AddSample(double seconds, int64_t finished) {
  samples_.emplace_back(seconds, finished);
  // Drop samples while the second-oldest is still outside the window.
  while (samples_.size() > 2 && samples_[1].first <= seconds - window_seconds_) {
    samples_.pop_front();
  }
}

double ThroughputEstimator::Rate() const {
  if (samples_.size() < 2) return 0.0;
  const auto& [newest_time, newest_finished] = samples_.back();
  // Measure from the oldest sample inside (or just before) the window.
  const auto& [oldest_time, oldest_finished] = samples_.front();
  double span = newest_time - oldest_time;
  if (span < kMinimumSpanSeconds) return 0.0;
  return std::max(0.0, static_cast<double>(newest_finished - oldest_finished) / span);
}

std::string FormatEta(int64_t remaining_jobs, double jobs_per_second) {
  if (remaining_jobs <= 0) return "0s";
  if (!(jobs_per_second > 0)) return "--";
  return FormatDuration(static_cast<double>(remaining_jobs) / jobs_per_second);
}

std::string FormatProgressLine(const ProgressCounts& counts, double jobs_per_second, int bar_width) {
  int64_t finished = counts.finished();
  double fraction = counts.total > 0 ? static_cast<double>(finished) / counts.total : 0.0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  bar_width = std::max(bar_width, 1);
  int filled = static_cast<int>(fraction * bar_width);
  int percent = static_cast<int>(fraction * 100);

  std::string line = absl::StrCat("[", std::string(filled, '#'), std::string(bar_width - filled, '.'), "] ", finished,
                                  "/", counts.total, " ", percent, "%  ok ", counts.succeeded, " fail ", counts.failed);
  if (counts.cancelled > 0) absl::StrAppend(&line, " cancel ", counts.cancelled);
  absl::StrAppend(&line, " run ", counts.running, " queue ", counts.waiting + counts.queued);
  absl::StrAppend(&line, absl::StrFormat("  %.1f jobs/s", jobs_per_second));
  absl::StrAppend(&line, "  ETA ", FormatEta(counts.total - finished, jobs_per_second));
  return line;
}

}  // namespace expsvc::expctl
