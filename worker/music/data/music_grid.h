#pragma once
// The quantised score every representation is built from: 4/4 bars of 48
// positions (12 per beat), three tracks, notes with a duration in positions.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace expsvc::music {

inline constexpr int kPositionsPerBeat = 12;
inline constexpr int kBeatsPerBar = 4;
inline constexpr int kPositionsPerBar = kPositionsPerBeat * kBeatsPerBar;  // 48
inline constexpr int kNumTracks = 3;
inline constexpr int kNumPitches = 128;

// Track ids, in the order POP909 stores its instrument tracks.
enum TrackId : int32_t { kMelodyTrack = 0, kBridgeTrack = 1, kPianoTrack = 2 };
inline constexpr std::array<const char*, kNumTracks> kTrackNames = {"MELODY", "BRIDGE", "PIANO"};

// The track id for a MIDI track name (case-insensitive), -1 if not one of ours.
int32_t TrackIdForName(const std::string& name);

// One note inside a bar. `duration` is in grid positions (>= 1) and may
// reach past the end of the bar.
struct BarNote {
  int32_t track = 0;     // 0..2
  int32_t pitch = 0;     // 0..127
  int32_t position = 0;  // 0..47
  int32_t duration = 1;  // >= 1

  friend bool operator==(const BarNote&, const BarNote&) = default;
};

struct Bar {
  std::vector<BarNote> notes;  // canonical order: see SortBarNotes

  friend bool operator==(const Bar&, const Bar&) = default;
};

// A quantised piece: one song, a window of a song, or a generated piece.
struct Song {
  std::string name;  // POP909 folder name ("001") or a caller's label
  std::vector<Bar> bars;
};

// The canonical note order used everywhere ("time then pitch"): position,
// then pitch, then track, then duration, all ascending.
void SortBarNotes(Bar& bar);
bool IsInCanonicalOrder(const Bar& bar);

// Total number of notes in `bars`.
int64_t CountNotes(std::span<const Bar> bars);

}  // namespace expsvc::music
