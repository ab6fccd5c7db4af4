#pragma once
// Quantised bars <-> MIDI. Writing: one MIDI track per instrument (MELODY,
// BRIDGE, PIANO on channels 0..2, program 0), 480 ticks per beat, so one grid
// position is 40 ticks and bar b starts at tick b * 1920. Reading back
// assumes that layout (4/4 from tick 0), which is what the writer produces.

#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/music/data/midi_file.h"
#include "worker/music/data/midi_writer.h"
#include "worker/music/data/music_grid.h"

namespace expsvc::music {

inline constexpr int32_t kGridMidiTicksPerBeat = 480;
inline constexpr int32_t kTicksPerPosition = kGridMidiTicksPerBeat / kPositionsPerBeat;  // 40

struct GridMidiOptions {
  double tempo_bpm = 120.0;
  int32_t velocity = 80;  // the grid has no dynamics
  int32_t program = 0;    // acoustic grand piano, as in POP909
};

MidiWriterScore GridToMidiScore(std::span<const Bar> bars, const GridMidiOptions& options = {});

absl::Status WriteGridAsMidi(std::span<const Bar> bars, const std::string& path, const GridMidiOptions& options = {});

// Notes of tracks named MELODY / BRIDGE / PIANO, snapped to the grid from
// their beat times (bar = beat div 4). Notes on other tracks are ignored.
absl::StatusOr<std::vector<Bar>> GridFromMidi(const MidiContents& contents);

}  // namespace expsvc::music
