#include "worker/music/data/midi_file.h"

// clang-format off
// allegro.h uses strcmp & co. without including <cstring> itself.
#include <cstring>
#include <portSMF/allegro.h>
// clang-format on

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"

namespace expsvc::music {
namespace {

// portSMF interns attribute names in a process-wide symbol table and keeps a
// static error message, so only one thread may use it at a time.
std::mutex& PortSmfMutex() {
  static std::mutex mutex;
  return mutex;
}

uint32_t ReadBigEndian(absl::string_view bytes, size_t offset, int width) {
  uint32_t value = 0;
  for (int i = 0; i < width; ++i) {
    value = (value << 8) | static_cast<uint8_t>(bytes[offset + static_cast<size_t>(i)]);
  }
  return value;
}

// Reads a MIDI variable-length quantity (at most 4 bytes, as the standard
// says) at `offset` inside `track`; nullopt when it is longer or cut off.
std::optional<uint32_t> ReadVarLen(absl::string_view track, size_t& offset) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    if (offset >= track.size()) return std::nullopt;
    const auto byte = static_cast<uint8_t>(track[offset++]);
    value = (value << 7) | (byte & 0x7Fu);
    if ((byte & 0x80u) == 0) return value;
  }
  return std::nullopt;
}

// The data portSMF reads from these meta events whatever their length says
// (sequence number, channel prefix, port, tempo, SMPTE offset, time and key
// signature): a shorter one makes it read through a null buffer.
size_t MinimumMetaLength(uint8_t type) {
  switch (type) {
    case 0x00: return 2;
    case 0x20:
    case 0x21: return 1;
    case 0x51: return 3;
    case 0x54: return 5;
    case 0x58: return 4;
    case 0x59: return 2;
    default: return 0;
  }
}

// Walks every event of a track chunk and checks that it lies inside the
// chunk: delta times and lengths of at most 4 bytes, meta and sysex data
// within the chunk, data bytes for running status. portSMF trusts these and
// crashes on some that lie (found by tests/fuzz/midi_fuzzer.cc), so nothing
// reaches it unchecked.
absl::Status CheckTrackEvents(absl::string_view track, size_t chunk_offset, const std::string& source) {
  size_t offset = 0;
  uint8_t running_status = 0;
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat("MIDI track at byte ", chunk_offset, ": ", what, " at byte ", chunk_offset + 8 + offset, ": ",
                     source));
  };
  while (offset < track.size()) {
    if (!ReadVarLen(track, offset).has_value()) return bad("bad delta time");
    if (offset >= track.size()) return bad("event missing after its delta time");
    const auto status = static_cast<uint8_t>(track[offset]);
    if (status == 0xFF || status == 0xF0 || status == 0xF7) {
      // No stop at end-of-track: portSMF reads the whole chunk, so every
      // byte of it must pass.
      const uint8_t type = status == 0xFF && offset + 1 < track.size() ? static_cast<uint8_t>(track[offset + 1]) : 0;
      offset += status == 0xFF ? 2 : 1;  // meta: status and type
      if (offset > track.size()) return bad("cut-off meta event");
      const std::optional<uint32_t> length = ReadVarLen(track, offset);
      if (!length.has_value()) return bad("bad event length");
      if (*length > track.size() - offset) return bad("event data past the end of the track");
      if (status == 0xFF && *length < MinimumMetaLength(type)) {
        return bad(absl::StrCat("meta event 0x", absl::Hex(type), " shorter than its ", MinimumMetaLength(type),
                                " data bytes"));
      }
      offset += *length;
      continue;
    }
    if (status >= 0xF1) return bad("system real-time or undefined status in a file");
    if (status >= 0x80) {
      running_status = status;
      ++offset;
    } else if (running_status == 0) {
      return bad("data byte without a running status");
    }
    const size_t data_bytes = (running_status & 0xF0u) == 0xC0u || (running_status & 0xF0u) == 0xD0u ? 1 : 2;
    if (data_bytes > track.size() - offset) return bad("cut-off channel message");
    offset += data_bytes;
  }
  return absl::OkStatus();
}

// Checks the SMF chunk layout: a complete MThd, then every declared track
// chunk present and inside the file, its events inside it. Returns the ticks
// per beat.
absl::StatusOr<int32_t> CheckChunkLayout(absl::string_view bytes, const std::string& source) {
  if (bytes.empty()) return absl::InvalidArgumentError(absl::StrCat("empty MIDI file: ", source));
  if (bytes.size() < 14 || bytes.substr(0, 4) != "MThd") {
    return absl::InvalidArgumentError(absl::StrCat("not a Standard MIDI File (no MThd header): ", source));
  }
  const uint32_t header_length = ReadBigEndian(bytes, 4, 4);
  if (header_length < 6 || header_length > bytes.size() - 8) {
    return absl::InvalidArgumentError(absl::StrCat("bad MThd length ", header_length, " in MIDI file: ", source));
  }
  const uint32_t format = ReadBigEndian(bytes, 8, 2);
  const uint32_t declared_tracks = ReadBigEndian(bytes, 10, 2);
  const uint32_t division = ReadBigEndian(bytes, 12, 2);
  if (format > 2) {
    return absl::InvalidArgumentError(absl::StrCat("unknown SMF format ", format, ": ", source));
  }
  if (declared_tracks == 0) {
    return absl::InvalidArgumentError(absl::StrCat("MIDI file declares no tracks: ", source));
  }
  if ((division & 0x8000u) != 0 || division == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported MIDI time division ", division, " (need ticks per beat): ", source));
  }
  size_t offset = 8 + header_length;
  uint32_t tracks_found = 0;
  while (tracks_found < declared_tracks) {
    if (bytes.size() - offset < 8) {
      return absl::DataLossError(absl::StrCat("truncated MIDI file: ", tracks_found, " of ", declared_tracks,
                                              " track chunks present: ", source));
    }
    const absl::string_view chunk_type = bytes.substr(offset, 4);
    const uint32_t chunk_length = ReadBigEndian(bytes, offset + 4, 4);
    if (chunk_length > bytes.size() - offset - 8) {
      return absl::DataLossError(absl::StrCat("truncated MIDI file: chunk at byte ", offset, " claims ", chunk_length,
                                              " bytes but ", bytes.size() - offset - 8, " remain: ", source));
    }
    if (chunk_type == "MTrk") {
      ++tracks_found;
      EXPSVC_RETURN_IF_ERROR(CheckTrackEvents(bytes.substr(offset + 8, chunk_length), offset, source));
    } else if (!std::all_of(chunk_type.begin(), chunk_type.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("garbage chunk header at byte ", offset, " in MIDI file: ", source));
    }
    offset += 8 + chunk_length;
  }
  return static_cast<int32_t>(division);
}

int32_t ClampMidiValue(double value) {
  if (!std::isfinite(value)) return 0;
  return static_cast<int32_t>(std::lround(std::clamp(value, 0.0, 127.0)));
}

}  // namespace

absl::StatusOr<MidiContents> ParseMidiBytes(absl::string_view bytes, const std::string& source_name) {
  EXPSVC_ASSIGN_OR_RETURN(const int32_t ticks_per_beat, CheckChunkLayout(bytes, source_name));

  MidiContents contents;
  contents.ticks_per_beat = ticks_per_beat;
  std::lock_guard<std::mutex> lock(PortSmfMutex());
  std::istringstream stream{std::string(bytes)};
  Alg_seq sequence(stream, /*smf=*/true);
  if (sequence.get_read_error() != alg_no_error) {
    return absl::DataLossError(
        absl::StrCat("MIDI parse error (Allegro code ", sequence.get_read_error(), ") in ", source_name));
  }
  // Times come in beats after reading; convert_to_seconds() rewrites them in
  // place, so the beat values are collected first, in the same event order.
  for (int t = 0; t < sequence.tracks(); ++t) {
    Alg_track_ptr track = sequence.track(t);
    MidiTrack out;
    for (int i = 0; i < track->length(); ++i) {
      Alg_event_ptr event = (*track)[i];
      if (event->is_note()) {
        auto* note = static_cast<Alg_note_ptr>(event);
        MidiNote midi_note;
        midi_note.pitch = ClampMidiValue(note->pitch);
        midi_note.velocity = ClampMidiValue(note->loud);
        midi_note.channel = static_cast<int32_t>(std::clamp<long>(note->chan, 0, 15));
        midi_note.onset_beats = note->time;
        midi_note.offset_beats = note->time + note->dur;
        out.notes.push_back(midi_note);
      } else if (event->is_update()) {
        auto* update = static_cast<Alg_update_ptr>(event);
        const char* attribute = update->parameter.attr_name();
        if (attribute == nullptr) continue;
        if (std::strcmp(attribute, "tracknames") == 0 && update->parameter.s != nullptr && out.name.empty()) {
          out.name = update->parameter.s;
        } else if (std::strcmp(attribute, "programi") == 0 && out.program < 0) {
          out.program = static_cast<int32_t>(std::clamp<long>(update->parameter.i, 0, 127));
        }
      }
    }
    contents.tracks.push_back(std::move(out));
  }
  sequence.convert_to_seconds();
  for (int t = 0; t < sequence.tracks(); ++t) {
    Alg_track_ptr track = sequence.track(t);
    size_t note_index = 0;
    for (int i = 0; i < track->length(); ++i) {
      Alg_event_ptr event = (*track)[i];
      if (!event->is_note()) continue;
      MidiNote& midi_note = contents.tracks[static_cast<size_t>(t)].notes[note_index++];
      midi_note.onset_seconds = event->time;
      midi_note.offset_seconds = event->time + static_cast<Alg_note_ptr>(event)->dur;
      if (!std::isfinite(midi_note.onset_seconds) || !std::isfinite(midi_note.offset_seconds)) {
        return absl::DataLossError(absl::StrCat("non-finite note time in MIDI file: ", source_name));
      }
    }
  }
  return contents;
}

absl::StatusOr<MidiContents> ReadMidiFile(const std::string& path) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string bytes, fs::ReadFile(path));
  return ParseMidiBytes(bytes, path);
}

}  // namespace expsvc::music
