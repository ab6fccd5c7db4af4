#pragma once
// Inside the sweep parser: a stage as read from the file, before expansion,
// the limits on hostile files, and the errors that name the file and line.
// Not part of the public API (that is sweep_spec.h).

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/kinds/job_kind_catalog.h"
#include "common/sweep/sweep_spec.h"
#include "nlohmann/json.hpp"

namespace expsvc::sweep {

using Json = nlohmann::json;

// Limits that keep hostile or mistaken files (alias bombs, self-referencing
// anchors, deep nesting, quadratic dependencies) from exhausting memory or
// the stack. They sit far above any real sweep.
constexpr int64_t kMaxDocumentValues = 250'000;  // YAML values, aliases expanded
constexpr int kMaxNesting = 100;
constexpr int64_t kMaxExpandedValues = 50'000'000;  // JSON values over all jobs' params
constexpr int64_t kMaxDependencyEdges = 10'000'000;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();

inline int64_t SaturatingMul(int64_t a, int64_t b) {
  int64_t product;
  return __builtin_mul_overflow(a, b, &product) ? kInt64Max : product;
}

inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? kInt64Max : sum;
}

// Never throws: invalid UTF-8 is replaced rather than reported.
inline std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

struct Axis {
  std::string name;
  std::vector<Json> values;
  int64_t max_value_size = 1;  // in JSON values, for the size estimate
};

// One cartesian product of axes: the stage's `grid`, or one entry of its
// `grids` (whose products are concatenated).
struct Grid {
  std::vector<Axis> axes;
  // The product of the axes' sizes times the zip rows (saturating).
  int64_t job_count = 1;
};

struct StageSettings {
  int32_t priority = 0;
  int32_t max_attempts = 3;
  JobResources resources;
};

struct Stage {
  std::string name;
  YAML::Mark mark;
  const JobKindSpec* kind = nullptr;
  Json fixed_params = Json::object();
  // Never empty: no grid, or `grid`, is one alternative with its axes. Every
  // alternative names the same axes, so dependencies and groups match on them.
  std::vector<Grid> grids;
  std::vector<Axis> zip;
  std::vector<std::string> group_by;
  std::vector<std::pair<std::string, YAML::Mark>> depends_on;
  std::vector<int> parents;  // indices into the stages, in file order
  StageSettings settings;
  // The keys every job's params may carry: fixed, axes and kind defaults.
  std::set<std::string> param_names;
  // The sum of the alternatives' job counts (saturating).
  int64_t job_count = 0;
};

// Errors carry the file name and, where known, the line and column.
class SweepErrors {
 public:
  explicit SweepErrors(std::string file) : file_(std::move(file)) {}
  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": ", message));
  }
  absl::Status ErrorAt(const YAML::Mark& mark, absl::string_view message) const {
    if (mark.is_null()) return Error(message);
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", mark.line + 1, ":", mark.column + 1, ": ", message));
  }

 private:
  std::string file_;
};

}  // namespace expsvc::sweep
