// Sweep parsing: errors at their line and column, shapes, YAML scalars, hostile files.
#include <chrono>
#include <set>
#include <string>
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

TEST(SweepParserTest, UnknownKindNamesLineAndColumn) {
  EXPECT_EQ(ErrorOf(R"(name: t
stages:
  - name: train
    kind: trian
)"),
            "sweep.yaml:4:11: stage 'train': unknown kind 'trian' (known: " + KnownKindList() + ")");
}

TEST(SweepParserTest, UnknownKeysNameLineAndColumn) {
  EXPECT_EQ(ErrorOf(R"(name: t
stages:
  - name: train
    kind: sleep
    parms: {seconds: 1}
)"),
            "sweep.yaml:5:5: unknown key 'parms' in stage 'train' (known: name, kind, params, grid, grids, "
            "zip, group_by, depends_on, resources, priority, max_attempts)");
  EXPECT_EQ(ErrorOf("name: t\nstage: []\n"),
            "sweep.yaml:2:1: unknown key 'stage' in the sweep (known: name, description, defaults, stages)");
  EXPECT_EQ(ErrorOf("name: t\nname: u\nstages: [{name: a, kind: noop}]\n"),
            "sweep.yaml:2:1: duplicate key 'name' in the sweep");
}

TEST(SweepParserTest, MalformedYamlNamesTheLine) {
  EXPECT_EQ(ErrorOf("name: t\nstages:\n  - name: [a\n"), "sweep.yaml:4:1: end of sequence flow not found");
  EXPECT_EQ(ErrorOf("name: t\n stages: 2\n"), "sweep.yaml:2:8: illegal map value");
}

TEST(SweepParserTest, RejectsWrongShapes) {
  EXPECT_EQ(ErrorOf(""), "sweep.yaml: the file is empty; a sweep needs 'name' and 'stages'");
  EXPECT_EQ(ErrorOf("- a\n- b\n"), "sweep.yaml:1:1: the sweep must be a map, got a list");
  EXPECT_EQ(ErrorOf("just text"), "sweep.yaml:1:1: the sweep must be a map, got 'just text'");
  EXPECT_EQ(ErrorOf("stages: [{name: a, kind: noop}]\n"), "sweep.yaml:1:1: the sweep has no 'name'");
  EXPECT_EQ(ErrorOf("name: [x]\nstages: [{name: a, kind: noop}]\n"),
            "sweep.yaml:1:7: 'name' must be a string, got a list");
  EXPECT_EQ(ErrorOf("name: t\n"), "sweep.yaml:1:1: the sweep has no 'stages'");
  EXPECT_EQ(ErrorOf("name: t\nstages:\n"), "sweep.yaml:3:1: 'stages' must be a non-empty list, got nothing");
  EXPECT_EQ(ErrorOf("name: t\nstages: []\n"), "sweep.yaml:2:9: 'stages' must be a non-empty list, got a list");
  EXPECT_EQ(ErrorOf("name: t\nstages: {a: 1}\n"), "sweep.yaml:2:9: 'stages' must be a non-empty list, got a map");
  EXPECT_EQ(ErrorOf("name: t\nstages: [[a]]\n"), "sweep.yaml:2:10: a stage must be a map, got a list");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{kind: noop}]\n"), "sweep.yaml:2:10: a stage has no 'name'");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a}]\n"), "sweep.yaml:2:10: stage 'a': missing 'kind'");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a b, kind: noop}]\n"),
            "sweep.yaml:2:17: stage name 'a b' must be letters, digits, '_' or '-'");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a, kind: noop}, {name: a, kind: noop}]\n"),
            "sweep.yaml:2:33: duplicate stage name 'a' (first at line 2)");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a, kind: sleep, params: [1]}]\n"),
            "sweep.yaml:2:41: stage 'a': 'params' must be a map, got a list");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a, kind: sleep, grid: {steps: 3}}]\n"),
            "sweep.yaml:2:47: stage 'a': grid axis 'steps' must be a non-empty list, got '3'");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a, kind: sleep, grid: {steps: []}}]\n"),
            "sweep.yaml:2:47: stage 'a': grid axis 'steps' must be a non-empty list, got a list");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a, kind: sleep, grid: [steps]}]\n"),
            "sweep.yaml:2:39: stage 'a': grid must be a map, got a list");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a, kind: sleep, depends_on: {b: 1}}]\n"),
            "sweep.yaml:2:45: stage 'a': 'depends_on' must be a name or a list of names, got a map");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a, kind: [sleep]}]\n"),
            "sweep.yaml:2:26: stage 'a': 'kind' must be a string, got a list");
}

TEST(SweepParserTest, ZipListsMustHaveOneLength) {
  EXPECT_EQ(ErrorOf(R"(name: z
stages:
  - name: s
    kind: sleep
    zip: {seconds: [1, 2], steps: [1, 2, 3]}
)"),
            "sweep.yaml:5:10: stage 's': zip lists differ in length: 'seconds' has 2 values, 'steps' has 3");
}

TEST(SweepParserTest, AxesMustNotCollide) {
  EXPECT_EQ(ErrorOf(R"(name: z
stages:
  - name: s
    kind: sleep
    params: {steps: 3}
    grid: {steps: [1, 2]}
)"),
            "sweep.yaml:5:13: stage 's': 'steps' is both a fixed parameter and an axis");
  EXPECT_EQ(ErrorOf(R"(name: z
stages:
  - name: s
    kind: sleep
    grid: {steps: [1, 2]}
    zip: {steps: [1, 2]}
)"),
            "sweep.yaml:6:10: stage 's': 'steps' is both a grid and a zip axis");
  EXPECT_EQ(ErrorOf("name: z\nstages: [{name: s, kind: sleep, grid: {steps: [1], steps: [2]}}]\n"),
            "sweep.yaml:2:52: stage 's': grid names axis 'steps' twice");
}

TEST(SweepParserTest, GridsIsANonEmptyListExclusiveWithGrid) {
  EXPECT_EQ(ErrorOf(R"(name: g
stages:
  - name: s
    kind: sleep
    grid: {steps: [1]}
    grids: [{steps: [2]}]
)"),
            "sweep.yaml:6:12: stage 's': give either 'grid' or 'grids', not both");
  EXPECT_EQ(ErrorOf("name: g\nstages: [{name: s, kind: sleep, grids: []}]\n"),
            "sweep.yaml:2:40: stage 's': 'grids' is an empty list; give at least one grid map");
  EXPECT_EQ(ErrorOf("name: g\nstages: [{name: s, kind: sleep, grids: {steps: [1]}}]\n"),
            "sweep.yaml:2:40: stage 's': 'grids' must be a list of grid maps, got a map");
  EXPECT_EQ(ErrorOf("name: g\nstages: [{name: s, kind: sleep, grids: [[1, 2]]}]\n"),
            "sweep.yaml:2:41: stage 's': grids entry 1 must be a map, got a list");
  EXPECT_EQ(ErrorOf("name: g\nstages: [{name: s, kind: sleep, grids: [{steps: [1]}, {}]}]\n"),
            "sweep.yaml:2:55: stage 's': grids entry 2 names no axis");
  EXPECT_EQ(ErrorOf("name: g\nstages: [{name: s, kind: sleep, grids: [{steps: [1]}, {steps: []}]}]\n"),
            "sweep.yaml:2:63: stage 's': grids entry 2 axis 'steps' must be a non-empty list, got a list");
}

TEST(SweepParserTest, GridsEntriesMustNameTheSameAxes) {
  EXPECT_EQ(ErrorOf(R"(name: g
stages:
  - name: s
    kind: sleep
    grids:
      - {model: [a], layer: [1, 2]}
      - {layer: [3], model: [b]}
      - {model: [c], depth: [1]}
)"),
            "sweep.yaml:8:9: stage 's': grids entry 3 has the axes (depth, model), entry 1 has (layer, model); "
            "every entry of 'grids' must name the same axes");
  EXPECT_EQ(ErrorOf(R"(name: g
stages:
  - name: s
    kind: sleep
    grids:
      - {model: [a]}
      - {model: [b], layer: [1]}
)"),
            "sweep.yaml:7:9: stage 's': grids entry 2 has the axes (layer, model), entry 1 has (model); "
            "every entry of 'grids' must name the same axes");
  // The checks a grid's axes get apply to every entry's.
  EXPECT_EQ(ErrorOf(R"(name: g
stages:
  - name: s
    kind: sleep
    grids: [{steps: [1]}, {steps: [2]}]
    zip: {steps: [3]}
)"),
            "sweep.yaml:6:10: stage 's': 'steps' is both a grid and a zip axis");
  EXPECT_EQ(ErrorOf(R"(name: g
stages:
  - name: s
    kind: sleep
    params: {steps: 3}
    grids: [{steps: [1]}]
)"),
            "sweep.yaml:5:13: stage 's': 'steps' is both a fixed parameter and an axis");
}

TEST(SweepParserTest, IllTypedParameterNamesStageAndJob) {
  EXPECT_EQ(ErrorOf(R"(name: t
stages:
  - name: train
    kind: sleep
    grid: {seconds: [1, abc]}
)"),
            "sweep.yaml:3:5: stage 'train' job {\"seconds\":\"abc\"}: parameter 'seconds' of kind 'sleep': "
            "expected a number, got \"abc\"");
  EXPECT_TRUE(Contains(ErrorOf("name: t\nstages: [{name: a, kind: sleep, params: {steps: 3.0}}]\n"),
                       "stage 'a' job {\"steps\":3.0}: parameter 'steps' of kind 'sleep': expected an integer, "
                       "got 3.0 (a floating-point value"));
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a, kind: sleep, params: {fail_attempts: [1]}}]\n"),
            "sweep.yaml:2:10: stage 'a' job {\"fail_attempts\":[1]}: parameter 'fail_attempts' of kind 'sleep': "
            "expected an integer, got [1]");
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a, kind: sleep, params: {steps: 0}}]\n"),
            "sweep.yaml:2:10: stage 'a' job {\"steps\":0}: parameter 'steps' of kind 'sleep': 0 is below the "
            "minimum 1");
}

TEST(SweepParserTest, ConvertsScalarsByTheirYamlType) {
  // Quoted scalars stay strings.
  SweepPlan plan = ParseOk(R"(
name: scalars
stages:
  - name: s
    kind: noop
    grid: {note: ["1", '2.5', "true", !!str 7, plain, "~"]}
)");
  ASSERT_EQ(plan.jobs.size(), 6u);
  const std::vector<std::string> notes = {"1", "2.5", "true", "7", "plain", "~"};
  for (size_t i = 0; i < notes.size(); ++i) EXPECT_EQ(plan.jobs[i].params["note"], Json(notes[i]));

  // Plain ones are typed, recursively; the error shows the JSON they became.
  EXPECT_EQ(ErrorOf("name: t\nstages: [{name: a, kind: noop, params: {note: 1}}]\n"),
            "sweep.yaml:2:10: stage 'a' job {\"note\":1}: parameter 'note' of kind 'noop': expected a string, "
            "got 1");
  EXPECT_TRUE(Contains(ErrorOf("name: t\nstages: [{name: a, kind: noop, params: {note: {a: [1, -2.5, 1e3, "
                               "true, False, ~, x, 0x1f]}}}]\n"),
                       R"(expected a string, got {"a":[1,-2.5,1000.0,true,false,null,"x",31]})"));
  // An explicit null is "not given".
  SweepPlan with_null = ParseOk("name: t\nstages: [{name: a, kind: sleep, params: {note: ~, steps: 2}}]\n");
  ASSERT_EQ(with_null.jobs.size(), 1u);
  EXPECT_FALSE(with_null.jobs[0].params.contains("note"));
  EXPECT_EQ(with_null.jobs[0].params["steps"], 2);
  EXPECT_TRUE(Contains(ErrorOf("name: t\nstages: [{name: a, kind: sleep, params: {steps: 99999999999999999999}}]\n"),
                       "sweep.yaml:2:49: number 99999999999999999999 is out of range"));
}

TEST(SweepParserTest, SurvivesHostileDocuments) {
  // Each level doubles the aliased values: 2^30 of them once expanded.
  std::string bomb = "name: b\nl0: &l0 [x, x]\n";
  for (int level = 1; level <= 30; ++level) {
    absl::StrAppend(&bomb, "l", level, ": &l", level, " [*l", level - 1, ", *l", level - 1, "]\n");
  }
  absl::StrAppend(&bomb, "stages: [{name: a, kind: noop, params: {note: *l30}}]\n");
  EXPECT_TRUE(Contains(ErrorOf(bomb), "unknown key 'l0'"));  // refused before any expansion
  std::string nested_bomb = "name: b\nstages: [{name: a, kind: noop, params: {note: [&l0 [x, x]";
  for (int level = 1; level <= 30; ++level) {
    absl::StrAppend(&nested_bomb, ", &l", level, " [*l", level - 1, ", *l", level - 1, "]");
  }
  absl::StrAppend(&nested_bomb, "]}}]\n");
  EXPECT_TRUE(Contains(ErrorOf(nested_bomb), "values (aliases expanded)"));

  EXPECT_TRUE(Contains(ErrorOf("name: r\nstages: [{name: a, kind: noop, params: {note: &a [*a]}}]\n"),
                       "values nest deeper than 100 levels"));
  EXPECT_TRUE(Contains(ErrorOf("name: d\nstages: [{name: a, kind: noop, params: {note: " + std::string(5000, '[') +
                               std::string(5000, ']') + "}}]\n"),
                       ": values nest too deeply"));
  EXPECT_EQ(ErrorOf("name: \"a\xff\"\nstages: [{name: a, kind: noop}]\n"),
            "sweep.yaml:1:9: the file is not valid UTF-8 (byte 8)");
  // Anywhere in the file, a comment too (protobuf could not carry it).
  EXPECT_EQ(ErrorOf("name: a\n# caf\xc3\nstages: [{name: a, kind: noop}]\n"),
            "sweep.yaml:2:6: the file is not valid UTF-8 (byte 13)");
  EXPECT_EQ(ErrorOf("name: \"\\ud800\"\nstages: [{name: a, kind: noop}]\n"), "sweep.yaml:1:14: invalid unicode: 55296");
}

// An SAE-study-shaped sweep: every (model, layer) pair zipped, crossed with
// checkpoints, grouped by model and checkpoint. The sleep kind stands in for
// the study kind, with model, layer and checkpoint as labels.
}  // namespace
}  // namespace expsvc

namespace expsvc {
namespace {

TEST(ReplaceSweepDirTest, EveryOccurrenceBecomesTheFolder) {
  EXPECT_EQ(ReplaceSweepDir("command: [python3, '{sweep_dir}/a.py', '{sweep_dir}/b']", "/x/y"),
            "command: [python3, '/x/y/a.py', '/x/y/b']");
  EXPECT_EQ(ReplaceSweepDir("no placeholder {sweep}", "/x"), "no placeholder {sweep}");
  // A folder whose name holds the placeholder does not loop.
  EXPECT_EQ(ReplaceSweepDir("{sweep_dir}", "/{sweep_dir}"), "/{sweep_dir}");
}

}  // namespace
}  // namespace expsvc
