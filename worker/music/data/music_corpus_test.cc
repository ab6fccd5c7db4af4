#include "worker/music/data/music_corpus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

#include "absl/strings/str_format.h"
#include "common/fs/file_io.h"
#include "worker/music/data/testing/music_test_data.h"

namespace expsvc::music {
namespace {

std::vector<std::string> SongNames(int count) {
  std::vector<std::string> names;
  for (int i = 1; i <= count; ++i) names.push_back(absl::StrFormat("%03d", i));
  return names;
}

// A song of `bar_count` bars with `notes_per_bar` notes in each.
Song UniformSong(const std::string& name, int bar_count, int notes_per_bar) {
  Song song;
  song.name = name;
  song.bars.resize(static_cast<size_t>(bar_count));
  for (Bar& bar : song.bars) {
    for (int n = 0; n < notes_per_bar; ++n) bar.notes.push_back({kPianoTrack, 60 + n, 0, 12});
  }
  return song;
}

TEST(MusicCorpusTest, SplitIsEightOneOneDisjointAndFixedBySeed) {
  const std::vector<std::string> names = SongNames(909);
  const SongSplit split = SplitSongsBySeed(names, 42);
  EXPECT_EQ(split[0].size(), 727u);
  EXPECT_EQ(split[1].size(), 91u);
  EXPECT_EQ(split[2].size(), 91u);
  std::set<std::string> all;
  for (const auto& part : split) all.insert(part.begin(), part.end());
  EXPECT_EQ(all.size(), 909u);

  std::vector<std::string> reversed = names;
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_EQ(SplitSongsBySeed(reversed, 42), split) << "input order must not matter";
  EXPECT_NE(SplitSongsBySeed(names, 43), split);
}

TEST(MusicCorpusTest, SplitOfFewSongsKeepsOneForValidAndTest) {
  const SongSplit split = SplitSongsBySeed(SongNames(5), 1);
  EXPECT_EQ(split[0].size(), 3u);
  EXPECT_EQ(split[1].size(), 1u);
  EXPECT_EQ(split[2].size(), 1u);
  const SongSplit two = SplitSongsBySeed(SongNames(2), 1);
  EXPECT_EQ(two[0].size(), 2u);
}

TEST(MusicCorpusTest, TrainingFractionsAreNestedAndSeeded) {
  const SongSplit split = SplitSongsBySeed(SongNames(909), 7);
  const auto half = TakeTrainingFraction(split[0], 0.5, 7);
  const auto quarter = TakeTrainingFraction(split[0], 0.25, 7);
  const auto eighth = TakeTrainingFraction(split[0], 0.125, 7);
  EXPECT_EQ(half.size(), 364u);  // ceil(727 / 2)
  EXPECT_EQ(quarter.size(), 182u);
  EXPECT_EQ(eighth.size(), 91u);
  const std::set<std::string> half_set(half.begin(), half.end());
  const std::set<std::string> train_set(split[0].begin(), split[0].end());
  for (const auto& name : quarter) EXPECT_TRUE(half_set.count(name)) << name;
  for (const auto& name : half) EXPECT_TRUE(train_set.count(name)) << name;
  const std::set<std::string> quarter_set(quarter.begin(), quarter.end());
  for (const auto& name : eighth) EXPECT_TRUE(quarter_set.count(name)) << name;
  EXPECT_EQ(TakeTrainingFraction(split[0], 0.5, 7), half);
  EXPECT_EQ(TakeTrainingFraction(split[0], 1.0, 7), split[0]);
}

TEST(MusicCorpusTest, WindowsSlideByTheStrideAndSkipEmptyOnes) {
  CorpusOptions options;
  options.window_bars = 4;
  options.stride_bars = 1;
  Song song = UniformSong("001", 10, 2);
  std::vector<WindowRef> windows;
  AppendSongWindows(song, 0, options, windows);
  EXPECT_EQ(windows.size(), 7u);  // 10 - 4 + 1
  EXPECT_EQ(windows.back(), (WindowRef{0, 6}));

  options.stride_bars = 3;
  windows.clear();
  AppendSongWindows(song, 0, options, windows);
  EXPECT_EQ(windows.size(), 3u);  // first bars 0, 3, 6

  options.stride_bars = 1;
  for (int b = 2; b < 8; ++b) song.bars[static_cast<size_t>(b)].notes.clear();
  windows.clear();
  AppendSongWindows(song, 0, options, windows);
  // Windows starting at 2, 3, 4 cover only empty bars.
  EXPECT_EQ(windows, (std::vector<WindowRef>{{0, 0}, {0, 1}, {0, 5}, {0, 6}}));
}

TEST(MusicCorpusTest, NoteCapDropsDenseWindows) {
  CorpusOptions options;
  options.window_bars = 2;
  Song song = UniformSong("001", 4, 1);
  song.bars[2].notes.resize(5, BarNote{kPianoTrack, 60, 0, 1});  // bar 2 has 5 notes
  std::vector<WindowRef> windows;
  options.max_notes_per_window = 3;
  AppendSongWindows(song, 0, options, windows);
  // Windows [0,1]: 2 notes, [1,2]: 6, [2,3]: 6.
  EXPECT_EQ(windows, (std::vector<WindowRef>{{0, 0}}));
}

TEST(MusicCorpusTest, AssembleCountsWindowsPerSplit) {
  std::vector<Song> songs = {UniformSong("001", 20, 1), UniformSong("002", 10, 1), UniformSong("003", 3, 1)};
  const SongSplit split = {{{"001"}, {"002"}, {"003", "missing"}}};
  CorpusOptions options;
  options.window_bars = 4;
  const MusicCorpus corpus = AssembleCorpus(songs, split, options);
  EXPECT_EQ(corpus.windows[0].size(), 17u);
  EXPECT_EQ(corpus.windows[1].size(), 7u);
  EXPECT_EQ(corpus.windows[2].size(), 0u);  // shorter than a window
  EXPECT_EQ(corpus.songs_per_split, (std::array<int32_t, 3>{1, 1, 1}));
  EXPECT_EQ(corpus.songs.size(), 3u);
  const std::span<const Bar> bars = corpus.WindowBars(corpus.windows[1][2]);
  EXPECT_EQ(bars.size(), 4u);
  EXPECT_EQ(bars.data(), corpus.songs[1].bars.data() + 2);
}

TEST(MusicCorpusTest, LoaderSkipsAndCountsBrokenSongs) {
  const std::string root = testing::MakeTempDir("corpus");
  for (const std::string& name : SongNames(12)) {
    ASSERT_TRUE(testing::WriteSyntheticSong(root, name, testing::RandomBars(6, std::stoi(name))).ok());
  }
  std::filesystem::remove(root + "/003/beat_midi.txt");
  ASSERT_TRUE(fs::WriteFileAtomically(root + "/007/007.mid", "MThd garbage").ok());
  ASSERT_TRUE(fs::WriteFileAtomically(root + "/009/009.mid", "").ok());

  CorpusOptions options;
  options.window_bars = 4;
  std::vector<std::string> warnings;
  int32_t last_done = 0, last_total = 0;
  absl::StatusOr<MusicCorpus> corpus =
      BuildPop909Corpus(root, options,
                        {.progress =
                             [&](int32_t done, int32_t total) {
                               last_done = done;
                               last_total = total;
                             },
                         .warning = [&](const std::string& line) { warnings.push_back(line); }});
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(corpus->songs_skipped, 3);
  EXPECT_EQ(corpus->songs.size(), 9u);
  EXPECT_EQ(last_done, 12);
  EXPECT_EQ(last_total, 12);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_EQ(corpus->skip_reasons, warnings);
  for (const std::string& file : {"/003/beat_midi.txt", "/007/007.mid", "/009/009.mid"}) {
    EXPECT_TRUE(std::any_of(warnings.begin(), warnings.end(), [&](const std::string& w) {
      return w.find(root + file) != std::string::npos;
    })) << file;
  }
  int64_t windows = 0;
  for (const auto& split_windows : corpus->windows) windows += static_cast<int64_t>(split_windows.size());
  EXPECT_EQ(windows, 9 * 3);  // 6 bars, 4-bar windows

  options.max_songs = 4;
  absl::StatusOr<MusicCorpus> small = BuildPop909Corpus(root, options, {.warning = [](const std::string&) {}});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->songs.size() + static_cast<size_t>(small->songs_skipped), 4u);
}

TEST(MusicCorpusTest, NothingLoadableIsAnError) {
  const std::string root = testing::MakeTempDir("corpus-empty");
  EXPECT_FALSE(BuildPop909Corpus(root, {}).ok());
  std::filesystem::create_directories(root + "/001");
  EXPECT_FALSE(BuildPop909Corpus(root, {}, {.warning = [](const std::string&) {}}).ok());
}

TEST(MusicCorpusTest, OptionsAreValidated) {
  CorpusOptions options;
  EXPECT_TRUE(ValidateCorpusOptions(options).ok());
  options.window_bars = 17;
  EXPECT_FALSE(ValidateCorpusOptions(options).ok());
  options = {};
  options.data_fraction = 0;
  EXPECT_FALSE(ValidateCorpusOptions(options).ok());
  options = {};
  options.stride_bars = 0;
  EXPECT_FALSE(ValidateCorpusOptions(options).ok());
}

}  // namespace
}  // namespace expsvc::music
