// Prints what the POP909 pipeline produces: songs, bars, notes, windows per
// split with and without a notes-per-window cap, and how long loading takes.
//
//   EXPSVC_DATA_DIR=/path/to/datasets expsvc-music-data-stats [cap ...]

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "worker/music/data/music_corpus.h"
#include "worker/music/data/music_dataset.h"
#include "worker/music/data/pop909.h"

namespace {

using expsvc::music::CorpusOptions;
using expsvc::music::MusicCorpus;
using expsvc::music::Split;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Run(int argc, char** argv) {
  absl::StatusOr<std::string> pop909_dir = expsvc::music::ResolvePop909Dir("");
  if (!pop909_dir.ok()) {
    std::fprintf(stderr, "%s\n", pop909_dir.status().ToString().c_str());
    return 2;
  }
  CorpusOptions options;
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<MusicCorpus> corpus = expsvc::music::BuildPop909Corpus(*pop909_dir, options);
  if (!corpus.ok()) {
    std::fprintf(stderr, "%s\n", corpus.status().ToString().c_str());
    return 1;
  }
  const double load_seconds = SecondsSince(start);
  int64_t bars = 0;
  int64_t notes = 0;
  for (const auto& song : corpus->songs) {
    bars += static_cast<int64_t>(song.bars.size());
    notes += expsvc::music::CountNotes(song.bars);
  }
  std::printf("songs loaded %zu, skipped %d; bars %lld; notes %lld; load %.2f s\n", corpus->songs.size(),
              corpus->songs_skipped, static_cast<long long>(bars), static_cast<long long>(notes), load_seconds);

  // Notes per window over every split, for choosing a cap.
  std::vector<int64_t> notes_per_window;
  for (Split split : expsvc::music::kAllSplits) {
    for (const auto& window : corpus->split_windows(split)) {
      notes_per_window.push_back(expsvc::music::CountNotes(corpus->WindowBars(window)));
    }
  }
  std::sort(notes_per_window.begin(), notes_per_window.end());
  const auto quantile = [&](double q) {
    return notes_per_window[static_cast<size_t>(q * static_cast<double>(notes_per_window.size() - 1))];
  };
  std::printf(
      "notes per 16-bar window: min %lld p25 %lld median %lld p72 %lld p75 %lld p90 %lld max "
      "%lld\n",
      static_cast<long long>(notes_per_window.front()), static_cast<long long>(quantile(0.25)),
      static_cast<long long>(quantile(0.5)), static_cast<long long>(quantile(0.7235)),
      static_cast<long long>(quantile(0.75)), static_cast<long long>(quantile(0.9)),
      static_cast<long long>(notes_per_window.back()));

  std::vector<int> caps = {0};
  for (int i = 1; i < argc; ++i) caps.push_back(std::atoi(argv[i]));
  if (argc == 1) caps.insert(caps.end(), {300, 320, 330, 340, 350, 400});
  // The same songs and split, re-windowed under each cap.
  absl::StatusOr<std::vector<std::string>> names = expsvc::music::ListPop909Songs(*pop909_dir);
  if (!names.ok()) return 1;
  const expsvc::music::SongSplit split = expsvc::music::SplitSongsBySeed(*names, options.split_seed);
  for (const int cap : caps) {
    CorpusOptions capped = options;
    capped.max_notes_per_window = cap;
    const MusicCorpus filtered = expsvc::music::AssembleCorpus(corpus->songs, split, capped);
    std::printf("max_notes_per_window %4d: windows train/valid/test = %zu / %zu / %zu (total %zu)\n", cap,
                filtered.windows[0].size(), filtered.windows[1].size(), filtered.windows[2].size(),
                filtered.windows[0].size() + filtered.windows[1].size() + filtered.windows[2].size());
  }

  // Event-token lengths of the uncapped windows.
  start = std::chrono::steady_clock::now();
  expsvc::music::MusicDataConfig config;
  expsvc::music::MusicDataset dataset(config, *std::move(corpus), false, "");
  size_t tokens = 0;
  size_t longest = 0;
  for (size_t i = 0; i < dataset.size(Split::kValid); ++i) {
    absl::StatusOr<expsvc::music::TokenSequence> sequence = dataset.Sequence(Split::kValid, i);
    if (!sequence.ok()) return 1;
    tokens += sequence->length();
    longest = std::max(longest, sequence->length());
  }
  std::printf(
      "event tokens over %zu valid windows: mean %.0f, max %zu; tokenized in %.3f s\n", dataset.size(Split::kValid),
      static_cast<double>(tokens) / static_cast<double>(dataset.size(Split::kValid)), longest, SecondsSince(start));

  // The cached path the training job takes: build + write, then read back.
  char cache_template[] = "/tmp/expsvc-music-stats-XXXXXX";
  const char* cache_dir = ::mkdtemp(cache_template);
  if (cache_dir == nullptr) return 1;
  expsvc::music::MusicDataConfig cached_config;
  cached_config.corpus.max_notes_per_window = 375;
  for (const char* pass : {"build + write cache", "load from cache"}) {
    start = std::chrono::steady_clock::now();
    absl::StatusOr<expsvc::music::MusicDataset> loaded =
        expsvc::music::LoadOrBuildMusicDataset(cached_config, cache_dir);
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
      return 1;
    }
    std::printf("LoadOrBuildMusicDataset (%s): %.3f s; %s\n", pass, SecondsSince(start), loaded->Summary().c_str());
  }

  // The study's windows (cap 375) in tokens, per representation: how many
  // the old fixed max_len of 1024 would have cut, and what max_len 0 (the
  // longest window) resolves to.
  for (const auto representation :
       {expsvc::music::Representation::kEventBased, expsvc::music::Representation::kNoteBased}) {
    expsvc::music::MusicDataConfig study_config = cached_config;
    study_config.representation = representation;
    absl::StatusOr<expsvc::music::MusicDataset> study = expsvc::music::LoadOrBuildMusicDataset(study_config, cache_dir);
    if (!study.ok()) return 1;
    std::vector<int64_t> lengths;
    for (Split split : expsvc::music::kAllSplits) {
      absl::StatusOr<std::vector<int64_t>> split_lengths = study->SequenceLengths(split);
      if (!split_lengths.ok()) return 1;
      lengths.insert(lengths.end(), split_lengths->begin(), split_lengths->end());
    }
    if (lengths.empty()) continue;
    std::sort(lengths.begin(), lengths.end());
    const auto at = [&](double q) { return lengths[static_cast<size_t>(q * static_cast<double>(lengths.size() - 1))]; };
    const int64_t fit_1024 = std::upper_bound(lengths.begin(), lengths.end(), 1024) - lengths.begin();
    std::printf(
        "%s tokens of the %zu windows at cap 375: median %lld p90 %lld max %lld; fit 1024: %.1f%%; max_len 0 "
        "resolves to %lld (fits 100%%)\n",
        expsvc::music::RepresentationName(representation), lengths.size(), static_cast<long long>(at(0.5)),
        static_cast<long long>(at(0.9)), static_cast<long long>(lengths.back()),
        100.0 * static_cast<double>(fit_1024) / static_cast<double>(lengths.size()),
        static_cast<long long>(lengths.back()));
  }
  std::filesystem::remove_all(cache_dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return Run(argc, argv);
}
