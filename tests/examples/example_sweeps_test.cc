// Every sweep file under examples/ expands against the current job-kind
// catalog, with the job counts its comments promise.

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/sweep/sweep_spec.h"
#include "gtest/gtest.h"

namespace expsvc {
namespace {

SweepPlan Expand(const std::string& name) {
  const std::string path = absl::StrCat(EXPSVC_EXAMPLES_DIR, "/sweeps/", name);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto plan = ParseSweep(text.str(), path);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : SweepPlan{};
}

TEST(ExampleSweepsTest, DemoExpands) {
  SweepPlan plan = Expand("demo.yaml");
  EXPECT_GE(plan.jobs.size(), 10u);
  EXPECT_GE(plan.groups, 1);
}

TEST(ExampleSweepsTest, MusicAttentionIsBothRepresentationsTimesFiveVariants) {
  SweepPlan plan = Expand("music-attention.yaml");
  EXPECT_EQ(plan.jobs.size(), 70u);
  std::set<std::string> attentions, representations;
  std::map<std::string, int> per_kind;
  for (const auto& job : plan.jobs) {
    ++per_kind[job.kind];
    // Every evaluation/generation depends on exactly the training of its
    // representation, attention and seed.
    if (job.kind != "train_music") {
      ASSERT_EQ(job.parents.size(), 1u);
      const auto& parent = plan.jobs[static_cast<size_t>(job.parents[0])];
      EXPECT_EQ(parent.kind, "train_music");
      for (const char* axis : {"representation", "attention", "seed"}) {
        EXPECT_EQ(parent.params[axis], job.params[axis]) << axis;
      }
    }
    attentions.insert(job.params["attention"].get<std::string>());
    representations.insert(job.params["representation"].get<std::string>());
  }
  EXPECT_EQ(attentions.size(), 5u);
  EXPECT_EQ(representations.size(), 2u);
  EXPECT_EQ(per_kind["train_music"], 30);
  EXPECT_EQ(per_kind["evaluate_music"], 30);
  EXPECT_EQ(per_kind["generate_music"], 10);
}

TEST(ExampleSweepsTest, MusicDataSizeIsFourFractionsTimesFourVariants) {
  SweepPlan plan = Expand("music-datasize.yaml");
  EXPECT_EQ(plan.jobs.size(), 36u);
  for (const auto& job : plan.jobs) {
    if (job.kind == "train_music") continue;
    ASSERT_EQ(job.parents.size(), 1u);
    const auto& parent = plan.jobs[static_cast<size_t>(job.parents[0])];
    EXPECT_EQ(parent.params["data_fraction"], job.params["data_fraction"]);
    EXPECT_EQ(parent.params["attention"], job.params["attention"]);
  }
}

TEST(ExampleSweepsTest, CpuRunsAndTheLmSweepExpand) {
  SweepPlan note = Expand("music-eighth-cpu-note.yaml");
  EXPECT_EQ(note.jobs.size(), 14u);  // 6 trainings, 6 evaluations, 2 generations
  // Attn and CirRelAttn-H, and CirRelAttn-H with the other pitch rule; each
  // evaluated after its own training; whole 8-bar windows (max_len left 0).
  SweepPlan event = Expand("music-eighth-cpu.yaml");
  ASSERT_EQ(event.jobs.size(), 6u);
  for (const auto& job : event.jobs) {
    if (job.kind == "train_music") {
      EXPECT_EQ(job.params["max_len"], 0) << "a set max_len would cut event windows";
      EXPECT_EQ(job.params["window_bars"], 8);
      continue;
    }
    ASSERT_EQ(job.parents.size(), 1u);
    const auto& parent = event.jobs[static_cast<size_t>(job.parents[0])];
    EXPECT_EQ(parent.params["attention"], job.params["attention"]);
    EXPECT_EQ(parent.params["event_pitch_rule"], job.params["event_pitch_rule"]);
  }
  SweepPlan lm = Expand("lm-debian-reference.yaml");
  ASSERT_EQ(lm.jobs.size(), 2u + 24 + 24 + 4);
  EXPECT_EQ(lm.jobs[0].kind, "build_corpus");
  EXPECT_EQ(lm.jobs[1].kind, "train_lm");
  EXPECT_EQ(lm.jobs[1].parents, std::vector<int64_t>{0});
  // The same SAE stages on a model folder named from EXPSVC_MODELS_DIR.
  SweepPlan sae = Expand("debian-reference-sae.yaml");
  EXPECT_EQ(sae.jobs.size(), 1u + 24 + 24 + 4);
  EXPECT_EQ(sae.groups, 12);
}

TEST(ExampleSweepsTest, DemoRunsBothStudies) {
  std::set<std::string> kinds;
  for (const auto& job : Expand("demo.yaml").jobs) kinds.insert(job.kind);
  for (const char* kind : {"train_music", "evaluate_music", "generate_music", "build_corpus", "train_lm", "train_sae",
                           "analyze_sae", "intervene"}) {
    EXPECT_EQ(kinds.count(kind), 1u) << kind;
  }
}

// Study 2 on a CPU: an SAE per layer x checkpoint in one group per
// checkpoint; each analysis reads its own SAE; each intervention the last
// checkpoint's SAE and analysis of its layer.
TEST(ExampleSweepsTest, BilingualTinyGroupsLayersByCheckpoint) {
  SweepPlan plan = Expand("bilingual-tiny.yaml");
  std::map<std::string, int> per_kind;
  for (const auto& job : plan.jobs) ++per_kind[job.kind];
  EXPECT_EQ(per_kind["train_sae"], 10);
  EXPECT_EQ(per_kind["analyze_sae"], 10);
  EXPECT_EQ(per_kind["intervene"], 2);
  for (const auto& stage : plan.stages) {
    if (stage.kind == "train_sae" || stage.kind == "analyze_sae") EXPECT_EQ(stage.groups, 5) << stage.name;
  }
  for (const auto& job : plan.jobs) {
    if (job.kind != "analyze_sae" && job.kind != "intervene") continue;
    int saes = 0;
    for (int64_t parent_index : job.parents) {
      const auto& parent = plan.jobs[static_cast<size_t>(parent_index)];
      if (parent.kind != "train_sae" && parent.kind != "analyze_sae") continue;
      saes += parent.kind == "train_sae";
      EXPECT_EQ(parent.params["layer"], job.params["layer"]);
      EXPECT_EQ(parent.params["checkpoint"], job.params["checkpoint"]);
    }
    EXPECT_EQ(saes, 1) << job.params.dump();
  }
}

}  // namespace
}  // namespace expsvc

namespace expsvc {
namespace {

// The Python example: a grid of command jobs naming the script beside the file.
TEST(ExampleSweepsTest, PythonExampleIsSixCommandJobsNamingItsScript) {
  const std::string folder = absl::StrCat(EXPSVC_EXAMPLES_DIR, "/python");
  std::ifstream in(folder + "/sweep.yaml");
  std::stringstream text;
  text << in.rdbuf();
  auto plan = ParseSweep(ReplaceSweepDir(text.str(), folder), "sweep.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->jobs.size(), 6u);
  for (const auto& job : plan->jobs) {
    EXPECT_EQ(job.kind, "command");
    EXPECT_EQ(job.max_attempts, 3);
    EXPECT_EQ(job.params["command"][1], folder + "/train.py");
  }
}

}  // namespace
}  // namespace expsvc
