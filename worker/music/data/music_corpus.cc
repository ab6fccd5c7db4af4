#include "worker/music/data/music_corpus.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/splitmix64.h"
#include "common/status_macros.h"
#include "worker/music/data/pop909.h"

namespace expsvc::music {
namespace {

void SeededShuffle(std::vector<std::string>& items, uint64_t seed) {
  SplitMix64 generator(seed);
  for (size_t i = items.size(); i > 1; --i) {
    std::swap(items[i - 1], items[generator.UniformBelow(i)]);
  }
}

// Keeps the fraction stream independent of the split stream for one seed.
constexpr uint64_t kFractionSeedSalt = 0x6672616374696f6eull;  // "fraction"

}  // namespace

const char* SplitName(Split split) {
  switch (split) {
    case Split::kTrain: return "train";
    case Split::kValid: return "valid";
    case Split::kTest: return "test";
  }
  return "unknown";
}

absl::Status ValidateCorpusOptions(const CorpusOptions& options) {
  if (options.window_bars < 1 || options.window_bars > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("window_bars must be in [1, 16] (the Bar vocabulary), got ", options.window_bars));
  }
  if (options.stride_bars < 1) {
    return absl::InvalidArgumentError(absl::StrCat("stride_bars must be >= 1, got ", options.stride_bars));
  }
  if (options.max_notes_per_window < 0) {
    return absl::InvalidArgumentError("max_notes_per_window must be >= 0 (0 = no cap)");
  }
  if (!(options.data_fraction > 0.0 && options.data_fraction <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("data_fraction must be in (0, 1], got ", options.data_fraction));
  }
  if (options.max_songs < 0) return absl::InvalidArgumentError("max_songs must be >= 0 (0 = all)");
  return absl::OkStatus();
}

SongSplit SplitSongsBySeed(std::vector<std::string> names, uint64_t seed) {
  std::sort(names.begin(), names.end());
  SeededShuffle(names, seed);
  const size_t total = names.size();
  size_t held_out = static_cast<size_t>(std::llround(static_cast<double>(total) * 0.1));
  if (total >= 3) held_out = std::max<size_t>(held_out, 1);
  if (total < 3) held_out = 0;
  const size_t train_count = total - 2 * held_out;
  SongSplit split;
  split[0].assign(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(train_count));
  split[1].assign(names.begin() + static_cast<std::ptrdiff_t>(train_count),
                  names.begin() + static_cast<std::ptrdiff_t>(train_count + held_out));
  split[2].assign(names.begin() + static_cast<std::ptrdiff_t>(train_count + held_out), names.end());
  return split;
}

std::vector<std::string> TakeTrainingFraction(const std::vector<std::string>& train_songs, double fraction,
                                              uint64_t seed) {
  if (fraction >= 1.0 || train_songs.empty()) return train_songs;
  std::vector<std::string> order = train_songs;
  std::sort(order.begin(), order.end());
  SeededShuffle(order, seed ^ kFractionSeedSalt);
  const auto keep = std::clamp<size_t>(
      static_cast<size_t>(std::ceil(fraction * static_cast<double>(order.size()) - 1e-9)), 1, order.size());
  order.resize(keep);
  return order;
}

void AppendSongWindows(const Song& song, int32_t song_index, const CorpusOptions& options,
                       std::vector<WindowRef>& windows) {
  const auto bar_count = static_cast<int64_t>(song.bars.size());
  std::vector<int64_t> notes_before(static_cast<size_t>(bar_count) + 1, 0);
  for (int64_t b = 0; b < bar_count; ++b) {
    notes_before[static_cast<size_t>(b + 1)] =
        notes_before[static_cast<size_t>(b)] + static_cast<int64_t>(song.bars[static_cast<size_t>(b)].notes.size());
  }
  for (int64_t first = 0; first + options.window_bars <= bar_count; first += options.stride_bars) {
    const int64_t notes =
        notes_before[static_cast<size_t>(first + options.window_bars)] - notes_before[static_cast<size_t>(first)];
    if (notes == 0) continue;
    if (options.max_notes_per_window > 0 && notes > options.max_notes_per_window) continue;
    windows.push_back({song_index, static_cast<int32_t>(first)});
  }
}

MusicCorpus AssembleCorpus(std::vector<Song> songs, const SongSplit& split, const CorpusOptions& options) {
  MusicCorpus corpus;
  corpus.options = options;
  std::map<std::string, size_t> index_by_name;
  for (size_t i = 0; i < songs.size(); ++i) index_by_name.emplace(songs[i].name, i);

  CorpusOptions unfiltered = options;
  unfiltered.max_notes_per_window = 0;
  for (Split which : kAllSplits) {
    const auto s = static_cast<size_t>(which);
    for (const std::string& name : split[s]) {
      const auto found = index_by_name.find(name);
      if (found == index_by_name.end()) continue;
      const auto song_index = static_cast<int32_t>(corpus.songs.size());
      corpus.songs.push_back(std::move(songs[found->second]));
      index_by_name.erase(found);  // a name listed twice is used once
      const Song& song = corpus.songs.back();
      AppendSongWindows(song, song_index, options, corpus.windows[s]);
      std::vector<WindowRef> all_windows;
      AppendSongWindows(song, song_index, unfiltered, all_windows);
      corpus.unfiltered_windows[s] += static_cast<int64_t>(all_windows.size());
      ++corpus.songs_per_split[s];
    }
  }
  return corpus;
}

absl::StatusOr<MusicCorpus> BuildPop909Corpus(const std::string& pop909_dir, const CorpusOptions& options,
                                              const CorpusLoadCallbacks& callbacks) {
  EXPSVC_RETURN_IF_ERROR(ValidateCorpusOptions(options));
  EXPSVC_ASSIGN_OR_RETURN(std::vector<std::string> names, ListPop909Songs(pop909_dir));
  if (names.empty()) return absl::NotFoundError(absl::StrCat("no song folders in ", pop909_dir));
  if (options.max_songs > 0 && names.size() > static_cast<size_t>(options.max_songs)) {
    names.resize(static_cast<size_t>(options.max_songs));
  }
  SongSplit split = SplitSongsBySeed(std::move(names), options.split_seed);
  split[0] = TakeTrainingFraction(split[0], options.data_fraction, options.split_seed);

  const int32_t total = static_cast<int32_t>(split[0].size() + split[1].size() + split[2].size());
  std::vector<Song> songs;
  songs.reserve(static_cast<size_t>(total));
  std::vector<std::string> skip_reasons;
  int32_t done = 0;
  for (const auto& split_names : split) {
    for (const std::string& name : split_names) {
      absl::StatusOr<Song> song = LoadPop909Song(pop909_dir, name);
      if (song.ok()) {
        songs.push_back(*std::move(song));
      } else {
        std::string line = absl::StrCat("skipping POP909 song ", name, ": ", song.status().ToString());
        if (callbacks.warning) {
          callbacks.warning(line);
        } else {
          std::cerr << line << "\n";
        }
        skip_reasons.push_back(std::move(line));
      }
      ++done;
      if (callbacks.progress) callbacks.progress(done, total);
    }
  }
  if (songs.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("none of the ", total, " POP909 songs under ", pop909_dir,
                     " loaded; first error: ", skip_reasons.empty() ? std::string("none") : skip_reasons.front()));
  }
  MusicCorpus corpus = AssembleCorpus(std::move(songs), split, options);
  corpus.songs_skipped = static_cast<int32_t>(skip_reasons.size());
  corpus.skip_reasons = std::move(skip_reasons);
  return corpus;
}

}  // namespace expsvc::music
