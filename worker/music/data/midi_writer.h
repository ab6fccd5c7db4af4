#pragma once
// A small Standard MIDI File writer: format 1, a conductor track with the
// tempo and a 4/4 time signature, then one track per instrument with its
// name and program change. Enough for generated pieces to open in any player.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace expsvc::music {

struct MidiWriterNote {
  int32_t pitch = 60;          // 0..127
  int32_t velocity = 80;       // 1..127
  int64_t start_tick = 0;      // >= 0
  int64_t duration_ticks = 1;  // >= 1
};

struct MidiWriterTrack {
  std::string name;
  int32_t channel = 0;  // 0..15
  int32_t program = 0;  // 0..127 (General MIDI program, 0 = acoustic grand piano)
  std::vector<MidiWriterNote> notes;
};

struct MidiWriterScore {
  int32_t ticks_per_beat = 480;
  double tempo_bpm = 120.0;
  std::vector<MidiWriterTrack> tracks;
};

// Encodes the score as SMF bytes. Overlapping notes of the same pitch on the
// same channel cannot both sound in MIDI: the earlier one is cut where the
// later one starts (and dropped if they start together, keeping the longer).
absl::StatusOr<std::string> EncodeStandardMidiFile(const MidiWriterScore& score);

// Encodes and writes to `path` through a temporary file and a rename.
absl::Status WriteStandardMidiFile(const MidiWriterScore& score, const std::string& path);

}  // namespace expsvc::music
