#pragma once
// Metric points waiting to be sent. Points are keyed by (key, step) like the
// scheduler's table, so reporting a point twice before a flush sends only the
// last value; Take() hands them out in batches that fit one ReportMetrics.
// Not synchronized: the owner (LeasedJobContext) guards it.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "expsvc/v1/workers.pb.h"

namespace expsvc::worker {

class MetricBuffer {
 public:
  void Add(std::string_view key, int64_t step, double value);
  // Forgets buffered points with step > `step` (the job resumed from a
  // checkpoint at `step`; those points are being replaced).
  void DropAfter(int64_t step);
  // Removes and returns up to `max_points` points (at least one if any).
  std::vector<expsvc::v1::MetricPoint> Take(size_t max_points);

  size_t size() const { return points_.size(); }
  bool empty() const { return points_.empty(); }

 private:
  std::map<std::pair<std::string, int64_t>, double> points_;
};

}  // namespace expsvc::worker
