#pragma once
// Test helpers: random quantised bars, POP909-shaped song folders
// (NNN/NNN.mid with MELODY/BRIDGE/PIANO + beat_midi.txt) written from them,
// and the first real POP909 songs when $EXPSVC_DATA_DIR has them.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/music/data/music_grid.h"
#include "worker/music/data/synthetic_songs.h"

namespace expsvc::music::testing {

// A fresh empty directory under $TEST_TMPDIR or /tmp, removed at exit.
std::string MakeTempDir(const std::string& label);

// Random bars and synthetic song folders live in the library (synthetic_songs.h).
using ::expsvc::music::RandomBars;
using ::expsvc::music::SyntheticSongLayout;
using ::expsvc::music::WriteSyntheticSong;

// The first `count` real POP909 songs, or an empty vector when
// $EXPSVC_DATA_DIR/POP909 is not there (callers GTEST_SKIP with
// kNoPop909Message). Songs that fail to load fail the calling test.
std::vector<Song> LoadFirstRealPop909Songs(int32_t count);
inline constexpr char kNoPop909Message[] =
    "POP909 not found: set EXPSVC_DATA_DIR to the folder that holds POP909/ to run this test";

}  // namespace expsvc::music::testing
