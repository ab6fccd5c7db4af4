#include "worker/music/data/beat_grid.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/music/data/music_grid.h"

namespace expsvc::music {

absl::StatusOr<BeatGrid> BeatGrid::Create(std::vector<double> beat_seconds, std::vector<int32_t> downbeat_indices) {
  if (beat_seconds.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat("need at least 2 beats, got ", beat_seconds.size()));
  }
  for (size_t i = 0; i < beat_seconds.size(); ++i) {
    if (!std::isfinite(beat_seconds[i]) || (i > 0 && beat_seconds[i] <= beat_seconds[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("beat times must be finite and strictly increasing (beat ", i, ")"));
    }
  }
  if (downbeat_indices.empty()) return absl::InvalidArgumentError("no downbeats");
  std::sort(downbeat_indices.begin(), downbeat_indices.end());
  downbeat_indices.erase(std::unique(downbeat_indices.begin(), downbeat_indices.end()), downbeat_indices.end());
  if (downbeat_indices.front() < 0 || downbeat_indices.back() >= static_cast<int32_t>(beat_seconds.size())) {
    return absl::InvalidArgumentError("downbeat index outside the beat list");
  }
  return BeatGrid(std::move(beat_seconds), std::move(downbeat_indices));
}

double BeatGrid::SecondsToBeats(double seconds) const {
  const size_t count = beat_seconds_.size();
  // Index of the interval [i, i+1] used for interpolation / extrapolation.
  size_t i = 0;
  if (seconds >= beat_seconds_[count - 1]) {
    i = count - 2;
  } else if (seconds > beat_seconds_[0]) {
    i = static_cast<size_t>(std::upper_bound(beat_seconds_.begin(), beat_seconds_.end(), seconds) -
                            beat_seconds_.begin()) -
        1;
  }
  const double interval = beat_seconds_[i + 1] - beat_seconds_[i];
  return static_cast<double>(i) + (seconds - beat_seconds_[i]) / interval;
}

int64_t BeatGrid::SecondsToTick(double seconds) const {
  // Clamped so that absurd inputs stay defined; callers reject such songs.
  constexpr double kLimit = 1e15;
  const double ticks = SecondsToBeats(seconds) * kPositionsPerBeat;
  return std::llround(std::isfinite(ticks) ? std::clamp(ticks, -kLimit, kLimit) : kLimit);
}

std::vector<int64_t> BeatGrid::BarStartTicks(int64_t first_tick, int64_t last_tick) const {
  std::vector<int64_t> starts;
  const int64_t first_downbeat = int64_t{downbeat_indices_.front()} * kPositionsPerBeat;
  if (first_tick < first_downbeat) {
    const int64_t pickup_bars = (first_downbeat - first_tick + kPositionsPerBar - 1) / kPositionsPerBar;
    for (int64_t k = pickup_bars; k >= 1; --k) starts.push_back(first_downbeat - k * kPositionsPerBar);
  }
  for (size_t d = 0; d + 1 < downbeat_indices_.size(); ++d) {
    const int64_t next = int64_t{downbeat_indices_[d + 1]} * kPositionsPerBeat;
    for (int64_t start = int64_t{downbeat_indices_[d]} * kPositionsPerBeat; start < next; start += kPositionsPerBar) {
      starts.push_back(start);
    }
  }
  int64_t tail = int64_t{downbeat_indices_.back()} * kPositionsPerBeat;
  do {
    starts.push_back(tail);
    tail += kPositionsPerBar;
  } while (tail <= last_tick);
  return starts;
}

}  // namespace expsvc::music
