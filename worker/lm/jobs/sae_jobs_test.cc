// train_sae as a group kind, on a tiny LM and corpus made here: every layer
// trained from shared forward passes, a cancelled or broken member ending
// alone, and a shutdown then re-lease resuming each member to the very SAE
// an uninterrupted run gives.

#include <filesystem>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "worker/lm/corpus/corpus_file_format.h"
#include "worker/lm/jobs/analyze_sae_job.h"
#include "worker/lm/jobs/intervene_job.h"
#include "worker/lm/jobs/sae_jobs.h"
#include "worker/lm/jobs/train_sae_job.h"
#include "worker/lm/model/llama_checkpoint.h"
#include "worker/lm/sae/sae_files.h"
#include "worker/runtime/testing/fake_job_context.h"
#include "worker/runtime/testing/fake_job_group.h"

namespace expsvc::worker {
namespace {

namespace fs = std::filesystem;
using testing::FakeJobContext;
using testing::FakeJobGroup;

constexpr int64_t kLayers = 3;

// A build_corpus and a train_lm job's artifacts, as a parent context.
class SaeJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    parent_ = std::make_unique<FakeJobContext>(nlohmann::json::object(), dir_.path().string() + "/parent");
    lm::LmCorpus corpus(/*vocab_size=*/64, /*bos_id=*/1, /*window_length=*/9, /*split_seed=*/1);
    const uint32_t english = corpus.AddDocument({"en", "English", lm::Language::kEnglish, lm::Split::kTrain});
    const uint32_t japanese = corpus.AddDocument({"ja", "Japanese", lm::Language::kJapanese, lm::Split::kTrain});
    const uint32_t test_en = corpus.AddDocument({"ten", "English", lm::Language::kEnglish, lm::Split::kTest});
    for (int w = 0; w < 40; ++w) {
      std::vector<lm::TokenId> tokens = {1};
      for (int t = 0; t < 8; ++t) tokens.push_back(2 + (w * 13 + t * 7) % 62);
      ASSERT_TRUE(corpus.AddWindow(w < 36 ? (w % 2 == 0 ? english : japanese) : test_en, tokens).ok());
    }
    const std::string corpus_path = dir_.path().string() + "/corpus.bin";
    ASSERT_TRUE(lm::WriteCorpusFile(corpus_path, corpus).ok());
    ASSERT_TRUE(parent_->UploadArtifact("corpus.bin", corpus_path).ok());

    lm::LlamaConfig config;
    config.vocab_size = 64;
    config.hidden_size = 16;
    config.intermediate_size = 32;
    config.num_hidden_layers = kLayers;
    config.num_attention_heads = 4;
    config.num_key_value_heads = 2;
    config.max_position_embeddings = 64;
    torch::manual_seed(3);
    auto model = lm::CreateLlamaModel(config);
    ASSERT_TRUE(model.ok()) << model.status();
    const std::string checkpoint = dir_.path().string() + "/iter_0000010";
    ASSERT_TRUE(lm::SaveLlamaModel(*model, checkpoint).ok());
    ASSERT_TRUE(parent_->UploadArtifact("iter_0000010.config.json", checkpoint + "/config.json").ok());
    ASSERT_TRUE(parent_->UploadArtifact("iter_0000010.model.safetensors", checkpoint + "/model.safetensors").ok());
    // An earlier checkpoint (other weights), the intervention's target.
    auto early = lm::CreateLlamaModel(config);
    ASSERT_TRUE(early.ok());
    const std::string early_dir = dir_.path().string() + "/iter_0000005";
    ASSERT_TRUE(lm::SaveLlamaModel(*early, early_dir).ok());
    ASSERT_TRUE(parent_->UploadArtifact("iter_0000005.config.json", early_dir + "/config.json").ok());
    ASSERT_TRUE(parent_->UploadArtifact("iter_0000005.model.safetensors", early_dir + "/model.safetensors").ok());
  }

  // One member per layer, each with its own folder; `extra` overrides params.
  std::vector<std::unique_ptr<FakeJobContext>> Members(const std::string& name, std::vector<int64_t> layers,
                                                       const nlohmann::json& extra = nlohmann::json::object(),
                                                       int32_t attempt = 1) {
    std::vector<std::unique_ptr<FakeJobContext>> members;
    for (int64_t layer : layers) {
      nlohmann::json params = {{"layer", layer},    {"checkpoint", 10},   {"n_latents", 32},   {"k", 4},
                               {"steps", 8},        {"batch_windows", 4}, {"warmup_steps", 2}, {"threads", 1},
                               {"resume_every", 0}, {"device", "cpu"}};
      params.update(extra);
      auto member = std::make_unique<FakeJobContext>(
          params, absl::StrCat(dir_.path().string(), "/", name, "-layer", layer), attempt);
      for (const char* artifact : {"corpus.bin", "iter_0000010.config.json", "iter_0000010.model.safetensors"}) {
        member->AddParentArtifactFrom(*parent_, artifact);
      }
      members.push_back(std::move(member));
    }
    return members;
  }

  static FakeJobGroup GroupOf(const std::vector<std::unique_ptr<FakeJobContext>>& members) {
    std::vector<FakeJobContext*> pointers;
    for (const auto& member : members) pointers.push_back(member.get());
    return FakeJobGroup(pointers);
  }

  static torch::Tensor EncoderOf(const FakeJobContext& member) {
    const fs::path dir = fs::path(member.artifact_path("x")).parent_path() / "sae-files";
    fs::create_directories(dir);
    for (const auto& [name, ref] : member.uploaded()) {
      if (name.rfind("sae.", 0) == 0)
        fs::copy_file(member.artifact_path(name), dir / name.substr(4), fs::copy_options::overwrite_existing);
    }
    auto loaded = lm::LoadSae(dir);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return loaded.ok() ? loaded->sae->w_enc.clone() : torch::Tensor();
  }

  ::expsvc::fs::TempDir dir_{"sae_jobs_test"};
  std::unique_ptr<FakeJobContext> parent_;
};

TEST_F(SaeJobsTest, EveryLayerTrainsFromOneSharedForwardPassPerBatch) {
  auto members = Members("shared", {1, 2, 3});
  FakeJobGroup group = GroupOf(members);
  RunTrainSaeGroup(group);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(group.outcome(i).has_value());
    EXPECT_TRUE(group.outcome(i)->ok()) << *group.outcome(i);
    const auto& metrics = members[i]->metrics();
    EXPECT_EQ(metrics.at("fvu").size(), 8u);
    EXPECT_TRUE(std::isfinite(metrics.at("fvu").at(8)));
    // 8 steps, 8 LM passes for three SAEs (24 without sharing).
    EXPECT_EQ(metrics.at("forward_passes").at(8), 8);
    EXPECT_EQ(metrics.at("saes_per_forward_pass").at(8), 3);
    EXPECT_TRUE(members[i]->uploaded().contains("sae.cfg.json"));
    EXPECT_TRUE(members[i]->uploaded().contains("sae.sae_weights.safetensors"));
  }
  // Different layers see different activations, so their SAEs differ.
  EXPECT_FALSE(torch::equal(EncoderOf(*members[0]), EncoderOf(*members[1])));
}

TEST_F(SaeJobsTest, ABf16EncoderProductTrainsAndSavesAFloat32Sae) {
  // encoder_precision: bfloat16 rounds only the product; the SAE it saves
  // keeps its float32 parameters.
  auto members = Members("mixed", {2}, {{"encoder_precision", "bfloat16"}});
  FakeJobGroup group = GroupOf(members);
  RunTrainSaeGroup(group);
  ASSERT_TRUE(group.outcome(0).has_value());
  ASSERT_TRUE(group.outcome(0)->ok()) << *group.outcome(0);
  const auto& fvu = members[0]->metrics().at("fvu");
  EXPECT_EQ(fvu.size(), 8u);
  EXPECT_TRUE(std::isfinite(fvu.at(8)));
  EXPECT_EQ(EncoderOf(*members[0]).scalar_type(), torch::kFloat32);
}

TEST_F(SaeJobsTest, ACancelledOrBrokenMemberEndsAloneWhileTheOthersFinish) {
  auto members = Members("alone", {1, 2, 3});
  members[1]->RequestStop();
  members[2] = std::move(Members("alone", {7})[0]);  // the model has 3 layers
  FakeJobGroup group = GroupOf(members);
  RunTrainSaeGroup(group);
  EXPECT_TRUE(group.outcome(0)->ok()) << *group.outcome(0);
  EXPECT_EQ(group.outcome(1)->code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(group.outcome(2)->code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(group.outcome(2)->message().find("layers 1..3"), std::string::npos) << *group.outcome(2);
  EXPECT_EQ(members[0]->metrics().at("fvu").size(), 8u);
  // The broken member never joined the pass; the cancelled one was planned in.
  EXPECT_EQ(members[0]->metrics().at("saes_per_forward_pass").at(8), 2);
}

TEST_F(SaeJobsTest, AGroupStoppedMidwayResumesEveryMemberToTheSameSae) {
  auto whole = Members("whole", {1, 3});
  FakeJobGroup whole_group = GroupOf(whole);
  RunTrainSaeGroup(whole_group);

  auto first = Members("resumed", {1, 3});
  for (auto& member : first) member->StopAfterMetrics(3);  // a worker shutdown after step 3
  FakeJobGroup first_group = GroupOf(first);
  RunTrainSaeGroup(first_group);
  auto second = Members("resumed", {1, 3}, nlohmann::json::object(), /*attempt=*/2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(first_group.outcome(i)->code(), absl::StatusCode::kAborted) << *first_group.outcome(i);
    ASSERT_TRUE(first[i]->uploaded().contains("sae_resume.pt"));
    second[i]->PromoteUploadsToEarlierAttempt(*first[i]);
  }
  FakeJobGroup second_group = GroupOf(second);
  RunTrainSaeGroup(second_group);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(second_group.outcome(i)->ok()) << *second_group.outcome(i);
    EXPECT_EQ(second[i]->replaced_after(), std::vector<int64_t>{3});
    // Steps 4..8 only, each equal to the uninterrupted run's.
    const auto& resumed = second[i]->metrics().at("fvu");
    ASSERT_EQ(resumed.size(), 5u);
    for (const auto& [step, value] : resumed) EXPECT_DOUBLE_EQ(value, whole[i]->metrics().at("fvu").at(step)) << step;
    EXPECT_EQ(second[i]->metrics().at("forward_passes").at(8), 5);
    EXPECT_TRUE(torch::equal(EncoderOf(*second[i]), EncoderOf(*whole[i])));
  }
}

TEST_F(SaeJobsTest, AnalysisAndInterventionReadTheTrainedSaes) {
  auto trained = Members("trained", {1, 2});
  FakeJobGroup train_group = GroupOf(trained);
  RunTrainSaeGroup(train_group);
  ASSERT_TRUE(train_group.outcome(1)->ok()) << *train_group.outcome(1);

  // analyze_sae: both layers from one pass over the 4 test windows.
  std::vector<std::unique_ptr<FakeJobContext>> analyses;
  for (int i = 0; i < 2; ++i) {
    auto member = std::make_unique<FakeJobContext>(
        nlohmann::json{{"layer", i + 1}, {"checkpoint", 10}, {"batch_windows", 4}, {"threads", 1}, {"device", "cpu"}},
        absl::StrCat(dir_.path().string(), "/analysis-", i));
    for (const char* name : {"corpus.bin", "iter_0000010.config.json", "iter_0000010.model.safetensors"}) {
      member->AddParentArtifactFrom(*parent_, name);
    }
    for (const char* name : {"sae.cfg.json", "sae.sae_weights.safetensors"}) {
      member->AddParentArtifactFrom(*trained[i], name);
    }
    analyses.push_back(std::move(member));
  }
  FakeJobGroup analysis_group = GroupOf(analyses);
  RunAnalyzeSaeGroup(analysis_group);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(analysis_group.outcome(i)->ok()) << *analysis_group.outcome(i);
    const auto& metrics = analyses[i]->metrics();
    // The test split is English only: every live feature is English.
    EXPECT_EQ(metrics.at("fraction_japanese").at(0), 0);
    EXPECT_EQ(metrics.at("fraction_mixed").at(0), 0);
    EXPECT_DOUBLE_EQ(metrics.at("fraction_english").at(0) + metrics.at("fraction_dead").at(0), 1);
    EXPECT_GT(metrics.at("live_features").at(0), 0);
    EXPECT_EQ(metrics.at("test_tokens").at(0), 4 * 8);
    EXPECT_EQ(metrics.at("forward_passes").at(0), 1);
    EXPECT_TRUE(std::isfinite(metrics.at("test_fvu").at(0)));
    auto features = ::expsvc::fs::ReadFile(analyses[i]->artifact_path("features.json"));
    ASSERT_TRUE(features.ok());
    EXPECT_EQ(nlohmann::json::parse(*features)["features"].size(), 32u);
  }

  // intervene: layer 2's English features steer the step-5 model; the
  // Japanese set is empty, so it must leave the perplexity exactly alone.
  FakeJobContext intervention(nlohmann::json{{"layer", 2},
                                             {"checkpoint", 10},
                                             {"target_checkpoint", 5},
                                             {"batch_windows", 4},
                                             {"threads", 1},
                                             {"device", "cpu"}},
                              dir_.path().string() + "/intervention");
  for (const char* name : {"corpus.bin", "iter_0000010.config.json", "iter_0000010.model.safetensors",
                           "iter_0000005.config.json", "iter_0000005.model.safetensors"}) {
    intervention.AddParentArtifactFrom(*parent_, name);
  }
  for (const char* name : {"sae.cfg.json", "sae.sae_weights.safetensors"}) {
    intervention.AddParentArtifactFrom(*trained[1], name);
  }
  intervention.AddParentArtifactFrom(*analyses[1], "features.json");
  const absl::Status intervened = RunIntervene(intervention);
  ASSERT_TRUE(intervened.ok()) << intervened;
  const auto& metrics = intervention.metrics();
  EXPECT_EQ(metrics.at("features_japanese").at(0), 0);
  EXPECT_GT(metrics.at("features_english").at(0), 0);
  EXPECT_DOUBLE_EQ(metrics.at("ppl_en_japanese").at(0), metrics.at("ppl_en_none").at(0));
  EXPECT_NE(metrics.at("ppl_en_english").at(0), metrics.at("ppl_en_none").at(0));
  EXPECT_FALSE(metrics.contains("ppl_ja_none"));  // no Japanese test windows
}

TEST(SaeJobs, RegistersTrainSaeAsAGroupKind) {
  JobKindRegistry registry;
  ASSERT_TRUE(RegisterSaeJobs(registry).ok());
  EXPECT_NE(registry.FindGroup("train_sae"), nullptr);
  EXPECT_EQ(registry.Find("train_sae"), nullptr);
  EXPECT_NE(registry.FindGroup("analyze_sae"), nullptr);
  EXPECT_NE(registry.Find("intervene"), nullptr);
}

}  // namespace
}  // namespace expsvc::worker
