#include "worker/command/metric_lines.h"

#include <cmath>

#include "nlohmann/json.hpp"

namespace expsvc::worker {
namespace {

void Flatten(const nlohmann::json& object, const std::string& prefix, int64_t step,
             std::vector<PrintedMetric>& out) {
  for (const auto& [name, value] : object.items()) {
    const std::string key = prefix.empty() ? name : prefix + "/" + name;
    if (prefix.empty() && name == "step") continue;
    if (value.is_object()) {
      Flatten(value, key, step, out);
    } else if (value.is_number()) {
      const double number = value.get<double>();
      // JSON has no NaN; a huge value that overflowed double is skipped too.
      if (std::isfinite(number)) out.push_back({key, step, number});
    }
  }
}

}  // namespace

std::optional<std::vector<PrintedMetric>> ParseMetricLine(std::string_view line) {
  size_t start = line.find_first_not_of(" \t\r");
  if (start == std::string_view::npos || line[start] != '{') return std::nullopt;
  const nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return std::nullopt;
  auto step = object.find("step");
  if (step == object.end() || !step->is_number_integer() || step->get<int64_t>() < 0) return std::nullopt;
  std::vector<PrintedMetric> points;
  Flatten(object, "", step->get<int64_t>(), points);
  if (points.empty()) return std::nullopt;
  return points;
}

}  // namespace expsvc::worker
