#pragma once
// Reading Standard MIDI Files into plain note lists. Parsing is done by
// Debian's portSMF (Allegro); before handing the bytes over, the chunk layout
// is checked here so that truncated or garbage files get a precise error and
// the library only sees structurally sound input.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace expsvc::music {

struct MidiNote {
  int32_t pitch = 0;       // 0..127
  int32_t velocity = 0;    // 0..127
  int32_t channel = 0;     // 0..15
  double onset_beats = 0;  // quarter notes from the start, per the file's tempo map
  double offset_beats = 0;
  double onset_seconds = 0;
  double offset_seconds = 0;
};

struct MidiTrack {
  std::string name;      // the track-name meta event, "" if none
  int32_t program = -1;  // the first program change, -1 if none
  std::vector<MidiNote> notes;
};

struct MidiContents {
  int32_t ticks_per_beat = 0;
  std::vector<MidiTrack> tracks;  // in file order, the tempo track included
};

// Parses an in-memory SMF. `source_name` (usually the path) is used in errors.
absl::StatusOr<MidiContents> ParseMidiBytes(absl::string_view bytes, const std::string& source_name);

// Reads and parses `path`; errors name the file.
absl::StatusOr<MidiContents> ReadMidiFile(const std::string& path);

}  // namespace expsvc::music
