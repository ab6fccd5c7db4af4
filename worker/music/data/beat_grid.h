#pragma once
// Maps performance time (seconds) onto the 48-per-bar grid using annotated
// beat times and downbeats, instead of the MIDI file's own meter.
//
// Rules (POP909's beat_midi.txt has one row per beat):
// - A time becomes fractional beats by linear interpolation between the two
//   surrounding beat times (beat i is at beat_seconds[i]); before the first
//   or after the last beat, the first / last beat interval is extrapolated.
// - Grid tick = round(12 * beats); onset and offset are rounded separately
//   and the duration is their difference (at least 1).
// - Every downbeat starts a bar. A bar longer than 4 beats (a 6-beat bar,
//   say) is split every 4 beats (4 + 2); a bar shorter than 4 beats (2 or 3)
//   stays one bar whose last positions are empty. Bars are 4/4 on the grid.
// - Before the first downbeat (pickup), 4-beat bars are laid backwards from
//   it as far as needed, so a pickup lands at the end of its bar; after the
//   last downbeat, 4-beat bars continue as far as needed.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace expsvc::music {

class BeatGrid {
 public:
  // `beat_seconds` strictly increasing (at least 2); `downbeat_indices`
  // indices into it, at least one.
  static absl::StatusOr<BeatGrid> Create(std::vector<double> beat_seconds, std::vector<int32_t> downbeat_indices);

  double SecondsToBeats(double seconds) const;
  // round(kPositionsPerBeat * SecondsToBeats(seconds)).
  int64_t SecondsToTick(double seconds) const;

  // Bar start ticks (ascending) covering every tick in [first_tick, last_tick]
  // by the rules above: bars[0] <= first_tick and the last bar start <= last_tick.
  std::vector<int64_t> BarStartTicks(int64_t first_tick, int64_t last_tick) const;

 private:
  BeatGrid(std::vector<double> beat_seconds, std::vector<int32_t> downbeat_indices)
      : beat_seconds_(std::move(beat_seconds)), downbeat_indices_(std::move(downbeat_indices)) {}

  std::vector<double> beat_seconds_;
  std::vector<int32_t> downbeat_indices_;
};

}  // namespace expsvc::music
