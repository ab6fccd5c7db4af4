#pragma once
// From parsed stages to jobs: the stage order, the size check made before
// anything is built, and the expansion of grids, zips, groups and the
// job-to-job dependencies matched on shared axis values.

#include <vector>

#include "absl/status/statusor.h"
#include "common/sweep/sweep_stage.h"

namespace expsvc::sweep {

// JSON values in `value`, itself included (for the size estimate).
int64_t CountValues(const Json& value);

// Kahn's algorithm, always taking the earliest stage in the file that is
// ready, so independent stages keep their file order. A cycle is an error
// naming its stages.
absl::StatusOr<std::vector<int>> TopologicalOrder(const SweepErrors& errors, const std::vector<Stage>& stages);

// Refuses oversized sweeps from counts alone, before any job is built.
absl::Status CheckSize(const SweepErrors& errors, const std::vector<Stage>& stages, const ExpandOptions& options);

// Appends every stage's jobs to plan.jobs in `order` (parents first).
absl::Status ExpandStages(const SweepErrors& errors, const std::vector<Stage>& stages, const std::vector<int>& order,
                          SweepPlan& plan);

}  // namespace expsvc::sweep
