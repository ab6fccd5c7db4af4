// train_music on a small synthetic POP909-shaped corpus, through a fake job
// context: it trains, evaluates, checkpoints, keeps the best model, resumes;
// then evaluate_music and generate_music use the trained model.

#include "worker/music/jobs/train_music.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "gtest/gtest.h"
#include "worker/music/data/grid_midi.h"
#include "worker/music/data/midi_file.h"
#include "worker/music/data/testing/music_test_data.h"
#include "worker/music/jobs/evaluate_music.h"
#include "worker/runtime/testing/fake_job_context.h"

namespace expsvc::worker {
namespace {

using testing::FakeJobContext;

class TrainMusicTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = new std::string(music::testing::MakeTempDir("train-music-data"));
    const std::string pop909 = absl::StrCat(*data_dir_, "/POP909");
    for (int song = 1; song <= 12; ++song) {
      char name[8];
      std::snprintf(name, sizeof(name), "%03d", song);
      ASSERT_TRUE(music::testing::WriteSyntheticSong(pop909, name, music::testing::RandomBars(8, song, 6, 24)).ok());
    }
    setenv("EXPSVC_CACHE_DIR", music::testing::MakeTempDir("train-music-cache").c_str(), 1);
  }

  static nlohmann::json TinyParams(const std::string& representation, const std::string& attention) {
    return {{"representation", representation},
            {"attention", attention},
            {"d_model", 32},
            {"n_layers", 2},
            {"n_heads", 2},
            {"d_ff", 64},
            {"dropout", 0.0},
            {"max_len", 160},
            {"batch_size", 4},
            {"lr", 3e-3},
            {"lr_schedule", "constant"},
            {"warmup_steps", 0},
            {"steps", 30},
            {"eval_every", 10},
            {"eval_windows", 8},
            {"checkpoint_every", 10},
            {"data_fraction", 1.0},
            {"max_songs", 0},
            {"max_notes_per_window", 0},
            {"window_bars", 4},
            {"split_seed", 1},
            {"seed", 3},
            {"data_dir", *data_dir_},
            {"device", "cpu"},
            {"threads", 1}};
  }

  static double MeanOf(const std::map<int64_t, double>& series, int64_t first, int64_t last) {
    double sum = 0;
    int count = 0;
    for (const auto& [step, value] : series) {
      if (step >= first && step <= last) {
        sum += value;
        ++count;
      }
    }
    return count > 0 ? sum / count : NAN;
  }

  static inline std::string* data_dir_ = nullptr;
};

TEST_F(TrainMusicTest, TrainsEvaluatesAndKeepsTheBestModel) {
  FakeJobContext context(TinyParams("event", "CirRelAttn-H"), music::testing::MakeTempDir("train-music-run"));
  absl::Status status = RunTrainMusic(context);
  ASSERT_TRUE(status.ok()) << status;
  const auto& metrics = context.metrics();
  ASSERT_EQ(metrics.at("train_loss").size(), 30u);
  EXPECT_EQ(metrics.at("val_loss").size(), 3u);
  EXPECT_LT(MeanOf(metrics.at("train_loss"), 26, 30), MeanOf(metrics.at("train_loss"), 1, 5))
      << "the loss should fall on this small corpus";
  EXPECT_GT(metrics.at("params").at(0), 1000);
  EXPECT_GT(metrics.at("ms_per_note").at(30), 0);
  EXPECT_TRUE(std::isfinite(metrics.at("test_loss").at(30)));
  EXPECT_LE(metrics.at("best_val_loss").at(30), metrics.at("val_loss").at(10));
  for (const char* name : {"best.pt", "checkpoint.pt", "model.json"}) {
    EXPECT_EQ(context.uploaded().count(name), 1u) << name;
  }
}

TEST_F(TrainMusicTest, ResumesFromItsCheckpointAfterAShutdown) {
  const std::string directory = music::testing::MakeTempDir("train-music-resume");
  FakeJobContext first(TinyParams("note", "Attn"), directory, 1);
  first.StopAfterMetrics(30);  // about 14 steps: past the checkpoint at step 10
  absl::Status stopped = RunTrainMusic(first);
  ASSERT_EQ(stopped.code(), absl::StatusCode::kAborted) << stopped;
  ASSERT_EQ(first.uploaded().count("checkpoint.pt"), 1u);
  const int64_t stopped_at = first.metrics().at("train_loss").rbegin()->first;

  FakeJobContext second(TinyParams("note", "Attn"), directory, 2);
  second.PromoteUploadsToEarlierAttempt(first);
  absl::Status finished = RunTrainMusic(second);
  ASSERT_TRUE(finished.ok()) << finished;
  ASSERT_EQ(second.replaced_after().size(), 1u);
  EXPECT_EQ(second.replaced_after()[0], stopped_at) << "it resumes where the shutdown checkpoint was taken";
  const auto& train_loss = second.metrics().at("train_loss");
  EXPECT_EQ(train_loss.begin()->first, stopped_at + 1);
  EXPECT_EQ(train_loss.rbegin()->first, 30);
}

// max_len 0 fits the longest window; a max_len that cuts windows is said
// loudly and the share cut is a metric.
TEST_F(TrainMusicTest, NoWindowIsCutSilently) {
  nlohmann::json params = TinyParams("event", "Attn");
  params["steps"] = 2;
  params["eval_every"] = 2;
  params["max_len"] = 0;
  FakeJobContext fitted(params, music::testing::MakeTempDir("train-music-fit"));
  ASSERT_TRUE(RunTrainMusic(fitted).ok());
  const double longest = fitted.metrics().at("longest_window_tokens").at(0);
  EXPECT_GT(longest, 8);
  EXPECT_EQ(fitted.metrics().at("truncated_window_fraction").at(0), 0.0);
  const nlohmann::json config = nlohmann::json::parse(
      fs::ReadFile(fitted.FetchArtifact(fitted.uploaded().at("model.json")).value()).value());
  EXPECT_EQ(config.at("max_len").get<double>(), longest) << "the resolved length is what evaluation uses";
  EXPECT_EQ(config.at("data").at("event_pitch_rule"), "causal");

  params["max_len"] = 24;
  FakeJobContext cut(params, music::testing::MakeTempDir("train-music-cut"));
  ASSERT_TRUE(RunTrainMusic(cut).ok());
  EXPECT_GT(cut.metrics().at("truncated_window_fraction").at(0), 0.5);
  bool warned = false;
  for (const std::string& line : cut.logs()) warned |= line.find("WARNING data: windows longer than max_len 24") == 0;
  EXPECT_TRUE(warned);
}

TEST_F(TrainMusicTest, BadParametersAndMissingDataGetClearErrors) {
  auto params = TinyParams("event", "Attn");
  params["d_model"] = 30;
  params["n_heads"] = 4;
  FakeJobContext odd_heads(params, music::testing::MakeTempDir("train-music-bad"));
  absl::Status status = RunTrainMusic(odd_heads);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("n_heads"), std::string::npos) << status;

  params = TinyParams("event", "Attn");
  params["data_dir"] = "/nonexistent/folder";
  FakeJobContext no_data(params, music::testing::MakeTempDir("train-music-nodata"));
  status = RunTrainMusic(no_data);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent/folder"), std::string::npos) << status;
}

}  // namespace
}  // namespace expsvc::worker

namespace expsvc::worker {
namespace {

class MusicEvaluationTest : public TrainMusicTest {
 protected:
  // A trained note-based model's artifacts, shared by the tests below.
  static void SetUpTestSuite() {
    TrainMusicTest::SetUpTestSuite();
    training_ = new FakeJobContext(TinyParams("note", "CirRelAttn-H"), music::testing::MakeTempDir("eval-train"));
    ASSERT_TRUE(RunTrainMusic(*training_).ok());
  }

  static void GiveParentArtifacts(FakeJobContext& context) {
    for (const char* name : {"model.json", "best.pt"}) context.AddParentArtifactFrom(*training_, name);
  }

  static nlohmann::json EvaluateParams() {
    return {{"windows", 4},
            {"sample_seed", 1},
            {"continuations", 1},
            {"continuation_prompt_bars", 1},
            {"batch_size", 4},
            {"top_p", 0.9},
            {"seed", 5},
            {"representation", "note"},
            {"attention", "CirRelAttn-H"},
            {"device", "cpu"},
            {"threads", 1}};
  }

  static inline FakeJobContext* training_ = nullptr;
};

TEST_F(MusicEvaluationTest, EvaluateReportsEveryMetricInRange) {
  FakeJobContext context(EvaluateParams(), music::testing::MakeTempDir("eval-run"));
  GiveParentArtifacts(context);
  absl::Status status = RunEvaluateMusic(context);
  ASSERT_TRUE(status.ok()) << status;
  const auto& metrics = context.metrics();
  EXPECT_TRUE(std::isfinite(metrics.at("eval_loss").at(0)));
  for (const char* key :
       {"note_f1", "pianoroll_f1", "grooving_similarity", "chroma_similarity", "pitch_range_similarity"}) {
    ASSERT_EQ(metrics.count(key), 1u) << key;
    const double value = metrics.at(key).begin()->second;
    EXPECT_GE(value, 0.0) << key;
    EXPECT_LE(value, 1.0) << key;
  }
  EXPECT_EQ(metrics.at("eval_windows").begin()->second, 4);
  ASSERT_EQ(context.uploaded().count("self_similarity.json"), 1u);
  const nlohmann::json matrices = nlohmann::json::parse(
      fs::ReadFile(context.FetchArtifact(context.uploaded().at("self_similarity.json")).value()).value());
  ASSERT_EQ(matrices.at("pieces").size(), 1u);
  EXPECT_EQ(matrices["pieces"][0]["generated"]["size"], 4);
  // Scored only over the bars actually generated, and why it stopped.
  const int64_t end_bar = matrices["pieces"][0]["generated_end_bar"];
  EXPECT_GE(end_bar, 1);
  EXPECT_LE(end_bar, 4);
  EXPECT_EQ(matrices["pieces"][0]["generated"]["bars_scored"], end_bar);
  double stop_shares = 0;
  for (const char* reason : {"end_bar", "eos", "context_full", "max_new_tokens"}) {
    stop_shares += metrics.at(absl::StrCat("continuation_stop_", reason)).begin()->second;
  }
  EXPECT_DOUBLE_EQ(stop_shares, 1.0);
  EXPECT_EQ(metrics.at("continuation_reached_end").begin()->second, end_bar == 4 ? 1.0 : 0.0);
  EXPECT_EQ(metrics.at("continuation_bars_generated").begin()->second, static_cast<double>(end_bar - 1));
}

TEST_F(MusicEvaluationTest, GenerateWritesMidiAndRepeatsPerSeed) {
  const nlohmann::json params = {{"pieces", 2}, {"prompt_bars", 1}, {"generate_bars", 3},
                                 {"seed", 9},   {"device", "cpu"},  {"threads", 1}};
  std::string first_tokens;
  for (int run = 0; run < 2; ++run) {
    FakeJobContext context(params, music::testing::MakeTempDir("generate-run"));
    GiveParentArtifacts(context);
    absl::Status status = RunGenerateMusic(context);
    ASSERT_TRUE(status.ok()) << status;
    for (const char* name : {"piece_0.mid", "piece_1.mid", "original_0.mid", "piece_0.json"}) {
      ASSERT_EQ(context.uploaded().count(name), 1u) << name;
    }
    const std::string midi = context.FetchArtifact(context.uploaded().at("piece_0.mid")).value();
    absl::StatusOr<music::MidiContents> contents = music::ReadMidiFile(midi);
    ASSERT_TRUE(contents.ok()) << contents.status();
    absl::StatusOr<std::vector<music::Bar>> bars = music::GridFromMidi(*contents);
    ASSERT_TRUE(bars.ok()) << bars.status();
    nlohmann::json record = nlohmann::json::parse(
        fs::ReadFile(context.FetchArtifact(context.uploaded().at("piece_0.json")).value()).value());
    record.erase("seconds");
    if (run == 0) {
      first_tokens = record.dump();
      EXPECT_GT(record.at("generated_tokens").get<int64_t>(), 0);
    } else {
      EXPECT_EQ(record.dump(), first_tokens) << "the same seed must give the same piece";
    }
  }
}

TEST_F(MusicEvaluationTest, WrongParentOrLabelsGetClearErrors) {
  FakeJobContext orphan(EvaluateParams(), music::testing::MakeTempDir("eval-orphan"));
  absl::Status status = RunEvaluateMusic(orphan);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("depends_on"), std::string::npos) << status;

  nlohmann::json params = EvaluateParams();
  params["attention"] = "RelAttn";
  FakeJobContext mislabelled(params, music::testing::MakeTempDir("eval-label"));
  GiveParentArtifacts(mislabelled);
  status = RunEvaluateMusic(mislabelled);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("CirRelAttn-H"), std::string::npos) << status;
  EXPECT_TRUE(mislabelled.metrics().empty());

  params = EvaluateParams();
  params["continuation_prompt_bars"] = 0;
  FakeJobContext bad_prompt(params, music::testing::MakeTempDir("eval-bad-prompt"));
  GiveParentArtifacts(bad_prompt);
  status = RunEvaluateMusic(bad_prompt);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(bad_prompt.metrics().empty()) << "checked before any work";
  params = EvaluateParams();
  params["batch_size"] = 0;
  FakeJobContext bad_batch(params, music::testing::MakeTempDir("eval-bad-batch"));
  GiveParentArtifacts(bad_batch);
  EXPECT_EQ(RunEvaluateMusic(bad_batch).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace expsvc::worker
