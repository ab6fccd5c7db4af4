// train_music on a small synthetic POP909-shaped corpus, through a fake job
// context: it trains, evaluates, checkpoints, keeps the best model, resumes.

#include "worker/jobs/train_music.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "worker/data/testing/music_test_data.h"
#include "worker/jobs/testing/fake_job_context.h"

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
    return {{"representation", representation}, {"attention", attention}, {"d_model", 32}, {"n_layers", 2},
            {"n_heads", 2}, {"d_ff", 64}, {"dropout", 0.0}, {"max_len", 160}, {"batch_size", 4},
            {"lr", 3e-3}, {"lr_schedule", "constant"}, {"warmup_steps", 0}, {"steps", 30},
            {"eval_every", 10}, {"eval_windows", 8}, {"checkpoint_every", 10}, {"data_fraction", 1.0},
            {"max_songs", 0}, {"max_notes_per_window", 0}, {"window_bars", 4}, {"split_seed", 1},
            {"seed", 3}, {"data_dir", *data_dir_}, {"device", "cpu"}, {"threads", 1}};
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
