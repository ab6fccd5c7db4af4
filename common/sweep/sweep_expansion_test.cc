// Sweep expansion: grids, zips, defaults, groups, dependencies, cycles, size limits.
#include <chrono>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/sweep/sweep_spec.h"
#include "common/sweep/sweep_test_support.h"
#include "gtest/gtest.h"

namespace expsvc {
namespace {

using namespace ::expsvc::sweep_testing;  // NOLINT: the shared helpers read as local ones
using Json = nlohmann::json;

TEST(SweepExpansionTest, GridIsCartesianProductFirstAxisOutermost) {
  SweepPlan plan = ParseOk(R"(
name: demo
stages:
  - name: train
    kind: sleep
    params: {fail_attempts: 1}
    grid:
      seconds: [0.5, 2]
      steps: [1, 2, 3]
)");
  EXPECT_EQ(plan.name, "demo");
  ASSERT_EQ(plan.jobs.size(), 6u);
  const std::vector<std::pair<double, int>> expected = {{0.5, 1}, {0.5, 2}, {0.5, 3}, {2, 1}, {2, 2}, {2, 3}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const PlannedJob& job = plan.jobs[i];
    EXPECT_EQ(job.stage, "train");
    EXPECT_EQ(job.kind, "sleep");
    EXPECT_EQ(job.params["seconds"], expected[i].first) << i;
    EXPECT_EQ(job.params["steps"], expected[i].second) << i;
    EXPECT_EQ(job.params["fail_attempts"], 1);
    EXPECT_EQ(job.params["fail_at_step"], -1);  // kind default filled in
    EXPECT_FALSE(job.params.contains("note"));
    EXPECT_EQ(job.group_key, "");
    EXPECT_TRUE(job.parents.empty());
  }
  EXPECT_TRUE(plan.jobs[0].params["seconds"].is_number_float());
  EXPECT_TRUE(plan.jobs[3].params["seconds"].is_number_integer());
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].name, "train");
  EXPECT_EQ(plan.stages[0].kind, "sleep");
  EXPECT_EQ(plan.stages[0].jobs, 6);
  EXPECT_EQ(plan.stages[0].groups, 0);
  EXPECT_EQ(plan.groups, 0);
}

TEST(SweepExpansionTest, StageWithoutAxesIsOneJob) {
  SweepPlan plan = ParseOk("name: one\nstages: [{name: only, kind: noop}]\n");
  ASSERT_EQ(plan.jobs.size(), 1u);
  EXPECT_EQ(plan.jobs[0].params, Json::object());
}

TEST(SweepExpansionTest, ZipWalksListsTogether) {
  SweepPlan plan = ParseOk(R"(
name: zipped
stages:
  - name: s
    kind: sleep
    zip: {seconds: [0.1, 0.2, 0.3], steps: [4, 5, 6], note: [a, b, c]}
)");
  ASSERT_EQ(plan.jobs.size(), 3u);
  EXPECT_EQ(plan.jobs[0].params["seconds"], 0.1);
  EXPECT_EQ(plan.jobs[0].params["steps"], 4);
  EXPECT_EQ(plan.jobs[0].params["note"], "a");
  EXPECT_EQ(plan.jobs[2].params["seconds"], 0.3);
  EXPECT_EQ(plan.jobs[2].params["steps"], 6);
  EXPECT_EQ(plan.jobs[2].params["note"], "c");
}

TEST(SweepExpansionTest, GridTimesZipWithZipInnermost) {
  SweepPlan plan = ParseOk(R"(
name: gz
stages:
  - name: s
    kind: sleep
    grid: {fail_attempts: [0, 1], exit_code: [7, 8, 9]}
    zip: {seconds: [1, 2], note: [x, y]}
)");
  ASSERT_EQ(plan.jobs.size(), 12u);
  EXPECT_EQ(plan.stages[0].jobs, 12);
  std::vector<std::string> seen;
  for (const PlannedJob& job : plan.jobs) {
    seen.push_back(absl::StrCat(job.params["fail_attempts"].get<int>(), job.params["exit_code"].get<int>(),
                                job.params["note"].get<std::string>(), job.params["seconds"].get<int>()));
  }
  EXPECT_EQ(absl::StrJoin(seen, " "), "07x1 07y2 08x1 08y2 09x1 09y2 17x1 17y2 18x1 18y2 19x1 19y2");
}

TEST(SweepExpansionTest, DefaultsAndStageOverrides) {
  SweepPlan plan = ParseOk(R"(
name: settings
description: checks priority, attempts and resources
defaults:
  priority: 2
  max_attempts: 5
  resources: {cpu_cores: 2, memory_mb: 512}
stages:
  - name: inherits
    kind: noop
  - name: overrides
    kind: noop
    priority: -7
    max_attempts: 1
    resources: {gpus: 1, memory_mb: 4096, gpu_memory_gb: 40}
)");
  ASSERT_EQ(plan.jobs.size(), 2u);
  const PlannedJob& inherits = plan.jobs[0];
  EXPECT_EQ(inherits.priority, 2);
  EXPECT_EQ(inherits.max_attempts, 5);
  EXPECT_EQ(inherits.resources.cpu_cores, 2);
  EXPECT_EQ(inherits.resources.memory_mb, 512);
  EXPECT_EQ(inherits.resources.gpus, 0);
  const PlannedJob& overrides = plan.jobs[1];
  EXPECT_EQ(overrides.priority, -7);
  EXPECT_EQ(overrides.max_attempts, 1);
  EXPECT_EQ(overrides.resources.cpu_cores, 2);  // fields not given are inherited
  EXPECT_EQ(overrides.resources.memory_mb, 4096);
  EXPECT_EQ(overrides.resources.gpus, 1);
  EXPECT_EQ(overrides.resources.gpu_memory_gb, 40);

  SweepPlan bare = ParseOk("name: bare\nstages: [{name: a, kind: noop}]\n");
  ASSERT_EQ(bare.jobs.size(), 1u);
  EXPECT_EQ(bare.jobs[0].priority, 0);
  EXPECT_EQ(bare.jobs[0].max_attempts, 3);
  EXPECT_EQ(bare.jobs[0].resources.cpu_cores, 0);
  EXPECT_EQ(bare.jobs[0].resources.memory_mb, 0);
  EXPECT_EQ(bare.jobs[0].resources.gpus, 0);
}

TEST(SweepExpansionTest, RejectsBadSettings) {
  EXPECT_EQ(ErrorOf("name: x\nstages:\n  - {name: a, kind: noop, max_attempts: 0}\n"),
            "sweep.yaml:3:41: 'max_attempts' must be an integer in [1, 2147483647], got 0");
  EXPECT_EQ(ErrorOf("name: x\ndefaults: {resources: {gpus: -1}}\nstages: [{name: a, kind: noop}]\n"),
            "sweep.yaml:2:30: 'gpus' must be an integer in [0, 2147483647], got -1");
  EXPECT_EQ(ErrorOf("name: x\nstages:\n  - {name: a, kind: noop, priority: high}\n"),
            "sweep.yaml:3:37: 'priority' must be an integer in [-2147483648, 2147483647], got \"high\"");
  EXPECT_EQ(ErrorOf("name: x\nstages:\n  - {name: a, kind: noop, resources: {tpus: 1}}\n"),
            "sweep.yaml:3:39: unknown key 'tpus' in the resources of stage 'a' (known: cpu_cores, memory_mb, "
            "gpus, gpu_memory_gb)");
  EXPECT_EQ(ErrorOf("name: x\nstages:\n  - {name: a, kind: noop, resources: {gpu_memory_gb: 40}}\n"),
            "sweep.yaml:3:5: stage 'a' asks for gpu_memory_gb: 40 but no GPU (add gpus: 1 to its resources)");
  EXPECT_EQ(ErrorOf("name: x\ndefaults: {retries: 1}\nstages: [{name: a, kind: noop}]\n"),
            "sweep.yaml:2:12: unknown key 'retries' in 'defaults' (known: priority, max_attempts, resources)");
}

TEST(SweepExpansionTest, GroupKeysAndCounts) {
  SweepPlan plan = ParseOk(R"(
name: groups
stages:
  - name: train
    kind: sleep
    grid: {seconds: [0.5, 1], steps: [1, 2, 3]}
    group_by: [steps]
  - name: pairs
    kind: sleep
    params: {note: n}
    grid: {seconds: [0.5, 1], steps: [1, 2]}
    group_by: [note, seconds, fail_at_step]
)");
  ASSERT_EQ(plan.jobs.size(), 10u);
  EXPECT_EQ(plan.jobs[0].group_key, "train|steps=1");
  EXPECT_EQ(plan.jobs[4].group_key, "train|steps=2");
  EXPECT_EQ(plan.jobs[6].group_key, "pairs|note=\"n\"|seconds=0.5|fail_at_step=-1");
  EXPECT_EQ(plan.jobs[9].group_key, "pairs|note=\"n\"|seconds=1|fail_at_step=-1");
  ASSERT_EQ(plan.stages.size(), 2u);
  EXPECT_EQ(plan.stages[0].groups, 3);
  EXPECT_EQ(plan.stages[1].groups, 2);
  EXPECT_EQ(plan.groups, 5);
}

TEST(SweepExpansionTest, GroupByMustNameAParameter) {
  EXPECT_EQ(ErrorOf(R"(name: g
stages:
  - name: train
    kind: sleep
    grid: {seconds: [1]}
    group_by: [seconds, model]
)"),
            "sweep.yaml:6:25: stage 'train': group_by names 'model', which is not a parameter of its jobs "
            "(checkpoint_every, exit_code, fail_at_step, fail_attempts, seconds, steps)");
}

TEST(SweepExpansionTest, DependsOnMatchesSharedAxesAndKeepsParentsFirst) {
  SweepPlan plan = ParseOk(R"(
name: deps
stages:
  - name: train
    kind: sleep
    grid: {steps: [1, 2, 3], fail_attempts: [0, 1]}
    depends_on: [prepare]
  - name: prepare
    kind: sleep
    grid: {steps: [3, 2, 1]}
    zip: {note: [p, q]}
)");
  ASSERT_EQ(plan.jobs.size(), 12u);
  EXPECT_EQ(plan.stages[0].name, "prepare");  // the child comes first in the file
  EXPECT_EQ(plan.stages[1].name, "train");
  // prepare's jobs: steps 3 -> 0 (p), 1 (q); steps 2 -> 2, 3; steps 1 -> 4, 5.
  // train's jobs carry no note, so they match on steps alone.
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(plan.jobs[i].stage, "prepare");
  EXPECT_EQ(plan.jobs[6].params["steps"], 1);
  EXPECT_EQ(Parents(plan, 6), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(Parents(plan, 7), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(plan.jobs[8].params["steps"], 2);
  EXPECT_EQ(Parents(plan, 8), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(plan.jobs[11].params["steps"], 3);
  EXPECT_EQ(Parents(plan, 11), (std::vector<int64_t>{0, 1}));
}

TEST(SweepExpansionTest, DependsOnComparesNumbersByValue) {
  SweepPlan plan = ParseOk(R"(
name: deps
stages:
  - name: a
    kind: sleep
    grid: {seconds: [1, 2]}
  - name: b
    kind: sleep
    grid: {seconds: [2.0, 1.0]}
    depends_on: a
)");
  ASSERT_EQ(plan.jobs.size(), 4u);
  EXPECT_EQ(Parents(plan, 2), (std::vector<int64_t>{1}));
  EXPECT_EQ(Parents(plan, 3), (std::vector<int64_t>{0}));
}

TEST(SweepExpansionTest, DependsOnEveryParentJobWithoutSharedAxes) {
  SweepPlan plan = ParseOk(R"(
name: deps
stages:
  - name: train
    kind: sleep
    grid: {seconds: [0.1, 0.2, 0.3]}
  - name: other
    kind: sleep
    grid: {steps: [1, 2]}
  - name: report
    kind: noop
    grid: {note: [x, y]}
    depends_on: [train, other, train]
)");
  ASSERT_EQ(plan.jobs.size(), 7u);
  EXPECT_EQ(Parents(plan, 5), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Parents(plan, 6), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  for (const PlannedJob& job : plan.jobs) {
    for (int64_t parent : job.parents) EXPECT_LT(parent, &job - plan.jobs.data());
  }
}

// The diagnostic kinds take labels, so a sweep can shape itself like a study.
TEST(SweepExpansionTest, LabelsDriveGroupsAndDependencies) {
  SweepPlan plan = ParseOk(R"(
name: labels
stages:
  - name: train
    kind: sleep
    grid: {model: [small, large], seed: [1, 2]}
    group_by: [model]
  - name: eval
    kind: noop
    grid: {model: [small, large], split: [val, test]}
    depends_on: train
)");
  ASSERT_EQ(plan.jobs.size(), 8u);
  EXPECT_EQ(plan.stages[0].groups, 2);
  EXPECT_EQ(plan.groups, 2);
  EXPECT_EQ(plan.jobs[0].group_key, "train|model=\"small\"");
  EXPECT_EQ(plan.jobs[4].params, Json::parse(R"({"model": "small", "split": "val"})"));
  EXPECT_EQ(Parents(plan, 4), (std::vector<int64_t>{0, 1}));  // matched on model, not seed
  EXPECT_EQ(Parents(plan, 5), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(Parents(plan, 6), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Parents(plan, 7), (std::vector<int64_t>{2, 3}));
}

TEST(SweepExpansionTest, GridsConcatenateTheirProductsEachCrossedWithTheZip) {
  SweepPlan plan = ParseOk(R"(
name: alternatives
stages:
  - name: train
    kind: sleep
    grids:
      - {model: [small], layer: [1, 2]}
      - {layer: [1, 2, 3], model: [large]}
    zip: {seed: [1, 2]}
    group_by: [model]
  - name: eval
    kind: noop
    grids:
      - {model: [small], layer: [2]}
      - {model: [large], layer: [1, 3]}
    depends_on: train
)");
  ASSERT_EQ(plan.stages.size(), 2u);
  EXPECT_EQ(plan.stages[0].jobs, 10);  // 1 x 2 x 2 zip rows + 3 x 1 x 2
  EXPECT_EQ(plan.stages[0].groups, 2);
  EXPECT_EQ(plan.stages[1].jobs, 3);
  EXPECT_EQ(plan.groups, 2);
  ASSERT_EQ(plan.jobs.size(), 13u);
  // Entry by entry; in each, its first axis outermost and zip rows innermost.
  const std::vector<std::tuple<std::string, int, int>> expected = {
      {"small", 1, 1}, {"small", 1, 2}, {"small", 2, 1}, {"small", 2, 2}, {"large", 1, 1},
      {"large", 1, 2}, {"large", 2, 1}, {"large", 2, 2}, {"large", 3, 1}, {"large", 3, 2}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(plan.jobs[i].params["model"], std::get<0>(expected[i])) << i;
    EXPECT_EQ(plan.jobs[i].params["layer"], std::get<1>(expected[i])) << i;
    EXPECT_EQ(plan.jobs[i].params["seed"], std::get<2>(expected[i])) << i;
    EXPECT_EQ(plan.jobs[i].params["steps"], 10) << i;  // kind defaults in every entry
  }
  EXPECT_EQ(plan.jobs[3].group_key, "train|model=\"small\"");
  EXPECT_EQ(plan.jobs[4].group_key, "train|model=\"large\"");
  // eval matches train on model and layer across the entries (seed is train's zip only).
  EXPECT_EQ(plan.jobs[10].params, Json::parse(R"({"model": "small", "layer": 2})"));
  EXPECT_EQ(Parents(plan, 10), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Parents(plan, 11), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(Parents(plan, 12), (std::vector<int64_t>{8, 9}));
}

TEST(SweepExpansionTest, GridsCountsAndSizeEstimateAreExact) {
  const std::string yaml = R"(name: limits
stages:
  - name: a
    kind: sleep
    grids: [{steps: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}, {steps: [1, 2, 3]}]
)";
  EXPECT_EQ(ErrorOf(yaml, ExpandOptions{.max_jobs = 12}), "sweep.yaml: sweep expands to 13 jobs, over the limit of 12");
  absl::StatusOr<SweepPlan> at_limit = Parse(yaml, ExpandOptions{.max_jobs = 13});
  ASSERT_TRUE(at_limit.ok()) << at_limit.status();
  EXPECT_EQ(at_limit->jobs.size(), 13u);

  // One job carries a 60000-value blob, 1000 jobs a number: the estimate
  // counts each entry with its own values (about 64k in all), not every job
  // with the largest value of the stage (about 60M, over the limit).
  std::string blob = "[0";
  for (int value = 1; value < 60000; ++value) absl::StrAppend(&blob, ",0");
  absl::StrAppend(&blob, "]");
  std::string thousand = "[0";
  for (int value = 1; value < 1000; ++value) absl::StrAppend(&thousand, ",", value);
  absl::StrAppend(&thousand, "]");
  const std::string light = absl::StrCat("name: blob\nstages:\n  - name: a\n    kind: noop\n    grids:\n      - {x: [",
                                         blob, "]}\n      - {x: ", thousand, "}\n");
  absl::StatusOr<SweepPlan> plan = Parse(light);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->jobs.size(), 1001u);
  // The same blob in 1000 jobs is refused.
  const std::string heavy = absl::StrCat("name: blob\nstages:\n  - name: a\n    kind: noop\n    grids:\n      - {x: [",
                                         blob, "], y: ", thousand, "}\n      - {x: [0], y: [0]}\n");
  EXPECT_TRUE(Contains(ErrorOf(heavy), "sweep.yaml: sweep expands to over 50000000 parameter values in all"));
}

TEST(SweepExpansionTest, ChildWithoutMatchingParentIsAnError) {
  EXPECT_EQ(ErrorOf(R"(name: deps
stages:
  - name: train
    kind: sleep
    grid: {seconds: [0.1, 0.2]}
  - name: eval
    kind: sleep
    params: {seconds: 0.5}
    depends_on: train
)"),
            "sweep.yaml:6:5: stage 'eval' job {\"checkpoint_every\":0,\"exit_code\":0,\"fail_at_step\":-1,"
            "\"fail_attempts\":0,\"seconds\":0.5,\"steps\":10}: no job of stage 'train' has seconds=0.5");
}

TEST(SweepExpansionTest, ReportsDependencyCycles) {
  EXPECT_EQ(ErrorOf(R"(name: cyc
stages:
  - {name: ok, kind: noop}
  - {name: a, kind: noop, depends_on: [ok, b]}
  - {name: b, kind: noop, depends_on: a}
)"),
            "sweep.yaml:4:5: dependency cycle: a -> b -> a (each stage depends on the next)");
  EXPECT_EQ(ErrorOf(R"(name: cyc
stages:
  - {name: x, kind: noop, depends_on: z}
  - {name: y, kind: noop, depends_on: x}
  - {name: z, kind: noop, depends_on: y}
  - {name: after, kind: noop, depends_on: z}
)"),
            "sweep.yaml:3:5: dependency cycle: x -> z -> y -> x (each stage depends on the next)");
  EXPECT_TRUE(
      Contains(ErrorOf("name: c\nstages: [{name: s, kind: noop, depends_on: s}]\n"), "dependency cycle: s -> s"));
}

TEST(SweepExpansionTest, RejectsUnknownStagesInDependsOn) {
  EXPECT_EQ(ErrorOf("name: d\nstages:\n  - {name: a, kind: noop, depends_on: [b]}\n"),
            "sweep.yaml:3:40: stage 'a': depends_on names unknown stage 'b' (stages: a)");
}

TEST(SweepExpansionTest, RefusesSweepsOverTheJobLimit) {
  const std::string yaml = R"(name: big
stages:
  - name: a
    kind: sleep
    grid: {steps: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], fail_attempts: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}
  - name: b
    kind: noop
    grid: {note: [a, b, c, d, e, f, g, h, i, j]}
)";
  EXPECT_EQ(ErrorOf(yaml, ExpandOptions{.max_jobs = 109}),
            "sweep.yaml: sweep expands to 110 jobs, over the limit of 109");
  absl::StatusOr<SweepPlan> at_limit = Parse(yaml, ExpandOptions{.max_jobs = 110});
  ASSERT_TRUE(at_limit.ok()) << at_limit.status();
  EXPECT_EQ(at_limit->jobs.size(), 110u);

  // 20 axes of 10 values: 10^20 jobs overflows int64 and must not wrap.
  std::string huge = "name: huge\nstages:\n  - name: a\n    kind: noop\n    grid:\n";
  for (int axis = 0; axis < 20; ++axis) absl::StrAppend(&huge, "      a", axis, ": [0,1,2,3,4,5,6,7,8,9]\n");
  EXPECT_EQ(ErrorOf(huge), "sweep.yaml: sweep expands to over 9e18 jobs, over the limit of 100000");

  // Few jobs, but each would copy a 60000-value fixed parameter.
  std::string heavy = "name: heavy\nstages:\n  - name: a\n    kind: noop\n    params: {blob: [0";
  for (int value = 1; value < 60000; ++value) absl::StrAppend(&heavy, ",0");
  absl::StrAppend(&heavy,
                  "]}\n    grid: {x: [0,1,2,3,4,5,6,7,8,9], y: [0,1,2,3,4,5,6,7,8,9], z: [0,1,2,3,4,5,6,7,8,9]}\n");
  EXPECT_TRUE(Contains(ErrorOf(heavy), "sweep.yaml: sweep expands to over 50000000 parameter values in all"));
}

TEST(SweepExpansionTest, ExpandsAStudySizedSweepQuickly) {
  struct Model {
    std::string name;
    int layers;
  };
  auto zip_rows = [](const std::vector<Model>& models) {
    std::vector<std::string> names, layers;
    for (const Model& model : models) {
      for (int layer = 0; layer < model.layers; ++layer) {
        names.push_back(model.name);
        layers.push_back(absl::StrCat(layer));
      }
    }
    return absl::StrCat("{model: [", absl::StrJoin(names, ", "), "], layer: [", absl::StrJoin(layers, ", "), "]}");
  };
  // 114 (model, layer) rows x 12 checkpoints = 1368 jobs in 72 groups, plus
  // 204 rows at the final checkpoint only = 204 jobs in 7 groups.
  const std::vector<Model> suite = {{"pythia-70m", 6}, {"pythia-160m", 12}, {"pythia-410m", 24},
                                    {"pythia-1b", 16}, {"pythia-1.4b", 24}, {"pythia-2.8b", 32}};
  const std::vector<Model> finals = {{"gpt2", 12},     {"gpt2-medium", 24}, {"gpt2-large", 36}, {"gpt2-xl", 48},
                                     {"gemma-2b", 18}, {"llama-7b", 32},    {"qwen-7b", 34}};
  const std::string yaml = absl::StrCat(R"(name: sae-study
defaults: {max_attempts: 2, resources: {gpus: 1, memory_mb: 16000}}
stages:
  - name: suite
    kind: sleep
    params: {seconds: 0.1}
    grid: {checkpoint: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 143000]}
    zip: )",
                                        zip_rows(suite), R"(
    group_by: [model, checkpoint]
  - name: finals
    kind: sleep
    params: {seconds: 0.1, checkpoint: 143000}
    zip: )",
                                        zip_rows(finals), R"(
    group_by: [model, checkpoint]
  - name: summary
    kind: noop
    max_attempts: 1
    depends_on: [suite, finals]
)");
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<SweepPlan> plan = Parse(yaml);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LT(elapsed, std::chrono::seconds(2));

  ASSERT_EQ(plan->stages.size(), 3u);
  EXPECT_EQ(plan->stages[0].jobs, 1368);
  EXPECT_EQ(plan->stages[0].groups, 72);
  EXPECT_EQ(plan->stages[1].jobs, 204);
  EXPECT_EQ(plan->stages[1].groups, 7);
  EXPECT_EQ(plan->stages[2].jobs, 1);
  EXPECT_EQ(plan->stages[2].groups, 0);
  ASSERT_EQ(plan->jobs.size(), 1573u);
  EXPECT_EQ(plan->jobs.size() - 1, 1572u);  // the study jobs, without the summary
  EXPECT_EQ(plan->groups, 79);
  EXPECT_EQ(plan->jobs[0].group_key, "suite|model=\"pythia-70m\"|checkpoint=1");
  EXPECT_EQ(plan->jobs[0].params["layer"], 0);
  EXPECT_EQ(plan->jobs[0].params["steps"], 10);  // kind defaults still filled in
  EXPECT_EQ(plan->jobs[113].group_key, "suite|model=\"pythia-2.8b\"|checkpoint=1");
  EXPECT_EQ(plan->jobs[113].params["layer"], 31);
  EXPECT_EQ(plan->jobs[114].group_key, "suite|model=\"pythia-70m\"|checkpoint=2");
  EXPECT_EQ(plan->jobs[1368].group_key, "finals|model=\"gpt2\"|checkpoint=143000");
  EXPECT_EQ(plan->jobs[1571].group_key, "finals|model=\"qwen-7b\"|checkpoint=143000");
  EXPECT_EQ(plan->jobs[1571].max_attempts, 2);
  EXPECT_EQ(plan->jobs[1571].resources.gpus, 1);
  EXPECT_EQ(plan->jobs[1572].parents.size(), 1572u);
  EXPECT_EQ(plan->jobs[1572].max_attempts, 1);
  std::set<std::string> keys;
  for (const PlannedJob& job : plan->jobs) {
    if (!job.group_key.empty()) keys.insert(job.group_key);
  }
  EXPECT_EQ(keys.size(), 79u);
}

}  // namespace
}  // namespace expsvc
