#include "worker/music/data/pop909.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/fs/file_io.h"
#include "worker/music/data/midi_writer.h"
#include "worker/music/data/testing/music_test_data.h"

namespace expsvc::music {
namespace {

// The real corpus when EXPSVC_DATA_DIR points at it, else "".
std::string RealPop909DirOrEmpty() {
  absl::StatusOr<std::string> dir = ResolvePop909Dir("");
  return dir.ok() ? *dir : std::string();
}

#define SKIP_WITHOUT_POP909(dir)                                                              \
  if ((dir).empty()) {                                                                        \
    GTEST_SKIP() << "POP909 not found: set EXPSVC_DATA_DIR to the folder that holds POP909/"; \
  }

TEST(Pop909Test, SyntheticSongLoadsExactly) {
  const std::string root = testing::MakeTempDir("pop909");
  const std::vector<Bar> bars = testing::RandomBars(20, /*seed=*/3);
  ASSERT_TRUE(testing::WriteSyntheticSong(root, "001", bars, {.tempo_bpm = 100, .pickup_beats = 3}).ok());
  absl::StatusOr<Song> song = LoadPop909Song(root, "001");
  ASSERT_TRUE(song.ok()) << song.status();
  EXPECT_EQ(song->name, "001");
  EXPECT_EQ(song->bars, bars);
}

TEST(Pop909Test, PickupNotesLandAtTheEndOfAPickupBar) {
  const std::string root = testing::MakeTempDir("pickup");
  // Notes on beat 0 and beat 4 ...
  std::vector<Bar> bars(2);
  bars[0].notes = {{kMelodyTrack, 60, 0, 12}};
  bars[1].notes = {{kMelodyTrack, 62, 0, 12}};
  ASSERT_TRUE(testing::WriteSyntheticSong(root, "002", bars, {.tempo_bpm = 120}).ok());
  // ... but the beat file puts the first downbeat on beat 1 (0.5 s at 120 bpm).
  ASSERT_TRUE(fs::WriteFileAtomically(root + "/002/beat_midi.txt",
                                      "0.0 0.0 0.0\n0.5 1.0 1.0\n1.0 0.0 0.0\n1.5 1.0 0.0\n"
                                      "2.0 0.0 0.0\n2.5 1.0 1.0\n3.0 0.0 0.0\n")
                  .ok());
  absl::StatusOr<Song> song = LoadPop909Song(root, "002");
  ASSERT_TRUE(song.ok()) << song.status();
  // Beat 0 is a one-beat pickup: the last beat of a bar laid before beat 1.
  ASSERT_EQ(song->bars.size(), 2u);
  ASSERT_EQ(song->bars[0].notes.size(), 1u);
  EXPECT_EQ(song->bars[0].notes[0].position, 36);
  EXPECT_EQ(song->bars[0].notes[0].pitch, 60);
  // Beat 4 is the fourth beat of the bar that starts on beat 1.
  ASSERT_EQ(song->bars[1].notes.size(), 1u);
  EXPECT_EQ(song->bars[1].notes[0].position, 36);
}

TEST(Pop909Test, BeatFileParsing) {
  absl::StatusOr<Pop909Beats> beats = ParsePop909BeatFile("0.5 1.0 1.0\n1.0 0.0 0.0\n\n1.5\t1.0\t0.0\n2.0 0 1\n", "b");
  ASSERT_TRUE(beats.ok()) << beats.status();
  EXPECT_EQ(beats->beat_seconds, (std::vector<double>{0.5, 1.0, 1.5, 2.0}));
  EXPECT_EQ(beats->downbeat_indices, (std::vector<int32_t>{0, 3}));
  EXPECT_FALSE(ParsePop909BeatFile("0.5 1.0\n1.0 0 0\n", "two-columns").ok());
  EXPECT_FALSE(ParsePop909BeatFile("0.5 x 1\n1.0 0 0\n", "not-a-number").ok());
  EXPECT_FALSE(ParsePop909BeatFile("0.5 1 0\n1.0 0 0\n", "no-downbeat").ok());
  EXPECT_FALSE(ParsePop909BeatFile("", "empty").ok());
}

TEST(Pop909Test, NotesThatQuantiseOntoEachOtherMergeKeepingTheLongest) {
  const std::string root = testing::MakeTempDir("dupes");
  std::filesystem::create_directories(root + "/004");
  // Two C4s on the piano track 10 and 15 ticks (< half a position) apart:
  // distinct in MIDI, the same note on the grid.
  MidiWriterScore score;
  score.tracks = {{"PIANO", 2, 0, {{60, 80, 0, 10}, {60, 80, 15, 960}, {64, 80, 480, 240}}}};
  ASSERT_TRUE(WriteStandardMidiFile(score, root + "/004/004.mid").ok());
  ASSERT_TRUE(
      fs::WriteFileAtomically(root + "/004/beat_midi.txt", "0.0 1.0 1.0\n0.5 0.0 0.0\n1.0 1.0 0.0\n1.5 0.0 0.0\n")
          .ok());
  absl::StatusOr<Song> song = LoadPop909Song(root, "004");
  ASSERT_TRUE(song.ok()) << song.status();
  ASSERT_EQ(song->bars.size(), 1u);
  EXPECT_EQ(song->bars[0].notes, (std::vector<BarNote>{{kPianoTrack, 60, 0, 24}, {kPianoTrack, 64, 12, 6}}));
}

TEST(Pop909Test, BrokenSongsGiveErrorsNamingTheFile) {
  const std::string root = testing::MakeTempDir("broken");
  const std::vector<Bar> bars = testing::RandomBars(4, 11);
  for (const char* name : {"010", "011", "012", "013", "014"}) {
    ASSERT_TRUE(testing::WriteSyntheticSong(root, name, bars).ok());
  }
  std::filesystem::remove(root + "/010/beat_midi.txt");
  const std::string midi = *fs::ReadFile(root + "/011/011.mid");
  ASSERT_TRUE(fs::WriteFileAtomically(root + "/011/011.mid", midi.substr(0, midi.size() / 2)).ok());
  ASSERT_TRUE(fs::WriteFileAtomically(root + "/012/012.mid", "").ok());
  ASSERT_TRUE(fs::WriteFileAtomically(root + "/013/013.mid", std::string(500, '\x07')).ok());
  ASSERT_TRUE(fs::WriteFileAtomically(root + "/014/beat_midi.txt", "garbage\n").ok());

  const std::vector<std::pair<std::string, std::string>> expected_file = {{"010", "/010/beat_midi.txt"},
                                                                          {"011", "/011/011.mid"},
                                                                          {"012", "/012/012.mid"},
                                                                          {"013", "/013/013.mid"},
                                                                          {"014", "/014/beat_midi.txt"}};
  for (const auto& [name, file] : expected_file) {
    absl::StatusOr<Song> song = LoadPop909Song(root, name);
    ASSERT_FALSE(song.ok()) << name;
    EXPECT_NE(song.status().message().find(root + file), std::string::npos) << song.status();
  }
}

TEST(Pop909Test, SongWithoutNotesIsAnError) {
  const std::string root = testing::MakeTempDir("no-notes");
  ASSERT_TRUE(testing::WriteSyntheticSong(root, "020", {}).ok());
  absl::StatusOr<Song> song = LoadPop909Song(root, "020");
  ASSERT_FALSE(song.ok());
  EXPECT_NE(song.status().message().find("no notes"), std::string::npos) << song.status();
}

TEST(Pop909Test, ResolvesTheDataDirectory) {
  const std::string root = testing::MakeTempDir("resolve");
  EXPECT_FALSE(ResolvePop909Dir(root).ok());  // no POP909 inside
  std::filesystem::create_directories(root + "/POP909");
  absl::StatusOr<std::string> resolved = ResolvePop909Dir(root);
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(*resolved, root + "/POP909");
}

TEST(Pop909Test, RealSongsLoadOnTheGrid) {
  const std::string dir = RealPop909DirOrEmpty();
  SKIP_WITHOUT_POP909(dir);
  absl::StatusOr<std::vector<std::string>> names = ListPop909Songs(dir);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 909u);
  for (size_t i = 0; i < 20 && i < names->size(); ++i) {
    absl::StatusOr<Song> song = LoadPop909Song(dir, (*names)[i]);
    ASSERT_TRUE(song.ok()) << song.status();
    EXPECT_GT(song->bars.size(), 16u);
    EXPECT_FALSE(song->bars.front().notes.empty());
    EXPECT_FALSE(song->bars.back().notes.empty());
    for (const Bar& bar : song->bars) {
      for (const BarNote& note : bar.notes) {
        ASSERT_GE(note.position, 0);
        ASSERT_LT(note.position, kPositionsPerBar);
        ASSERT_GE(note.duration, 1);
        ASSERT_GE(note.track, 0);
        ASSERT_LT(note.track, kNumTracks);
      }
    }
  }
  // 001: 264 + 307 + 985 notes in the MIDI file (a few merge as duplicates).
  absl::StatusOr<Song> first = LoadPop909Song(dir, "001");
  ASSERT_TRUE(first.ok());
  const int64_t notes = CountNotes(first->bars);
  EXPECT_LE(notes, 264 + 307 + 985);
  EXPECT_GE(notes, 1500);
}

}  // namespace
}  // namespace expsvc::music
