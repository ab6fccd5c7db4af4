#pragma once
// Test helpers: random quantised bars, POP909-shaped song folders
// (NNN/NNN.mid with MELODY/BRIDGE/PIANO + beat_midi.txt) written from them,
// and the first real POP909 songs when $EXPSVC_DATA_DIR has them.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/data/music_grid.h"

namespace expsvc::music::testing {

// A fresh empty directory under $TEST_TMPDIR or /tmp, removed at exit.
std::string MakeTempDir(const std::string& label);

// `bar_count` bars of random notes, in canonical order, with no two notes of
// one (track, pitch) overlapping in time (MIDI cannot hold those) and
// durations of at most `max_duration` positions. Inner bars may be empty;
// the first and the last bar always have notes (the loader trims empty ends).
std::vector<Bar> RandomBars(int32_t bar_count, uint64_t seed, int32_t max_notes_per_bar = 12,
                            int32_t max_duration = 60);

struct SyntheticSongLayout {
  double tempo_bpm = 100.0;
  // Beats (without notes) in the beat file before the first downbeat; bar 0
  // of `bars` starts at that downbeat.
  int32_t pickup_beats = 0;
  int32_t extra_beats_at_end = 4;
};

// Writes pop909_dir/name/name.mid and pop909_dir/name/beat_midi.txt so that
// LoadPop909Song returns `bars` (bar 0 at the first downbeat, 4 beats per bar).
absl::Status WriteSyntheticSong(const std::string& pop909_dir, const std::string& name,
                                const std::vector<Bar>& bars,
                                const SyntheticSongLayout& layout = {});

// The first `count` real POP909 songs, or an empty vector when
// $EXPSVC_DATA_DIR/POP909 is not there (callers GTEST_SKIP with
// kNoPop909Message). Songs that fail to load fail the calling test.
std::vector<Song> LoadFirstRealPop909Songs(int32_t count);
inline constexpr char kNoPop909Message[] =
    "POP909 not found: set EXPSVC_DATA_DIR to the folder that holds POP909/ to run this test";

}  // namespace expsvc::music::testing
