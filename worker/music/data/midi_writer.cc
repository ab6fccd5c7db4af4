#include "worker/music/data/midi_writer.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"

namespace expsvc::music {
namespace {

constexpr int64_t kMaxTick = 0x0FFFFFFF;  // the largest SMF variable-length delta

void AppendBigEndian(std::string& out, uint32_t value, int width) {
  for (int shift = (width - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xFF));
  }
}

void AppendVariableLength(std::string& out, uint32_t value) {
  char groups[5];
  int count = 0;
  groups[count++] = static_cast<char>(value & 0x7F);
  while ((value >>= 7) != 0) groups[count++] = static_cast<char>(0x80 | (value & 0x7F));
  while (count > 0) out.push_back(groups[--count]);
}

void AppendMetaText(std::string& events, uint8_t meta_type, const std::string& text) {
  AppendVariableLength(events, 0);
  events.push_back(static_cast<char>(0xFF));
  events.push_back(static_cast<char>(meta_type));
  AppendVariableLength(events, static_cast<uint32_t>(text.size()));
  events += text;
}

void AppendEndOfTrack(std::string& events, uint32_t delta) {
  AppendVariableLength(events, delta);
  events += std::string("\xFF\x2F\x00", 3);
}

void AppendTrackChunk(std::string& file, const std::string& events) {
  file += "MTrk";
  AppendBigEndian(file, static_cast<uint32_t>(events.size()), 4);
  file += events;
}

std::string ConductorTrack(const MidiWriterScore& score) {
  std::string events;
  const double microseconds_per_beat = std::round(60'000'000.0 / score.tempo_bpm);
  const auto tempo = static_cast<uint32_t>(std::clamp(microseconds_per_beat, 1.0, 16'777'215.0));
  AppendVariableLength(events, 0);
  events += std::string("\xFF\x51\x03", 3);
  AppendBigEndian(events, tempo, 3);
  // 4/4, 24 MIDI clocks per metronome click, 8 thirty-seconds per quarter.
  AppendVariableLength(events, 0);
  events += std::string("\xFF\x58\x04\x04\x02\x18\x08", 7);
  AppendEndOfTrack(events, 0);
  return events;
}

absl::Status ValidateTrack(const MidiWriterTrack& track) {
  if (track.channel < 0 || track.channel > 15) {
    return absl::InvalidArgumentError(absl::StrCat("MIDI channel out of range: ", track.channel));
  }
  if (track.program < 0 || track.program > 127) {
    return absl::InvalidArgumentError(absl::StrCat("MIDI program out of range: ", track.program));
  }
  for (const MidiWriterNote& note : track.notes) {
    if (note.pitch < 0 || note.pitch > 127 || note.velocity < 1 || note.velocity > 127 || note.start_tick < 0 ||
        note.duration_ticks < 1 || note.start_tick + note.duration_ticks > kMaxTick) {
      return absl::InvalidArgumentError(absl::StrCat("bad note in track '", track.name, "': pitch ", note.pitch,
                                                     " velocity ", note.velocity, " start ", note.start_tick,
                                                     " duration ", note.duration_ticks));
    }
  }
  return absl::OkStatus();
}

// Same-pitch overlaps resolved as documented in the header.
std::vector<MidiWriterNote> ResolveSamePitchOverlaps(std::vector<MidiWriterNote> notes) {
  std::sort(notes.begin(), notes.end(), [](const MidiWriterNote& a, const MidiWriterNote& b) {
    return std::tie(a.pitch, a.start_tick, b.duration_ticks) <
           std::tie(b.pitch, b.start_tick, a.duration_ticks);  // longer first on equal start
  });
  std::vector<MidiWriterNote> resolved;
  for (const MidiWriterNote& note : notes) {
    if (!resolved.empty() && resolved.back().pitch == note.pitch) {
      MidiWriterNote& previous = resolved.back();
      if (previous.start_tick == note.start_tick) continue;  // the longer one is kept
      if (previous.start_tick + previous.duration_ticks > note.start_tick) {
        previous.duration_ticks = note.start_tick - previous.start_tick;
      }
    }
    resolved.push_back(note);
  }
  return resolved;
}

std::string InstrumentTrack(const MidiWriterTrack& track) {
  struct TimedEvent {
    int64_t tick;
    int order;  // note-offs before program/note-ons at the same tick
    uint8_t status;
    uint8_t data1;
    uint8_t data2;
  };
  std::vector<TimedEvent> timed;
  const auto channel = static_cast<uint8_t>(track.channel);
  timed.push_back({0, 1, static_cast<uint8_t>(0xC0 | channel), static_cast<uint8_t>(track.program), 0});
  for (const MidiWriterNote& note : ResolveSamePitchOverlaps(track.notes)) {
    const auto pitch = static_cast<uint8_t>(note.pitch);
    timed.push_back(
        {note.start_tick, 2, static_cast<uint8_t>(0x90 | channel), pitch, static_cast<uint8_t>(note.velocity)});
    timed.push_back({note.start_tick + note.duration_ticks, 0, static_cast<uint8_t>(0x80 | channel), pitch, 0});
  }
  std::stable_sort(timed.begin(), timed.end(), [](const TimedEvent& a, const TimedEvent& b) {
    return std::tie(a.tick, a.order, a.data1) < std::tie(b.tick, b.order, b.data1);
  });

  std::string events;
  AppendMetaText(events, 0x03, track.name);
  int64_t now = 0;
  for (const TimedEvent& event : timed) {
    AppendVariableLength(events, static_cast<uint32_t>(event.tick - now));
    now = event.tick;
    events.push_back(static_cast<char>(event.status));
    events.push_back(static_cast<char>(event.data1));
    if ((event.status & 0xF0) != 0xC0) events.push_back(static_cast<char>(event.data2));
  }
  AppendEndOfTrack(events, 0);
  return events;
}

}  // namespace

absl::StatusOr<std::string> EncodeStandardMidiFile(const MidiWriterScore& score) {
  if (score.ticks_per_beat < 1 || score.ticks_per_beat > 0x7FFF) {
    return absl::InvalidArgumentError(absl::StrCat("ticks per beat out of range: ", score.ticks_per_beat));
  }
  if (!(score.tempo_bpm > 0) || !std::isfinite(score.tempo_bpm)) {
    return absl::InvalidArgumentError(absl::StrCat("tempo must be positive, got ", score.tempo_bpm));
  }
  if (score.tracks.size() > 0xFFFE) return absl::InvalidArgumentError("too many MIDI tracks");
  for (const MidiWriterTrack& track : score.tracks) EXPSVC_RETURN_IF_ERROR(ValidateTrack(track));

  std::string file = "MThd";
  AppendBigEndian(file, 6, 4);
  AppendBigEndian(file, 1, 2);  // format 1: simultaneous tracks
  AppendBigEndian(file, static_cast<uint32_t>(score.tracks.size() + 1), 2);
  AppendBigEndian(file, static_cast<uint32_t>(score.ticks_per_beat), 2);
  AppendTrackChunk(file, ConductorTrack(score));
  for (const MidiWriterTrack& track : score.tracks) AppendTrackChunk(file, InstrumentTrack(track));
  return file;
}

absl::Status WriteStandardMidiFile(const MidiWriterScore& score, const std::string& path) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string bytes, EncodeStandardMidiFile(score));
  return fs::WriteFileAtomically(path, bytes);
}

}  // namespace expsvc::music
