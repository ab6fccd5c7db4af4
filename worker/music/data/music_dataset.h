#pragma once
// The entry point for training jobs: POP909 -> quantised songs -> windows
// per split -> token sequences, with an on-disk cache.
//
// Windows are stored as references into the songs and tokenized on demand
// (microseconds per window): materialising every window up front would hold
// ~16 overlapping copies of each bar, about 1 GB of event tokens at stride 1.
//
//   MusicDataConfig config;
//   config.representation = Representation::kEventBased;
//   EXPSVC_ASSIGN_OR_RETURN(MusicDataset data,
//                           LoadOrBuildMusicDataset(config, scratch_dir + "/music-cache"));
//   for (size_t i = 0; i < data.size(Split::kTrain); ++i) {
//     EXPSVC_ASSIGN_OR_RETURN(TokenSequence sequence, data.Sequence(Split::kTrain, i));
//     ...
//   }

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/music/data/event_tokens.h"
#include "worker/music/data/music_corpus.h"
#include "worker/music/data/music_grid.h"
#include "worker/music/data/token_sequence.h"

namespace expsvc::music {

struct MusicDataConfig {
  std::string data_dir;  // "" = $EXPSVC_DATA_DIR; POP909 is <data_dir>/POP909
  Representation representation = Representation::kEventBased;
  EventPitchRule event_pitch_rule = EventPitchRule::kCausal;
  CorpusOptions corpus;
};

struct MusicDatasetCounts {
  int32_t songs_used = 0;
  int32_t songs_skipped = 0;
  std::array<int32_t, kNumSplits> songs_per_split{};
  std::array<int64_t, kNumSplits> windows{};             // after every filter
  std::array<int64_t, kNumSplits> unfiltered_windows{};  // before max_notes_per_window
};

class MusicDataset {
 public:
  MusicDataset(MusicDataConfig config, MusicCorpus corpus, bool loaded_from_cache, std::string cache_path);

  const MusicDataConfig& config() const { return config_; }
  const MusicCorpus& corpus() const { return corpus_; }
  MusicDatasetCounts counts() const;
  bool loaded_from_cache() const { return loaded_from_cache_; }
  const std::string& cache_path() const { return cache_path_; }  // "" when caching is off
  int32_t window_bars() const { return config_.corpus.window_bars; }

  size_t size(Split split) const { return corpus_.split_windows(split).size(); }
  // The bars of window `index` of `split` (window_bars() of them).
  std::span<const Bar> WindowBars(Split split, size_t index) const;
  // Window `index` of `split` in the configured representation.
  absl::StatusOr<TokenSequence> Sequence(Split split, size_t index) const;
  // Window `index` of `split` as its tokens describe it: what a model that
  // predicted every token right would generate (durations in their classes,
  // nothing the representation cannot hold). Every metric compares against
  // these bars, so a perfect generation scores exactly 1.
  absl::StatusOr<std::vector<Bar>> ReferenceBars(Split split, size_t index) const;
  // The token count of every window of `split`, in window order.
  absl::StatusOr<std::vector<int64_t>> SequenceLengths(Split split) const;
  // Every window of a split (fine for valid/test; large for train).
  absl::StatusOr<std::vector<TokenSequence>> MaterializeSplit(Split split) const;

  // One line: songs used/skipped and windows per split.
  std::string Summary() const;

 private:
  MusicDataConfig config_;
  MusicCorpus corpus_;
  bool loaded_from_cache_;
  std::string cache_path_;
};

// The cache key: every input that changes the corpus (format version,
// window, stride, seed, filter, fraction, max_songs, and a fingerprint of the
// song files' names, sizes and modification times). The representation and
// the T/P rule are not part of it: tokens are made on demand.
absl::StatusOr<std::string> MusicCorpusCacheKey(const std::string& pop909_dir, const CorpusOptions& options);

// File name for a key: "pop909-corpus-<16 hex digits>.bin".
std::string MusicCorpusCacheFileName(const std::string& key);

// Loads the corpus from `cache_dir` when a valid cache file for this config
// is there; otherwise builds it from POP909 and writes the cache (temporary
// file + rename). A corrupt or mismatched cache file is reported through
// callbacks.warning and rebuilt, never used. Empty `cache_dir` = no cache.
absl::StatusOr<MusicDataset> LoadOrBuildMusicDataset(const MusicDataConfig& config, const std::string& cache_dir,
                                                     const CorpusLoadCallbacks& callbacks = {});

}  // namespace expsvc::music
