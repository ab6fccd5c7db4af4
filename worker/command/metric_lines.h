#pragma once
// Metrics a `command` job prints: a line of its standard output that is one
// JSON object with an integer "step" (>= 0) and at least one number, e.g.
//
//   {"step": 100, "loss": 0.31, "val/acc": 0.87}
//
// is a point per numeric member at that step. Nested objects are flattened
// with '/' ({"val": {"acc": 0.87}} is key "val/acc"); strings, booleans,
// nulls and lists are ignored. Any other line is a log line.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace expsvc::worker {

struct PrintedMetric {
  std::string key;
  int64_t step = 0;
  double value = 0;
};

// nullopt when the line is not a metric line.
std::optional<std::vector<PrintedMetric>> ParseMetricLine(std::string_view line);

}  // namespace expsvc::worker
