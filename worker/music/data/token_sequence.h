#pragma once
// The sequence type both representations produce, with the time (T) and
// pitch (P) of every token that the relative attentions (RIPO, CirRel) use.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/music/data/music_grid.h"

namespace expsvc::music {

// Both vocabularies have 16 bar values, so a window has at most 16 bars.
inline constexpr int32_t kMaxWindowBars = 16;

// 1..16 bars, every note inside the field ranges (track 0..2, pitch 0..127,
// position 0..47, duration >= 1).
absl::Status CheckTokenizableWindow(std::span<const Bar> window);

enum class Representation : int32_t { kNoteBased = 0, kEventBased = 1 };
const char* RepresentationName(Representation representation);  // "note", "event"
absl::StatusOr<Representation> ParseRepresentation(absl::string_view name);

// Per-token time and pitch. T is in grid positions from the window start
// (bar * 48 + position); P is a MIDI pitch, meaningful only where
// has_pitch[i] != 0 (0 is stored otherwise). Every token has a time.
struct TokenAttributes {
  std::vector<int32_t> times;
  std::vector<int32_t> pitches;
  std::vector<uint8_t> has_pitch;

  friend bool operator==(const TokenAttributes&, const TokenAttributes&) = default;
};

struct TokenSequence {
  int32_t fields_per_token = 1;  // 6 for note-based, 1 for event-based
  std::vector<int32_t> tokens;   // length() * fields_per_token values, token-major
  std::vector<int32_t> times;    // T, one per token
  std::vector<int32_t> pitches;  // P, one per token (0 where has_pitch == 0)
  std::vector<uint8_t> has_pitch;

  size_t length() const { return times.size(); }
  friend bool operator==(const TokenSequence&, const TokenSequence&) = default;
};

}  // namespace expsvc::music
