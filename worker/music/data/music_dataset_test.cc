#include "worker/music/data/music_dataset.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>

#include "absl/strings/str_format.h"
#include "common/fs/file_io.h"
#include "worker/music/data/music_metrics.h"
#include "worker/music/data/note_tokens.h"
#include "worker/music/data/self_similarity.h"
#include "worker/music/data/testing/music_test_data.h"

namespace expsvc::music {
namespace {

// <root>/POP909 with `count` synthetic songs of 20 bars; returns <root>.
std::string SyntheticDataDir(int count) {
  const std::string root = testing::MakeTempDir("dataset");
  for (int i = 1; i <= count; ++i) {
    const std::vector<Bar> bars = testing::RandomBars(20, static_cast<uint64_t>(i), 12, 48);
    EXPECT_TRUE(testing::WriteSyntheticSong(root + "/POP909", absl::StrFormat("%03d", i), bars).ok());
  }
  return root;
}

MusicDataConfig SyntheticConfig(const std::string& data_dir) {
  MusicDataConfig config;
  config.data_dir = data_dir;
  config.corpus.window_bars = 8;
  return config;
}

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) files.push_back(entry.path().string());
  return files;
}

TEST(MusicDatasetTest, BuildsThenHitsTheCache) {
  const std::string data_dir = SyntheticDataDir(10);
  const std::string cache_dir = testing::MakeTempDir("cache");
  const MusicDataConfig config = SyntheticConfig(data_dir);

  absl::StatusOr<MusicDataset> built = LoadOrBuildMusicDataset(config, cache_dir);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_FALSE(built->loaded_from_cache());
  const MusicDatasetCounts counts = built->counts();
  EXPECT_EQ(counts.songs_used, 10);
  EXPECT_EQ(counts.songs_per_split, (std::array<int32_t, 3>{8, 1, 1}));
  EXPECT_EQ(counts.windows, (std::array<int64_t, 3>{8 * 13, 13, 13}));
  ASSERT_EQ(FilesIn(cache_dir).size(), 1u);  // no temporary left behind
  EXPECT_EQ(FilesIn(cache_dir)[0], built->cache_path());

  absl::StatusOr<MusicDataset> cached = LoadOrBuildMusicDataset(config, cache_dir);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_TRUE(cached->loaded_from_cache());
  for (Split split : kAllSplits) {
    ASSERT_EQ(cached->size(split), built->size(split));
    for (size_t i = 0; i < built->size(split); ++i) {
      absl::StatusOr<TokenSequence> a = built->Sequence(split, i);
      absl::StatusOr<TokenSequence> b = cached->Sequence(split, i);
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_EQ(*a, *b);
    }
  }
}

TEST(MusicDatasetTest, ContentChangingOptionsMissTheCache) {
  const std::string data_dir = SyntheticDataDir(6);
  const std::string cache_dir = testing::MakeTempDir("cache-keys");
  MusicDataConfig config = SyntheticConfig(data_dir);
  ASSERT_TRUE(LoadOrBuildMusicDataset(config, cache_dir).ok());

  config.representation = Representation::kNoteBased;  // tokens are made on demand: same cache
  absl::StatusOr<MusicDataset> note_based = LoadOrBuildMusicDataset(config, cache_dir);
  ASSERT_TRUE(note_based.ok());
  EXPECT_TRUE(note_based->loaded_from_cache());
  absl::StatusOr<TokenSequence> sequence = note_based->Sequence(Split::kTrain, 0);
  ASSERT_TRUE(sequence.ok());
  EXPECT_EQ(sequence->fields_per_token, kNoteFieldCount);

  int expected_files = 1;
  for (auto change : std::vector<std::function<void(MusicDataConfig&)>>{
           [](MusicDataConfig& c) { c.corpus.split_seed = 99; },
           [](MusicDataConfig& c) { c.corpus.max_notes_per_window = 50; },
           [](MusicDataConfig& c) { c.corpus.stride_bars = 2; }, [](MusicDataConfig& c) { c.corpus.window_bars = 4; },
           [](MusicDataConfig& c) { c.corpus.data_fraction = 0.5; },
           [](MusicDataConfig& c) { c.corpus.max_songs = 3; }}) {
    MusicDataConfig changed = SyntheticConfig(data_dir);
    change(changed);
    absl::StatusOr<MusicDataset> dataset = LoadOrBuildMusicDataset(changed, cache_dir);
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    EXPECT_FALSE(dataset->loaded_from_cache());
    EXPECT_EQ(FilesIn(cache_dir).size(), static_cast<size_t>(++expected_files));
  }

  // Touching a song file changes the fingerprint.
  std::filesystem::last_write_time(data_dir + "/POP909/001/001.mid",
                                   std::filesystem::file_time_type::clock::now() + std::chrono::hours(1));
  absl::StatusOr<MusicDataset> after_touch = LoadOrBuildMusicDataset(SyntheticConfig(data_dir), cache_dir);
  ASSERT_TRUE(after_touch.ok());
  EXPECT_FALSE(after_touch->loaded_from_cache());
}

TEST(MusicDatasetTest, CorruptCacheIsRebuiltNotTrusted) {
  const std::string data_dir = SyntheticDataDir(5);
  const std::string cache_dir = testing::MakeTempDir("cache-corrupt");
  const MusicDataConfig config = SyntheticConfig(data_dir);
  absl::StatusOr<MusicDataset> built = LoadOrBuildMusicDataset(config, cache_dir);
  ASSERT_TRUE(built.ok());
  const std::string path = built->cache_path();
  std::string bytes = *fs::ReadFile(path);

  for (const std::string& corrupted :
       {bytes.substr(0, bytes.size() / 2), std::string(), std::string("garbage"),
        bytes.substr(0, 100) + std::string(1, static_cast<char>(bytes[100] ^ 1)) + bytes.substr(101)}) {
    ASSERT_TRUE(fs::WriteFileAtomically(path, corrupted).ok());
    std::vector<std::string> warnings;
    absl::StatusOr<MusicDataset> rebuilt =
        LoadOrBuildMusicDataset(config, cache_dir, {.warning = [&](const std::string& w) { warnings.push_back(w); }});
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
    EXPECT_FALSE(rebuilt->loaded_from_cache());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find(path), std::string::npos);
    EXPECT_EQ(rebuilt->counts().windows, built->counts().windows);
    EXPECT_EQ(*fs::ReadFile(path), bytes) << "the rebuild rewrites a good cache";
  }
}

TEST(MusicDatasetTest, SkippedSongsAreCountedAndCached) {
  const std::string data_dir = SyntheticDataDir(6);
  ASSERT_TRUE(fs::WriteFileAtomically(data_dir + "/POP909/002/002.mid", "truncated").ok());
  const std::string cache_dir = testing::MakeTempDir("cache-skips");
  std::vector<std::string> warnings;
  const CorpusLoadCallbacks callbacks{.warning = [&](const std::string& w) { warnings.push_back(w); }};
  absl::StatusOr<MusicDataset> built = LoadOrBuildMusicDataset(SyntheticConfig(data_dir), cache_dir, callbacks);
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(built->counts().songs_skipped, 1);
  EXPECT_EQ(built->counts().songs_used, 5);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("002.mid"), std::string::npos);
  absl::StatusOr<MusicDataset> cached = LoadOrBuildMusicDataset(SyntheticConfig(data_dir), cache_dir, callbacks);
  ASSERT_TRUE(cached.ok());
  EXPECT_TRUE(cached->loaded_from_cache());
  EXPECT_EQ(cached->counts().songs_skipped, 1);
}

TEST(MusicDatasetTest, NoCacheDirMeansNoCache) {
  const std::string data_dir = SyntheticDataDir(3);
  absl::StatusOr<MusicDataset> dataset = LoadOrBuildMusicDataset(SyntheticConfig(data_dir), "");
  ASSERT_TRUE(dataset.ok());
  EXPECT_TRUE(dataset->cache_path().empty());
  absl::StatusOr<std::vector<TokenSequence>> valid = dataset->MaterializeSplit(Split::kValid);
  ASSERT_TRUE(valid.ok());
  EXPECT_EQ(valid->size(), dataset->size(Split::kValid));
  EXPECT_FALSE(dataset->Sequence(Split::kValid, dataset->size(Split::kValid)).ok());
}

TEST(MusicDatasetTest, MissingDataIsNotFound) {
  MusicDataConfig config;
  config.data_dir = testing::MakeTempDir("no-data");
  absl::StatusOr<MusicDataset> dataset = LoadOrBuildMusicDataset(config, "");
  ASSERT_FALSE(dataset.ok());
  EXPECT_TRUE(absl::IsNotFound(dataset.status())) << dataset.status();
}

TEST(MusicDatasetTest, RealCorpusSmallRun) {
  if (testing::LoadFirstRealPop909Songs(1).empty()) GTEST_SKIP() << testing::kNoPop909Message;
  MusicDataConfig config;  // data_dir from EXPSVC_DATA_DIR
  config.corpus.max_songs = 30;
  const std::string cache_dir = testing::MakeTempDir("real-cache");
  absl::StatusOr<MusicDataset> built = LoadOrBuildMusicDataset(config, cache_dir);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_EQ(built->counts().songs_used, 30);
  EXPECT_EQ(built->counts().songs_skipped, 0);
  for (Split split : kAllSplits) EXPECT_GT(built->size(split), 0u) << SplitName(split);
  absl::StatusOr<MusicDataset> cached = LoadOrBuildMusicDataset(config, cache_dir);
  ASSERT_TRUE(cached.ok());
  EXPECT_TRUE(cached->loaded_from_cache());
  EXPECT_EQ(cached->counts().windows, built->counts().windows);
}

// A model that predicts every token of a test window right generates the
// window's tokens; detokenised, those are its bars. Compared with the raw
// window, durations that are not a class value (13, 50, ...) make even that
// perfect generation score below 1; compared with the reference bars every
// metric is exactly 1.
TEST(MusicDatasetTest, TheTruthAsGenerationScoresOneOnEveryMetric) {
  const std::string data_dir = SyntheticDataDir(10);
  for (Representation representation : {Representation::kEventBased, Representation::kNoteBased}) {
    SCOPED_TRACE(RepresentationName(representation));
    MusicDataConfig config = SyntheticConfig(data_dir);
    config.representation = representation;
    absl::StatusOr<MusicDataset> dataset = LoadOrBuildMusicDataset(config, "");
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    bool raw_falls_short = false;
    for (size_t w = 0; w < dataset->size(Split::kTest); ++w) {
      absl::StatusOr<TokenSequence> tokens = dataset->Sequence(Split::kTest, w);
      ASSERT_TRUE(tokens.ok());
      absl::StatusOr<std::vector<Bar>> perfect = representation == Representation::kEventBased
                                                     ? DetokenizeEventBased(tokens->tokens, 8)
                                                     : DetokenizeNoteBased(tokens->tokens, 8);
      absl::StatusOr<std::vector<Bar>> reference = dataset->ReferenceBars(Split::kTest, w);
      ASSERT_TRUE(perfect.ok() && reference.ok());
      const std::span<const Bar> raw = dataset->WindowBars(Split::kTest, w);
      for (size_t b = 0; b < raw.size(); ++b) {
        const BarMetrics metrics = CompareBars((*perfect)[b], (*reference)[b]);
        EXPECT_EQ(metrics.note_f1, 1.0) << "bar " << b;
        EXPECT_EQ(metrics.pianoroll_f1, 1.0) << "bar " << b;
        EXPECT_EQ(metrics.grooving_similarity, 1.0) << "bar " << b;
        EXPECT_EQ(metrics.chroma_similarity, 1.0) << "bar " << b;
        EXPECT_EQ(metrics.pitch_range_similarity, 1.0) << "bar " << b;
        raw_falls_short |= CompareBars((*perfect)[b], raw[b]).pianoroll_f1 < 1.0;
      }
      const SimilarityMatrix generated = BarSelfSimilarity(*perfect);
      const SimilarityMatrix truth = BarSelfSimilarity(*reference);
      for (int64_t lag : {1, 2, 4}) {
        const double g = MeanSimilarityAtLag(generated, lag), t = MeanSimilarityAtLag(truth, lag);
        EXPECT_TRUE((std::isnan(g) && std::isnan(t)) || g == t) << "lag " << lag;
      }
    }
    EXPECT_TRUE(raw_falls_short) << "the synthetic songs should have durations that are not class values";
  }
}

TEST(MusicDatasetTest, SequenceLengthsAreTheWindowsTokenCounts) {
  const MusicDataConfig config = SyntheticConfig(SyntheticDataDir(6));
  absl::StatusOr<MusicDataset> dataset = LoadOrBuildMusicDataset(config, "");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  for (Split split : kAllSplits) {
    absl::StatusOr<std::vector<int64_t>> lengths = dataset->SequenceLengths(split);
    ASSERT_TRUE(lengths.ok());
    ASSERT_EQ(lengths->size(), dataset->size(split));
    for (size_t i = 0; i < lengths->size(); ++i) {
      EXPECT_EQ((*lengths)[i], static_cast<int64_t>(dataset->Sequence(split, i)->length()));
    }
  }
}

}  // namespace
}  // namespace expsvc::music
