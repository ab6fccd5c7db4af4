#include "worker/music/data/music_grid.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/ascii.h"

namespace expsvc::music {

namespace {

bool CanonicalLess(const BarNote& a, const BarNote& b) {
  return std::tie(a.position, a.pitch, a.track, a.duration) < std::tie(b.position, b.pitch, b.track, b.duration);
}

}  // namespace

void SortBarNotes(Bar& bar) {
  std::stable_sort(bar.notes.begin(), bar.notes.end(), CanonicalLess);
}

bool IsInCanonicalOrder(const Bar& bar) {
  return std::is_sorted(bar.notes.begin(), bar.notes.end(), CanonicalLess);
}

int32_t TrackIdForName(const std::string& name) {
  const std::string upper = absl::AsciiStrToUpper(name);
  for (int32_t id = 0; id < kNumTracks; ++id) {
    if (upper == kTrackNames[static_cast<size_t>(id)]) return id;
  }
  return -1;
}

int64_t CountNotes(std::span<const Bar> bars) {
  int64_t total = 0;
  for (const Bar& bar : bars) total += static_cast<int64_t>(bar.notes.size());
  return total;
}

}  // namespace expsvc::music
