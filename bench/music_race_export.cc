// Writes the tokenised POP909 sample the five-variant race reads
// (bench/music_race.cc, bench/music_race_windows.h): event-based windows of
// the study's defaults (16 bars, at most 375 notes, split seed 1), a seeded
// uniform sample of training windows and of test windows, each whole.
//
//   music_race_export --out=FILE [--data_dir=DIR] [--train_windows=2048]
//                     [--test_windows=128] [--window_bars=16]
//                     [--max_notes=375] [--max_songs=0] [--seed=1]
//
// data_dir holds POP909/ (default $EXPSVC_DATA_DIR). scripts/gpu-check
// --prepare runs it, so the GPU machine gets tokens, not MIDI.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_flags.h"
#include "bench/music_race_windows.h"
#include "common/sample_indices.h"
#include "worker/music/data/music_dataset.h"

namespace {

using expsvc::bench::Flag;
using expsvc::bench::StringFlag;
using expsvc::music::Split;

int Fail(const std::string& message) {
  std::fprintf(stderr, "music_race_export: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string out = StringFlag(argc, argv, "out", "");
  if (out.empty()) return Fail("--out=FILE is required");
  expsvc::music::MusicDataConfig config;
  config.data_dir = StringFlag(argc, argv, "data_dir", "");
  config.representation = expsvc::music::Representation::kEventBased;
  config.corpus.window_bars = static_cast<int32_t>(Flag(argc, argv, "window_bars", 16));
  config.corpus.max_notes_per_window = static_cast<int32_t>(Flag(argc, argv, "max_notes", 375));
  config.corpus.max_songs = static_cast<int32_t>(Flag(argc, argv, "max_songs", 0));
  const uint64_t seed = static_cast<uint64_t>(Flag(argc, argv, "seed", 1));
  const absl::StatusOr<expsvc::music::MusicDataset> data = expsvc::music::LoadOrBuildMusicDataset(config, "");
  if (!data.ok()) return Fail(data.status().ToString());
  std::printf("%s\n", data->Summary().c_str());

  expsvc::bench::RaceWindows windows;
  windows.fields_per_token = 1;
  for (const auto& [split, flag, fallback, target] : {std::tuple{Split::kTrain, "train_windows", 2048, &windows.train},
                                                      std::tuple{Split::kTest, "test_windows", 128, &windows.test}}) {
    const std::vector<size_t> picked = expsvc::SampleIndices(data->size(split), Flag(argc, argv, flag, fallback),
                                                             seed * 2 + (split == Split::kTest ? 1 : 0));
    for (size_t index : picked) {
      absl::StatusOr<expsvc::music::TokenSequence> sequence = data->Sequence(split, index);
      if (!sequence.ok()) return Fail(sequence.status().ToString());
      target->push_back(*std::move(sequence));
    }
  }
  size_t longest = 0, tokens = 0;
  for (const auto* split : {&windows.train, &windows.test}) {
    for (const auto& w : *split) {
      longest = std::max(longest, w.length());
      tokens += w.length();
    }
  }
  windows.description = absl::StrCat(
      "POP909 event-based, ", config.corpus.window_bars, "-bar windows of at most ", config.corpus.max_notes_per_window,
      " notes, split seed ", config.corpus.split_seed, "; ", windows.train.size(), " of ", data->size(Split::kTrain),
      " training and ", windows.test.size(), " of ", data->size(Split::kTest), " test windows (sample seed ", seed,
      "), longest ", longest, " tokens");
  if (absl::Status s = expsvc::bench::WriteRaceWindows(windows, out); !s.ok()) return Fail(s.ToString());
  std::printf("wrote %s: %s; %zu tokens\n", out.c_str(), windows.description.c_str(), tokens);
  return 0;
}
