// examples/sweeps/llmjp-sae.yaml: the SAE study on the five LLM-jp-3 models
// expands to the study's 1572 SAEs (layers x checkpoints summed over the
// models) in 79 model x checkpoint groups, and every analysis and
// intervention job finds its parents.
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sweep/sweep_spec.h"
#include "gtest/gtest.h"

namespace expsvc {
namespace {

using Json = nlohmann::json;

struct Model {
  int layers;
  int checkpoints;
  int64_t final_step;
};

// The models table of the study (docs/studies.md).
const std::map<std::string, Model>& Models() {
  static const auto* const models = new std::map<std::string, Model>{
      {"llm-jp-3-150m", {12, 16, 988240}}, {"llm-jp-3-440m", {16, 16, 988240}}, {"llm-jp-3-980m", {20, 16, 988240}},
      {"llm-jp-3-1.8b", {24, 16, 988240}}, {"llm-jp-3-3.7b", {28, 15, 494120}},
  };
  return *models;
}

class LlmjpSaeSweepTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = absl::StrCat(EXPSVC_EXAMPLES_DIR, "/sweeps/llmjp-sae.yaml");
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot read " << path;
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<SweepPlan> plan = ParseSweep(text.str(), path);
    ASSERT_TRUE(plan.ok()) << plan.status();
    plan_ = new SweepPlan(*std::move(plan));
  }
  static void TearDownTestSuite() {
    delete plan_;
    plan_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(plan_, nullptr); }

  static const StageSummary* Stage(const std::string& name) {
    for (const StageSummary& stage : plan_->stages) {
      if (stage.name == name) return &stage;
    }
    return nullptr;
  }
  static std::vector<const PlannedJob*> JobsOf(const std::string& stage) {
    std::vector<const PlannedJob*> jobs;
    for (const PlannedJob& job : plan_->jobs) {
      if (job.stage == stage) jobs.push_back(&job);
    }
    return jobs;
  }
  static const PlannedJob& Job(int64_t index) { return plan_->jobs.at(static_cast<size_t>(index)); }

  static SweepPlan* plan_;
};

SweepPlan* LlmjpSaeSweepTest::plan_ = nullptr;

TEST_F(LlmjpSaeSweepTest, SaeAndAnalysisAre1572JobsIn79Groups) {
  for (const char* name : {"sae", "analysis"}) {
    const StageSummary* stage = Stage(name);
    ASSERT_NE(stage, nullptr) << name;
    EXPECT_EQ(stage->jobs, 1572) << name;
    EXPECT_EQ(stage->groups, 79) << name;
  }
  ASSERT_NE(Stage("corpus"), nullptr);
  EXPECT_EQ(Stage("corpus")->jobs, 1);
  ASSERT_NE(Stage("intervention"), nullptr);
  EXPECT_EQ(Stage("intervention")->jobs, 10);  // 5 models x 2 target checkpoints
  EXPECT_EQ(plan_->groups, 158);
  EXPECT_EQ(plan_->jobs.size(), 1u + 1572u + 1572u + 10u);
}

TEST_F(LlmjpSaeSweepTest, EveryModelHasEveryLayerAtEveryCheckpoint) {
  for (const char* name : {"sae", "analysis"}) {
    std::map<std::string, std::set<int64_t>> layers, steps;
    std::map<std::string, int> jobs;
    std::set<std::string> groups;
    for (const PlannedJob* job : JobsOf(name)) {
      const std::string model = job->params.at("model").get<std::string>();
      layers[model].insert(job->params.at("layer").get<int64_t>());
      steps[model].insert(job->params.at("checkpoint").get<int64_t>());
      ++jobs[model];
      groups.insert(job->group_key);
      EXPECT_EQ(job->resources.gpus, 1);
      EXPECT_GT(job->resources.memory_mb, 0);
    }
    ASSERT_EQ(jobs.size(), Models().size()) << name;
    for (const auto& [model, spec] : Models()) {
      EXPECT_EQ(jobs[model], spec.layers * spec.checkpoints) << name << " " << model;
      ASSERT_EQ(layers[model].size(), static_cast<size_t>(spec.layers)) << model;
      EXPECT_EQ(*layers[model].begin(), 1) << model;  // the authors' numbering, 1..L
      EXPECT_EQ(*layers[model].rbegin(), spec.layers) << model;
      ASSERT_EQ(steps[model].size(), static_cast<size_t>(spec.checkpoints)) << model;
      EXPECT_EQ(*steps[model].begin(), 10) << model;
      EXPECT_EQ(*steps[model].rbegin(), spec.final_step) << model;
    }
    EXPECT_EQ(groups.size(), 79u);
    EXPECT_TRUE(groups.contains(absl::StrCat(name, "|model=\"llm-jp-3-3.7b\"|checkpoint=494120")));
  }
  const PlannedJob* first_sae = JobsOf("sae").front();
  EXPECT_EQ(first_sae->params.at("n_latents"), 32768);
  EXPECT_EQ(first_sae->params.at("k"), 32);
}

TEST_F(LlmjpSaeSweepTest, EachAnalysisDependsOnTheCorpusAndItsSae) {
  for (const PlannedJob* job : JobsOf("analysis")) {
    ASSERT_EQ(job->parents.size(), 2u) << job->params.dump();
    EXPECT_EQ(Job(job->parents[0]).stage, "corpus");
    const PlannedJob& sae = Job(job->parents[1]);
    EXPECT_EQ(sae.stage, "sae");
    for (const char* axis : {"model", "layer", "checkpoint"}) EXPECT_EQ(sae.params.at(axis), job->params.at(axis));
  }
}

TEST_F(LlmjpSaeSweepTest, EachInterventionSteersAMidCheckpointWithTheFinalSae) {
  std::map<std::string, std::set<int64_t>> targets;
  for (const PlannedJob* job : JobsOf("intervention")) {
    const std::string model = job->params.at("model").get<std::string>();
    ASSERT_TRUE(Models().contains(model)) << model;
    const Model& spec = Models().at(model);
    EXPECT_EQ(job->params.at("checkpoint"), spec.final_step) << model;
    EXPECT_EQ(job->params.at("layer"), spec.layers / 2) << model;
    targets[model].insert(job->params.at("target_checkpoint").get<int64_t>());
    // The corpus, then the final checkpoint's SAE and its analysis, one each.
    ASSERT_EQ(job->parents.size(), 3u) << job->params.dump();
    EXPECT_EQ(Job(job->parents[0]).stage, "corpus");
    EXPECT_EQ(Job(job->parents[1]).stage, "sae");
    EXPECT_EQ(Job(job->parents[2]).stage, "analysis");
    for (int64_t parent : {job->parents[1], job->parents[2]}) {
      for (const char* axis : {"model", "layer", "checkpoint"}) {
        EXPECT_EQ(Job(parent).params.at(axis), job->params.at(axis)) << model << " " << axis;
      }
    }
  }
  ASSERT_EQ(targets.size(), Models().size());
  for (const auto& [model, steps] : targets) EXPECT_EQ(steps, (std::set<int64_t>{1000, 10000})) << model;
}

}  // namespace
}  // namespace expsvc
