#include "worker/music/data/corpus_cache_format.h"

#include <gtest/gtest.h>

#include <string>

#include "worker/music/data/testing/music_test_data.h"

namespace expsvc::music {
namespace {

MusicCorpus SmallCorpus() {
  std::vector<Song> songs;
  for (int i = 0; i < 5; ++i) {
    songs.push_back({"00" + std::to_string(i), testing::RandomBars(6 + i, static_cast<uint64_t>(i))});
  }
  CorpusOptions options;
  options.window_bars = 4;
  MusicCorpus corpus = AssembleCorpus(songs, {{{"000", "001", "002"}, {"003"}, {"004"}}}, options);
  corpus.songs_skipped = 1;
  corpus.skip_reasons = {"skipping POP909 song 005: NOT_FOUND: /x/005/beat_midi.txt"};
  return corpus;
}

TEST(CorpusCacheFormatTest, RoundTrip) {
  const MusicCorpus corpus = SmallCorpus();
  const std::string bytes = EncodeCorpusCache(corpus, "key-1");
  absl::StatusOr<MusicCorpus> decoded = DecodeCorpusCache(bytes, "key-1", corpus.options);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->songs.size(), corpus.songs.size());
  for (size_t i = 0; i < corpus.songs.size(); ++i) {
    EXPECT_EQ(decoded->songs[i].name, corpus.songs[i].name);
    EXPECT_EQ(decoded->songs[i].bars, corpus.songs[i].bars);
  }
  EXPECT_EQ(decoded->windows, corpus.windows);
  EXPECT_EQ(decoded->songs_per_split, corpus.songs_per_split);
  EXPECT_EQ(decoded->unfiltered_windows, corpus.unfiltered_windows);
  EXPECT_EQ(decoded->songs_skipped, 1);
  EXPECT_EQ(decoded->skip_reasons, corpus.skip_reasons);
}

TEST(CorpusCacheFormatTest, WrongKeyIsRejected) {
  const MusicCorpus corpus = SmallCorpus();
  EXPECT_FALSE(DecodeCorpusCache(EncodeCorpusCache(corpus, "key-1"), "key-2", corpus.options).ok());
}

TEST(CorpusCacheFormatTest, EveryTruncationIsRejected) {
  const MusicCorpus corpus = SmallCorpus();
  const std::string bytes = EncodeCorpusCache(corpus, "k");
  for (size_t length = 0; length < bytes.size(); length += 1 + length / 50) {
    EXPECT_FALSE(DecodeCorpusCache(bytes.substr(0, length), "k", corpus.options).ok()) << length;
  }
  EXPECT_FALSE(DecodeCorpusCache(bytes + "x", "k", corpus.options).ok());
}

TEST(CorpusCacheFormatTest, FlippedBytesAreRejected) {
  const MusicCorpus corpus = SmallCorpus();
  const std::string bytes = EncodeCorpusCache(corpus, "k");
  for (size_t offset = 0; offset < bytes.size(); offset += 3) {
    std::string corrupted = bytes;
    corrupted[offset] = static_cast<char>(corrupted[offset] ^ 0x10);
    EXPECT_FALSE(DecodeCorpusCache(corrupted, "k", corpus.options).ok()) << offset;
  }
}

TEST(CorpusCacheFormatTest, OtherVersionIsRejected) {
  const MusicCorpus corpus = SmallCorpus();
  std::string bytes = EncodeCorpusCache(corpus, "k");
  bytes[8] = static_cast<char>(kCorpusCacheFormatVersion + 1);
  absl::StatusOr<MusicCorpus> decoded = DecodeCorpusCache(bytes, "k", corpus.options);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("version"), std::string::npos);
}

}  // namespace
}  // namespace expsvc::music
