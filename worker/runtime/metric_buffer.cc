#include "worker/runtime/metric_buffer.h"

#include <algorithm>

namespace expsvc::worker {

void MetricBuffer::Add(std::string_view key, int64_t step, double value) {
  points_[{std::string(key), step}] = value;
}

void MetricBuffer::DropAfter(int64_t step) {
  std::erase_if(points_, [step](const auto& entry) { return entry.first.second > step; });
}

std::vector<expsvc::v1::MetricPoint> MetricBuffer::Take(size_t max_points) {
  max_points = std::max<size_t>(max_points, 1);
  std::vector<expsvc::v1::MetricPoint> batch;
  batch.reserve(std::min(max_points, points_.size()));
  auto it = points_.begin();
  while (it != points_.end() && batch.size() < max_points) {
    expsvc::v1::MetricPoint& point = batch.emplace_back();
    point.set_key(it->first.first);
    point.set_step(it->first.second);
    point.set_value(it->second);
    it = points_.erase(it);
  }
  return batch;
}

}  // namespace expsvc::worker
