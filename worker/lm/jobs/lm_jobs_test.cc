// build_corpus and train_lm through a fake job context on a small generated
// bilingual text corpus: the corpus and tokenizer artifacts, training with
// per-language perplexity, log-spaced iter_NNNNNNN checkpoints in the Hugging
// Face layout that load back, and activations from a saved checkpoint.
#include "worker/lm/jobs/lm_jobs.h"

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "worker/lm/activations/activation_source.h"
#include "worker/lm/checkpoint/hf_checkpoint.h"
#include "worker/lm/corpus/corpus_file_format.h"
#include "worker/lm/model/llama_checkpoint.h"
#include "worker/lm/model/model_tokenizer_check.h"
#include "worker/lm/model/models_dir.h"
#include "worker/lm/tokenizer/tokenizer_identity.h"
#include "worker/runtime/testing/fake_job_context.h"
#include "worker/runtime/tool_process.h"

namespace expsvc::worker {
namespace {

namespace fs = std::filesystem;
using testing::FakeJobContext;

std::string MakeTempDir(const std::string& label) {
  static int counter = 0;
  const fs::path path = fs::path(::testing::TempDir()) / absl::StrCat("lm-jobs-", getpid(), "-", label, "-", ++counter);
  fs::remove_all(path);
  fs::create_directories(path);
  return path.string();
}

// Where a fake job stored its artifact `name`.
std::string UploadedPath(FakeJobContext& job, const std::string& name) {
  return job.FetchArtifact(job.uploaded().at(name)).value();
}

TEST(CheckpointSteps, LogSpacedUpToTheLastStep) {
  EXPECT_EQ(*CheckpointSteps(1000, ""), (std::vector<int64_t>{10, 20, 50, 100, 200, 500, 1000}));
  EXPECT_EQ(*CheckpointSteps(300, ""), (std::vector<int64_t>{10, 20, 50, 100, 200, 300}));
  EXPECT_EQ(*CheckpointSteps(5, ""), (std::vector<int64_t>{5}));
  EXPECT_EQ(*CheckpointSteps(50, "20, 5"), (std::vector<int64_t>{5, 20, 50}));
  EXPECT_FALSE(CheckpointSteps(50, "60").ok());
  EXPECT_FALSE(CheckpointSteps(50, "ten").ok());
  EXPECT_EQ(lm::CheckpointFolderName(10), "iter_0000010");
  EXPECT_EQ(lm::CheckpointFolderName(988240), "iter_0988240");
}

// A few dozen documents per language from small word lists.
std::string WriteBilingualFolders() {
  const std::string root = MakeTempDir("lm-text");
  const std::vector<std::string> english = {"the",  "package", "system", "install",   "network", "file",
                                            "user", "kernel",  "debian", "configure", "service", "archive"};
  const std::vector<std::string> japanese = {"パッケージ", "システム", "ネットワーク", "ファイル",
                                             "設定",       "ユーザー", "カーネル",     "をインストールします",
                                             "は",         "の",       "です",         "サービス"};
  for (const auto& [code, words, separator] : {std::tuple{"en", english, " "}, std::tuple{"ja", japanese, ""}}) {
    fs::create_directories(absl::StrCat(root, "/", code));
    for (int doc = 0; doc < 30; ++doc) {
      std::ofstream out(absl::StrCat(root, "/", code, "/doc", doc, ".txt"));
      uint64_t state = static_cast<uint64_t>(doc) * 7919 + (std::string(code) == "en" ? 1 : 2);
      for (int paragraph = 0; paragraph < 6; ++paragraph) {
        for (int word = 0; word < 40; ++word) {
          state = state * 6364136223846793005ull + 1442695040888963407ull;
          out << words[(state >> 33) % words.size()] << separator;
        }
        out << "\n\n";
      }
    }
  }
  return root;
}

TEST(LmJobs, BuildCorpusThenTrainLmWithLogSpacedCheckpoints) {
  const std::string text_root = WriteBilingualFolders();
  FakeJobContext corpus_job({{"source", "text_folders"},
                             {"text_dir", text_root},
                             {"vocab_size", 600},
                             {"tokens_per_window", 16},
                             {"split_seed", 3}},
                            MakeTempDir("lm-corpus-job"));
  absl::Status status = RunBuildCorpus(corpus_job);
  ASSERT_TRUE(status.ok()) << status;
  for (const char* name : {"corpus.bin", "tokenizer.model", "tokenizer.json"}) {
    ASSERT_EQ(corpus_job.uploaded().count(name), 1u) << name;
  }
  EXPECT_GT(corpus_job.metrics().at("windows_train_en").at(0), 0);
  EXPECT_GT(corpus_job.metrics().at("windows_valid_ja").at(0), 0);

  const std::string checkpoints = MakeTempDir("lm-checkpoints");
  FakeJobContext train_job({{"layers", 2},
                            {"hidden", 32},
                            {"heads", 4},
                            {"kv_heads", 2},
                            {"steps", 25},
                            {"batch_size", 8},
                            {"lr", 3e-3},
                            {"warmup_steps", 2},
                            {"eval_every", 5},
                            {"eval_windows", 16},
                            {"seed", 1},
                            {"threads", 1},
                            {"device", "cpu"},
                            {"checkpoint_dir", checkpoints}},
                           MakeTempDir("lm-train-job"));
  for (const char* name : {"corpus.bin", "tokenizer.model", "tokenizer.json"}) {
    train_job.AddParentArtifactFrom(corpus_job, name);
  }
  status = RunTrainLm(train_job);
  ASSERT_TRUE(status.ok()) << status;
  const auto& metrics = train_job.metrics();
  ASSERT_EQ(metrics.at("train_loss").size(), 25u);
  EXPECT_LT(metrics.at("train_loss").at(25), metrics.at("train_loss").at(1)) << "the loss should fall";
  for (const char* key : {"valid_ppl_en", "valid_ppl_ja", "valid_loss_en", "valid_loss_ja"}) {
    ASSERT_EQ(metrics.count(key), 1u) << key;
    EXPECT_TRUE(std::isfinite(metrics.at(key).at(25))) << key;
  }
  // Checkpoints at 10, 20 and the last step, each a loadable HF folder.
  for (const char* step : {"iter_0000010", "iter_0000020", "iter_0000025"}) {
    EXPECT_EQ(train_job.uploaded().count(absl::StrCat(step, ".config.json")), 1u) << step;
    EXPECT_EQ(train_job.uploaded().count(absl::StrCat(step, ".model.safetensors")), 1u) << step;
    ASSERT_TRUE(fs::exists(absl::StrCat(checkpoints, "/", step, "/tokenizer.json"))) << step;
  }
  EXPECT_EQ(train_job.metrics().at("checkpoint").size(), 3u);
  absl::StatusOr<lm::LlamaModel> model = lm::LoadLlamaModel(absl::StrCat(checkpoints, "/iter_0000025"));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->config().num_key_value_heads, 2);

  // The corpus and every checkpoint name the same tokenizer: from the
  // folder's files, and in the weights' metadata.
  absl::StatusOr<lm::LmCorpus> built = lm::ReadCorpusFile(UploadedPath(corpus_job, "corpus.bin"));
  ASSERT_TRUE(built.ok()) << built.status();
  ASSERT_TRUE(lm::IsTokenizerIdentity(built->tokenizer_identity())) << built->tokenizer_identity();
  const std::string checkpoint = absl::StrCat(checkpoints, "/iter_0000025");
  EXPECT_EQ(*lm::ModelTokenizerIdentity(checkpoint), built->tokenizer_identity());
  absl::StatusOr<std::unique_ptr<lm::HfCheckpoint>> weights = lm::HfCheckpoint::Open(checkpoint);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ((*weights)->metadata().at(lm::kTokenizerIdentityMetadataKey), built->tokenizer_identity());
  absl::StatusOr<lm::CorpusModelCheck> check = lm::CheckCorpusMatchesModel(*built, checkpoint);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->identity_matched);

  // Activations of every layer of the saved checkpoint on the test split.
  absl::StatusOr<lm::LmCorpus> corpus = lm::ReadCorpusFile(
      train_job
          .FetchArtifact(train_job.uploaded().count("corpus.bin") > 0 ? train_job.uploaded().at("corpus.bin")
                                                                      : corpus_job.uploaded().at("corpus.bin"))
          .value());
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  lm::ActivationSource source(*model, *corpus, {.layers = {0, 1}, .split = lm::Split::kTest, .batch_windows = 4});
  int64_t rows = 0;
  ASSERT_TRUE(source
                  .ForEachBatch([&](const lm::ActivationBatch& batch) {
                    rows += batch.rows();
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(rows, source.rows_per_sweep());
  EXPECT_EQ(source.forward_passes(), (source.windows() + 3) / 4);
}

TEST(LmJobs, TrainLmResumesAfterAShutdown) {
  const std::string text_root = WriteBilingualFolders();
  FakeJobContext corpus_job(
      {{"source", "text_folders"}, {"text_dir", text_root}, {"vocab_size", 600}, {"tokens_per_window", 16}},
      MakeTempDir("lm-resume-corpus"));
  ASSERT_TRUE(RunBuildCorpus(corpus_job).ok());
  const nlohmann::json params = {{"layers", 1},       {"hidden", 32},    {"heads", 2},
                                 {"steps", 12},       {"batch_size", 4}, {"eval_every", 100},
                                 {"eval_windows", 4}, {"threads", 1},    {"device", "cpu"}};
  const std::string directory = MakeTempDir("lm-resume");
  FakeJobContext first(params, directory, 1);
  for (const char* name : {"corpus.bin", "tokenizer.model", "tokenizer.json"})
    first.AddParentArtifactFrom(corpus_job, name);
  first.StopAfterMetrics(13);  // params + 6 steps of (train_loss, lr): stops before step 7
  const absl::Status stopped = RunTrainLm(first);
  ASSERT_EQ(stopped.code(), absl::StatusCode::kAborted) << stopped;
  ASSERT_EQ(first.uploaded().count("resume.pt"), 1u);
  const int64_t stopped_at = first.metrics().at("train_loss").rbegin()->first;

  FakeJobContext second(params, directory, 2);
  for (const char* name : {"corpus.bin", "tokenizer.model", "tokenizer.json"})
    second.AddParentArtifactFrom(corpus_job, name);
  second.PromoteUploadsToEarlierAttempt(first);
  const absl::Status finished = RunTrainLm(second);
  ASSERT_TRUE(finished.ok()) << finished;
  ASSERT_EQ(second.replaced_after().size(), 1u);
  EXPECT_EQ(second.replaced_after()[0], stopped_at);
  EXPECT_EQ(second.metrics().at("train_loss").begin()->first, stopped_at + 1) << "no step is trained twice";
  EXPECT_EQ(second.metrics().at("train_loss").rbegin()->first, 12);
}

// build_corpus with `tokenizer`: a model name under $EXPSVC_MODELS_DIR whose
// folder holds only a tokenizer.json (found through a checkpoint folder),
// then train_lm on that corpus, which has no tokenizer.model.
TEST(LmJobs, BuildCorpusWithAModelsTokenizerThenTrain) {
  const std::string text_root = WriteBilingualFolders();
  FakeJobContext trained_tokenizer(
      {{"source", "text_folders"}, {"text_dir", text_root}, {"vocab_size", 600}, {"tokens_per_window", 16}},
      MakeTempDir("lm-given-source"));
  ASSERT_TRUE(RunBuildCorpus(trained_tokenizer).ok());
  const std::string json = UploadedPath(trained_tokenizer, "tokenizer.json");
  const std::string models = MakeTempDir("lm-models");
  fs::create_directories(absl::StrCat(models, "/tiny-model/iter_0000010"));
  fs::copy_file(json, absl::StrCat(models, "/tiny-model/tokenizer.json"));
  setenv(lm::kModelsDirVariable, models.c_str(), 1);

  FakeJobContext corpus_job({{"source", "text_folders"},
                             {"text_dir", text_root},
                             {"tokenizer", "tiny-model/iter_0000010"},
                             {"tokens_per_window", 16}},
                            MakeTempDir("lm-given-corpus"));
  absl::Status status = RunBuildCorpus(corpus_job);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(corpus_job.uploaded().count("tokenizer.model"), 0u);
  ASSERT_EQ(corpus_job.uploaded().count("tokenizer.json"), 1u);
  absl::StatusOr<lm::LmCorpus> corpus = lm::ReadCorpusFile(UploadedPath(corpus_job, "corpus.bin"));
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(corpus->tokenizer_identity(), *lm::TokenizerIdentityOfFile(json));

  FakeJobContext train_job({{"layers", 1},
                            {"hidden", 16},
                            {"heads", 2},
                            {"steps", 3},
                            {"batch_size", 2},
                            {"eval_windows", 2},
                            {"threads", 1},
                            {"device", "cpu"}},
                           MakeTempDir("lm-given-train"));
  for (const char* name : {"corpus.bin", "tokenizer.json"}) train_job.AddParentArtifactFrom(corpus_job, name);
  status = RunTrainLm(train_job);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(train_job.uploaded().count("tokenizer.model"), 0u);
  EXPECT_EQ(train_job.uploaded().count("tokenizer.json"), 1u);

  FakeJobContext missing({{"source", "text_folders"}, {"text_dir", text_root}, {"tokenizer", "no-such-model"}},
                         MakeTempDir("lm-given-missing"));
  status = RunBuildCorpus(missing);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_NE(status.message().find("EXPSVC_MODELS_DIR"), std::string::npos) << status;
  unsetenv(lm::kModelsDirVariable);
}

TEST(ToolProcess, LogsOutputReportsFailuresAndStopsWithTheJob) {
  FakeJobContext context(nlohmann::json::object(), MakeTempDir("tool"));
  ASSERT_TRUE(RunToolProcess(context, {"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2"}).ok());
  const auto& logs = context.logs();
  EXPECT_NE(std::find(logs.begin(), logs.end(), "to-stdout"), logs.end());
  EXPECT_NE(std::find(logs.begin(), logs.end(), "to-stderr"), logs.end());

  const absl::Status failed = RunToolProcess(context, {"/bin/sh", "-c", "echo broken input >&2; exit 3"});
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal);
  EXPECT_NE(failed.message().find("exit code 3"), std::string::npos) << failed;
  EXPECT_NE(failed.message().find("broken input"), std::string::npos) << failed;
  EXPECT_FALSE(RunToolProcess(context, {"/nonexistent/tool"}).ok());

  // A stopping job terminates the child instead of waiting 60 s.
  context.ReportMetric("progress", 1, 0.5);
  context.StopAfterMetrics(1);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(RunToolProcess(context, {"/bin/sleep", "60"}).code(), absl::StatusCode::kAborted);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));

  setenv("EXPSVC_TEST_TOOL", "/nonexistent/tool", 1);
  EXPECT_EQ(FindProjectTool("EXPSVC_TEST_TOOL", {}).status().code(), absl::StatusCode::kNotFound);
  unsetenv("EXPSVC_TEST_TOOL");
  EXPECT_EQ(FindProjectTool("EXPSVC_TEST_TOOL", {"no-such-tool"}).status().code(), absl::StatusCode::kNotFound);
}

TEST(LmJobs, TrainLmRejectsNonPositiveSizes) {
  for (const char* name : {"eval_every", "heads", "batch_size", "steps"}) {
    FakeJobContext context({{name, 0}}, MakeTempDir("lm-bad"));
    const absl::Status status = RunTrainLm(context);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name << ": " << status;
    EXPECT_NE(status.message().find(name), std::string::npos) << status;
  }
}

TEST(LmJobs, TrainLmNeedsACorpusParent) {
  FakeJobContext orphan({{"steps", 5}}, MakeTempDir("lm-orphan"));
  const absl::Status status = RunTrainLm(orphan);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("build_corpus"), std::string::npos) << status;
}

}  // namespace
}  // namespace expsvc::worker
