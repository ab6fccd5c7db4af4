#include "common/sweep/sweep_expansion.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace expsvc::sweep {
namespace {

// Axis values compare as JSON values, so 2 and 2.0 must give the same key.
std::string MatchKey(const Json& value) {
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::nearbyint(number) == number && std::fabs(number) < 9e15) {
      return absl::StrCat(static_cast<int64_t>(number));
    }
  }
  return Dump(value);
}

// A param absent from a job (an explicit null is dropped) reads as null.
const Json& ParamOrNull(const Json& params, const std::string& name) {
  static const Json* const kNull = new Json(nullptr);
  auto it = params.find(name);
  return it == params.end() ? *kNull : *it;
}

}  // namespace

int64_t CountValues(const Json& value) {
  int64_t count = 1;
  if (value.is_structured()) {
    for (const Json& child : value) count += CountValues(child);
  }
  return count;
}

absl::StatusOr<std::vector<int>> TopologicalOrder(const SweepErrors& errors, const std::vector<Stage>& stages) {
  const int count = static_cast<int>(stages.size());
  std::vector<int> parents_left(count);
  std::vector<std::vector<int>> children(count);
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < count; ++i) {
    parents_left[i] = static_cast<int>(stages[i].parents.size());
    for (int parent : stages[i].parents) children[parent].push_back(i);
    if (parents_left[i] == 0) ready.push(i);
  }
  std::vector<int> order;
  while (!ready.empty()) {
    const int next = ready.top();
    ready.pop();
    order.push_back(next);
    for (int child : children[next]) {
      if (--parents_left[child] == 0) ready.push(child);
    }
  }
  if (static_cast<int>(order.size()) == count) return order;

  // Every stage left has a parent left: follow parents until one repeats.
  std::vector<int> position_in_path(count, -1);
  std::vector<int> path;
  int current = static_cast<int>(
      std::find_if(parents_left.begin(), parents_left.end(), [](int left) { return left > 0; }) - parents_left.begin());
  while (position_in_path[current] < 0) {
    position_in_path[current] = static_cast<int>(path.size());
    path.push_back(current);
    for (int parent : stages[current].parents) {
      if (parents_left[parent] > 0) {
        current = parent;
        break;
      }
    }
  }
  std::vector<int> cycle(path.begin() + position_in_path[current], path.end());
  std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
  cycle.push_back(cycle.front());
  std::vector<absl::string_view> names;
  for (int stage : cycle) names.push_back(stages[stage].name);
  return errors.ErrorAt(stages[cycle.front()].mark, absl::StrCat("dependency cycle: ", absl::StrJoin(names, " -> "),
                                                                 " (each stage depends on the next)"));
}

absl::Status CheckSize(const SweepErrors& errors, const std::vector<Stage>& stages, const ExpandOptions& options) {
  int64_t total_jobs = 0;
  int64_t total_values = 0;
  for (const Stage& stage : stages) {
    total_jobs = SaturatingAdd(total_jobs, stage.job_count);
    int64_t shared_values = CountValues(stage.fixed_params) + static_cast<int64_t>(stage.kind->params.size());
    for (const Axis& axis : stage.zip) shared_values += axis.max_value_size;
    // Each alternative of `grids` with its own axis values.
    for (const Grid& grid : stage.grids) {
      int64_t values_per_job = shared_values;
      for (const Axis& axis : grid.axes) values_per_job += axis.max_value_size;
      total_values = SaturatingAdd(total_values, SaturatingMul(grid.job_count, values_per_job));
    }
  }
  if (total_jobs > options.max_jobs) {
    return errors.Error(absl::StrCat("sweep expands to ",
                                     total_jobs == kInt64Max ? "over 9e18" : absl::StrCat(total_jobs),
                                     " jobs, over the limit of ", options.max_jobs));
  }
  if (total_values > kMaxExpandedValues) {
    return errors.Error(absl::StrCat("sweep expands to over ", kMaxExpandedValues,
                                     " parameter values in all; make the fixed parameters or axis values smaller"));
  }
  return absl::OkStatus();
}

absl::Status ExpandStages(const SweepErrors& errors, const std::vector<Stage>& stages, const std::vector<int>& order,
                          SweepPlan& plan) {
  // Where each stage's jobs lie in plan.jobs: [first, end).
  std::vector<std::pair<int64_t, int64_t>> job_ranges(stages.size());
  int64_t edges = 0;
  for (int stage_index : order) {
    const Stage& stage = stages[stage_index];
    const std::string prefix = absl::StrCat("stage '", stage.name, "' job ");

    // Per parent stage: its axes that this stage's jobs also carry, and its
    // jobs indexed by their values on them.
    struct ParentLookup {
      const Stage* stage = nullptr;
      std::vector<std::string> keys;
      std::unordered_map<std::string, std::vector<int64_t>> jobs_by_key;
      std::vector<int64_t> all_jobs;
    };
    auto key_of = [](const Json& params, const std::vector<std::string>& keys) {
      std::string key;
      for (const std::string& name : keys) absl::StrAppend(&key, MatchKey(ParamOrNull(params, name)), "\x1f");
      return key;
    };
    std::vector<ParentLookup> lookups;
    for (int parent_index : stage.parents) {
      const Stage& parent = stages[parent_index];
      ParentLookup& lookup = lookups.emplace_back();
      lookup.stage = &parent;
      // Every alternative of the parent's grids names the same axes.
      for (const std::vector<Axis>* axes : {&parent.grids.front().axes, &parent.zip}) {
        for (const Axis& axis : *axes) {
          if (stage.param_names.contains(axis.name)) lookup.keys.push_back(axis.name);
        }
      }
      for (int64_t job = job_ranges[parent_index].first; job < job_ranges[parent_index].second; ++job) {
        lookup.all_jobs.push_back(job);
        if (!lookup.keys.empty()) lookup.jobs_by_key[key_of(plan.jobs[job].params, lookup.keys)].push_back(job);
      }
    }

    const int64_t first_job = static_cast<int64_t>(plan.jobs.size());
    const int64_t zip_rows = stage.zip.empty() ? 1 : static_cast<int64_t>(stage.zip.front().values.size());
    std::unordered_set<std::string> groups;
    // The alternatives of `grids` one after another (CheckSize has made every count fit).
    for (const Grid& grid : stage.grids) {
      for (int64_t n = 0; n < grid.job_count; ++n) {
        // n in mixed radix: first grid axis outermost, zip rows innermost.
        Json params = stage.fixed_params;
        int64_t rest = n;
        const int64_t zip_row = rest % zip_rows;
        rest /= zip_rows;
        for (auto axis = grid.axes.rbegin(); axis != grid.axes.rend(); ++axis) {
          const auto size = static_cast<int64_t>(axis->values.size());
          params[axis->name] = axis->values[rest % size];
          rest /= size;
        }
        for (const Axis& axis : stage.zip) params[axis.name] = axis.values[zip_row];

        absl::StatusOr<Json> validated = ValidateJobParams(*stage.kind, params);
        if (!validated.ok()) {
          return errors.ErrorAt(stage.mark, absl::StrCat(prefix, Dump(params), ": ", validated.status().message()));
        }
        PlannedJob job;
        job.stage = stage.name;
        job.kind = stage.kind->name;
        job.params = *std::move(validated);
        job.priority = stage.settings.priority;
        job.max_attempts = stage.settings.max_attempts;
        job.resources = stage.settings.resources;
        if (!stage.group_by.empty()) {
          job.group_key = stage.name;
          for (const std::string& name : stage.group_by) {
            absl::StrAppend(&job.group_key, "|", name, "=", Dump(ParamOrNull(job.params, name)));
          }
          groups.insert(job.group_key);
        }
        for (const ParentLookup& lookup : lookups) {
          const std::vector<int64_t>* parents = &lookup.all_jobs;
          if (!lookup.keys.empty()) {
            auto it = lookup.jobs_by_key.find(key_of(job.params, lookup.keys));
            if (it == lookup.jobs_by_key.end()) {
              std::vector<std::string> wanted;
              for (const std::string& name : lookup.keys) {
                wanted.push_back(absl::StrCat(name, "=", Dump(ParamOrNull(job.params, name))));
              }
              return errors.ErrorAt(stage.mark,
                                    absl::StrCat(prefix, Dump(job.params), ": no job of stage '", lookup.stage->name,
                                                 "' has ", absl::StrJoin(wanted, ", ")));
            }
            parents = &it->second;
          }
          edges += static_cast<int64_t>(parents->size());
          if (edges > kMaxDependencyEdges) {
            return errors.Error(
                absl::StrCat("sweep has over ", kMaxDependencyEdges,
                             " dependencies between jobs; share an axis between a stage and its parents so "
                             "each job depends on fewer"));
          }
          job.parents.insert(job.parents.end(), parents->begin(), parents->end());
        }
        plan.jobs.push_back(std::move(job));
      }
    }
    job_ranges[stage_index] = {first_job, static_cast<int64_t>(plan.jobs.size())};
    plan.stages.push_back(StageSummary{.name = stage.name,
                                       .kind = stage.kind->name,
                                       .jobs = stage.job_count,
                                       .groups = static_cast<int64_t>(groups.size())});
    // Group keys start with the stage name, so no two stages share one.
    plan.groups += static_cast<int64_t>(groups.size());
  }
  return absl::OkStatus();
}

}  // namespace expsvc::sweep
