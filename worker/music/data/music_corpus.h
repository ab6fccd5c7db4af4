#pragma once
// From songs to training examples: the 8:1:1 split BY SONG, the optional
// training-data fraction, and windows of consecutive bars (16 bars with a
// 1-bar stride in the paper). A window is a reference into a song, not a
// copy; tokenizers read the bars in place.

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/music/data/music_grid.h"

namespace expsvc::music {

enum class Split : int32_t { kTrain = 0, kValid = 1, kTest = 2 };
inline constexpr int kNumSplits = 3;
inline constexpr std::array<Split, kNumSplits> kAllSplits = {Split::kTrain, Split::kValid, Split::kTest};
const char* SplitName(Split split);  // "train", "valid", "test"

struct CorpusOptions {
  int32_t window_bars = 16;  // 1..16 (the Bar vocabulary has 16 entries)
  int32_t stride_bars = 1;
  uint64_t split_seed = 1;
  // Windows with more notes than this are dropped; 0 keeps every window.
  // Windows without any note are always dropped.
  int32_t max_notes_per_window = 0;
  // Share of the TRAINING songs used (valid and test never shrink): 1, 0.5,
  // 0.25, 0.125, ... The subsets are nested: 1/8 is inside 1/4 and so on.
  double data_fraction = 1.0;
  int32_t max_songs = 0;  // 0 = all; else the first N songs by name (demos)
};
absl::Status ValidateCorpusOptions(const CorpusOptions& options);

// Song names per split. Names are sorted, shuffled by `seed` (a fixed,
// platform-independent shuffle), then cut 8:1:1 (valid and test get at least
// one song each when there are 3 or more songs).
using SongSplit = std::array<std::vector<std::string>, kNumSplits>;
SongSplit SplitSongsBySeed(std::vector<std::string> names, uint64_t seed);

// The first ceil(fraction * n) (at least 1) of the training songs in a
// seeded order; the same seed gives nested subsets for smaller fractions.
std::vector<std::string> TakeTrainingFraction(const std::vector<std::string>& train_songs, double fraction,
                                              uint64_t seed);

struct WindowRef {
  int32_t song_index = 0;  // into MusicCorpus::songs
  int32_t first_bar = 0;

  friend bool operator==(const WindowRef&, const WindowRef&) = default;
};

// Appends the windows of one song that pass the filters.
void AppendSongWindows(const Song& song, int32_t song_index, const CorpusOptions& options,
                       std::vector<WindowRef>& windows);

struct MusicCorpus {
  CorpusOptions options;
  std::vector<Song> songs;  // the songs in use, of all splits
  std::array<std::vector<WindowRef>, kNumSplits> windows;
  std::array<int32_t, kNumSplits> songs_per_split{};
  // Windows before the max_notes_per_window filter (empty ones excluded).
  std::array<int64_t, kNumSplits> unfiltered_windows{};
  int32_t songs_skipped = 0;
  std::vector<std::string> skip_reasons;  // one line per skipped song, naming the file

  const std::vector<WindowRef>& split_windows(Split split) const { return windows[static_cast<size_t>(split)]; }
  // The bars of one window, in place.
  std::span<const Bar> WindowBars(const WindowRef& window) const {
    return std::span<const Bar>(songs[static_cast<size_t>(window.song_index)].bars)
        .subspan(static_cast<size_t>(window.first_bar), static_cast<size_t>(options.window_bars));
  }
};

// Progress and warnings while songs load. Either may be empty; without a
// warning callback, warnings go to stderr.
struct CorpusLoadCallbacks {
  std::function<void(int32_t songs_done, int32_t songs_total)> progress;
  std::function<void(const std::string& line)> warning;
};

// Builds the windows of already-loaded songs for a given split. Songs named
// in `split` but absent from `songs` are ignored (they failed to load).
MusicCorpus AssembleCorpus(std::vector<Song> songs, const SongSplit& split, const CorpusOptions& options);

// Lists, splits and loads POP909 under `pop909_dir`. Songs that fail to load
// are skipped with a warning naming the file and counted; the call fails only
// when the folder cannot be listed, the options are invalid, or no song loads.
absl::StatusOr<MusicCorpus> BuildPop909Corpus(const std::string& pop909_dir, const CorpusOptions& options,
                                              const CorpusLoadCallbacks& callbacks = {});

}  // namespace expsvc::music
