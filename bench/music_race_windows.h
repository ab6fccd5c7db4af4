#pragma once
// A tokenised sample of POP909 windows for the five-variant race
// (bench/music_race.cc): what a GPU machine gets instead of the MIDI files,
// since it has neither POP909 nor the MIDI reader. bench/music_race_export
// writes it from the real corpus (scripts/gpu-check --prepare does);
// music_race reads it. A malformed or truncated file is an error naming
// what is wrong, never a crash.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/music/data/token_sequence.h"

namespace expsvc::bench {

struct RaceWindows {
  // How the sample was made (representation, bars, songs, seed), for the
  // race's report.
  std::string description;
  int32_t fields_per_token = 1;
  std::vector<music::TokenSequence> train;
  std::vector<music::TokenSequence> test;
};

absl::Status WriteRaceWindows(const RaceWindows& windows, const std::string& path);
absl::StatusOr<RaceWindows> ReadRaceWindows(const std::string& path);

}  // namespace expsvc::bench
