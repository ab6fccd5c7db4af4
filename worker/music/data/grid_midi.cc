#include "worker/music/data/grid_midi.h"

#include <cmath>

#include "common/status_macros.h"

namespace expsvc::music {

MidiWriterScore GridToMidiScore(std::span<const Bar> bars, const GridMidiOptions& options) {
  MidiWriterScore score;
  score.ticks_per_beat = kGridMidiTicksPerBeat;
  score.tempo_bpm = options.tempo_bpm;
  for (int32_t id = 0; id < kNumTracks; ++id) {
    MidiWriterTrack track;
    track.name = kTrackNames[static_cast<size_t>(id)];
    track.channel = id;
    track.program = options.program;
    score.tracks.push_back(std::move(track));
  }
  for (size_t bar_index = 0; bar_index < bars.size(); ++bar_index) {
    for (const BarNote& note : bars[bar_index].notes) {
      if (note.track < 0 || note.track >= kNumTracks) continue;  // not an instrument track of ours
      MidiWriterNote midi_note;
      midi_note.pitch = note.pitch;
      midi_note.velocity = options.velocity;
      midi_note.start_tick = (static_cast<int64_t>(bar_index) * kPositionsPerBar + note.position) * kTicksPerPosition;
      midi_note.duration_ticks = static_cast<int64_t>(note.duration) * kTicksPerPosition;
      score.tracks[static_cast<size_t>(note.track)].notes.push_back(midi_note);
    }
  }
  return score;
}

absl::Status WriteGridAsMidi(std::span<const Bar> bars, const std::string& path, const GridMidiOptions& options) {
  return WriteStandardMidiFile(GridToMidiScore(bars, options), path);
}

absl::StatusOr<std::vector<Bar>> GridFromMidi(const MidiContents& contents) {
  std::vector<Bar> bars;
  for (const MidiTrack& track : contents.tracks) {
    const int32_t track_id = TrackIdForName(track.name);
    if (track_id < 0) continue;
    for (const MidiNote& note : track.notes) {
      const int64_t onset = std::llround(note.onset_beats * kPositionsPerBeat);
      const int64_t offset = std::llround(note.offset_beats * kPositionsPerBeat);
      if (onset < 0) return absl::InvalidArgumentError("MIDI note before time zero");
      const auto bar_index = static_cast<size_t>(onset / kPositionsPerBar);
      if (bar_index >= bars.size()) bars.resize(bar_index + 1);
      BarNote grid_note;
      grid_note.track = track_id;
      grid_note.pitch = note.pitch;
      grid_note.position = static_cast<int32_t>(onset % kPositionsPerBar);
      grid_note.duration = static_cast<int32_t>(std::max<int64_t>(1, offset - onset));
      bars[bar_index].notes.push_back(grid_note);
    }
  }
  for (Bar& bar : bars) SortBarNotes(bar);
  return bars;
}

}  // namespace expsvc::music
