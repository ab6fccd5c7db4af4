#pragma once
// Sweep files: YAML in the spirit of W&B sweeps, expanded into jobs.
//
//   name: demo
//   defaults: {priority: 0, max_attempts: 3, resources: {cpu_cores: 1}}
//   stages:
//     - name: train
//       kind: sleep
//       params: {seconds: 0.2}          # fixed parameters
//       grid: {lr: [0.1, 0.01], seed: [1, 2]}   # cartesian product
//       zip: {a: [1, 2], b: [x, y]}             # lists walked together
//       group_by: [seed]                # parameters that form the group_key
//       depends_on: [prepare]           # matched on shared axis values
//       resources: {cpu_cores: 1, memory_mb: 256, gpus: 0, gpu_memory_gb: 0}
//       priority: 5
//       max_attempts: 2
//     - name: probe
//       kind: sleep
//       grids:                          # instead of grid: products concatenated
//         - {model: [small], layer: [1, 2]}          # 2 jobs
//         - {model: [large], layer: [1, 2, 3, 4]}    # + 4 jobs = 6
//       zip: {...}                      # optional, crossed with each entry
//
// `grids` (a non-empty list, exclusive with `grid`) runs several cartesian
// products one after another, e.g. one per model when models have different
// layer counts. Every entry must name the same axes, so depends_on and
// group_by mean the same in all of them; a job's parents are still matched
// on the parent's axes that the child also carries.
//
// Both parsing and expansion happen here, so `expctl submit --dry-run` and
// the scheduler agree on every count.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace expsvc {

// In a sweep file, "{sweep_dir}" stands for the absolute folder of the file,
// so that a `command` stage can name a script beside it. The submitting
// client (expctl, the Python client) replaces it before sending the text;
// workers must see the same path (a shared file system).
inline constexpr std::string_view kSweepDirPlaceholder = "{sweep_dir}";
std::string ReplaceSweepDir(std::string text, const std::string& sweep_dir);

struct JobResources {
  int32_t cpu_cores = 0;
  int64_t memory_mb = 0;
  int32_t gpus = 0;
  int32_t gpu_memory_gb = 0;  // each GPU's, at least
};

struct PlannedJob {
  std::string stage;
  std::string kind;
  // Fixed params, then axis values, then kind defaults filled in.
  nlohmann::json params;
  int32_t priority = 0;
  int32_t max_attempts = 3;
  JobResources resources;
  // Empty when the stage has no group_by.
  std::string group_key;
  // Indices into SweepPlan::jobs of the jobs this one depends on.
  std::vector<int64_t> parents;
};

struct StageSummary {
  std::string name;
  std::string kind;
  int64_t jobs = 0;
  int64_t groups = 0;
};

struct SweepPlan {
  std::string name;
  // Parents always come before their children.
  std::vector<PlannedJob> jobs;
  std::vector<StageSummary> stages;
  int64_t groups = 0;
};

struct ExpandOptions {
  // A sweep expanding to more jobs than this is refused before expansion.
  int64_t max_jobs = 100000;
};

// Parses and expands a sweep file. Errors are InvalidArgument and name the
// file, line and column ("sweep.yaml:7:12: unknown kind 'trian'") or the
// stage and parameter.
absl::StatusOr<SweepPlan> ParseSweep(std::string_view yaml_text, std::string_view file_name,
                                     const ExpandOptions& options = {});

// The first thing ParseSweep checks, also run by clients before sending a
// file: the whole text (comments too) must be UTF-8, since protobuf cannot
// carry it otherwise. The error names the line, column and byte offset.
absl::Status CheckSweepTextIsUtf8(std::string_view yaml_text, std::string_view file_name);

}  // namespace expsvc
