#include "worker/music/data/pop909.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/music/data/beat_grid.h"
#include "worker/music/data/midi_file.h"

namespace expsvc::music {
namespace {

// No real song is anywhere near this long; it bounds the work a corrupt
// tempo map or beat file can cause.
constexpr int64_t kMaxSongTicks = int64_t{kPositionsPerBar} * 20'000;
constexpr double kMaxNoteSeconds = 24 * 3600;

bool ParseDouble(absl::string_view text, double* value) {
  // strtod needs a terminated string; fields are short.
  const std::string field(text);
  char* end = nullptr;
  errno = 0;
  *value = std::strtod(field.c_str(), &end);
  return errno == 0 && end == field.c_str() + field.size() && std::isfinite(*value);
}

struct TimedNote {
  int32_t track;
  int32_t pitch;
  double onset_seconds;
  double offset_seconds;
};

// Merges same (track, pitch, position) notes, keeping the longest; expects
// the canonical order, in which such notes are adjacent, shortest first.
void MergeDuplicateNotes(Bar& bar) {
  std::vector<BarNote> merged;
  merged.reserve(bar.notes.size());
  for (const BarNote& note : bar.notes) {
    if (!merged.empty() && merged.back().position == note.position && merged.back().pitch == note.pitch &&
        merged.back().track == note.track) {
      merged.back() = note;
    } else {
      merged.push_back(note);
    }
  }
  bar.notes = std::move(merged);
}

}  // namespace

absl::StatusOr<std::string> ResolvePop909Dir(const std::string& data_dir) {
  std::string root = data_dir;
  if (root.empty()) {
    const char* from_env = std::getenv(kDataDirEnvVar);
    if (from_env == nullptr || *from_env == '\0') {
      return absl::NotFoundError(absl::StrCat("no data directory given and ", kDataDirEnvVar, " is not set"));
    }
    root = from_env;
  }
  const std::string pop909_dir = (std::filesystem::path(root) / "POP909").string();
  std::error_code error;
  if (!std::filesystem::is_directory(pop909_dir, error)) {
    return absl::NotFoundError(absl::StrCat("POP909 not found at ", pop909_dir));
  }
  return pop909_dir;
}

absl::StatusOr<std::vector<std::string>> ListPop909Songs(const std::string& pop909_dir) {
  std::vector<std::string> names;
  std::error_code error;
  std::filesystem::directory_iterator it(pop909_dir, error);
  if (error) {
    return absl::NotFoundError(absl::StrCat("cannot list ", pop909_dir, ": ", error.message()));
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) break;
    const std::string name = it->path().filename().string();
    const bool all_digits =
        !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return absl::ascii_isdigit(c); });
    std::error_code is_dir_error;
    if (all_digits && it->is_directory(is_dir_error)) names.push_back(name);
  }
  if (error) {
    return absl::DataLossError(absl::StrCat("error listing ", pop909_dir, ": ", error.message()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<Pop909Beats> ParsePop909BeatFile(absl::string_view text, const std::string& source) {
  Pop909Beats beats;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    double seconds = 0, half_bar_flag = 0, downbeat_flag = 0;
    if (fields.size() != 3 || !ParseDouble(fields[0], &seconds) || !ParseDouble(fields[1], &half_bar_flag) ||
        !ParseDouble(fields[2], &downbeat_flag)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad beat line ", line_number, " (want: seconds flag flag) in ", source));
    }
    if (downbeat_flag != 0.0) {
      beats.downbeat_indices.push_back(static_cast<int32_t>(beats.beat_seconds.size()));
    }
    beats.beat_seconds.push_back(seconds);
  }
  if (beats.beat_seconds.size() < 2 || beats.downbeat_indices.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("beat file has ", beats.beat_seconds.size(), " beats and ",
                                                   beats.downbeat_indices.size(),
                                                   " downbeats (need 2 and 1): ", source));
  }
  return beats;
}

absl::StatusOr<Song> LoadPop909Song(const std::string& pop909_dir, const std::string& song_name) {
  const std::filesystem::path song_dir = std::filesystem::path(pop909_dir) / song_name;
  const std::string midi_path = (song_dir / (song_name + ".mid")).string();
  const std::string beat_path = (song_dir / "beat_midi.txt").string();

  EXPSVC_ASSIGN_OR_RETURN(const MidiContents midi, ReadMidiFile(midi_path));
  std::vector<TimedNote> notes;
  bool found_instrument_track = false;
  for (const MidiTrack& track : midi.tracks) {
    const int32_t track_id = TrackIdForName(track.name);
    if (track_id < 0) continue;
    found_instrument_track = true;
    for (const MidiNote& note : track.notes) {
      notes.push_back({track_id, note.pitch, note.onset_seconds, note.offset_seconds});
    }
  }
  if (!found_instrument_track) {
    return absl::InvalidArgumentError(absl::StrCat("no MELODY/BRIDGE/PIANO track in MIDI file: ", midi_path));
  }
  if (notes.empty()) return absl::InvalidArgumentError(absl::StrCat("no notes in MIDI file: ", midi_path));

  EXPSVC_ASSIGN_OR_RETURN(const std::string beat_text, fs::ReadFile(beat_path));
  EXPSVC_ASSIGN_OR_RETURN(Pop909Beats beats, ParsePop909BeatFile(beat_text, beat_path));
  absl::StatusOr<BeatGrid> grid = BeatGrid::Create(std::move(beats.beat_seconds), std::move(beats.downbeat_indices));
  if (!grid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(grid.status().message(), ": ", beat_path));
  }

  struct TickNote {
    int32_t track, pitch;
    int64_t onset, duration;
  };
  std::vector<TickNote> tick_notes;
  tick_notes.reserve(notes.size());
  int64_t first_tick = std::numeric_limits<int64_t>::max();
  int64_t last_tick = std::numeric_limits<int64_t>::min();
  for (const TimedNote& note : notes) {
    if (std::fabs(note.onset_seconds) > kMaxNoteSeconds || std::fabs(note.offset_seconds) > kMaxNoteSeconds) {
      return absl::InvalidArgumentError(
          absl::StrCat("implausible note time ", note.onset_seconds, " s in MIDI file: ", midi_path));
    }
    const int64_t onset = grid->SecondsToTick(note.onset_seconds);
    const int64_t offset = grid->SecondsToTick(note.offset_seconds);
    tick_notes.push_back({note.track, note.pitch, onset, std::max<int64_t>(1, offset - onset)});
    first_tick = std::min(first_tick, onset);
    last_tick = std::max(last_tick, onset);
  }
  if (last_tick - first_tick > kMaxSongTicks) {
    return absl::InvalidArgumentError(absl::StrCat("implausible song length (",
                                                   (last_tick - first_tick) / kPositionsPerBar, " bars) for ",
                                                   midi_path, " with ", beat_path));
  }

  const std::vector<int64_t> bar_starts = grid->BarStartTicks(first_tick, last_tick);
  Song song;
  song.name = song_name;
  song.bars.resize(bar_starts.size());
  for (const TickNote& note : tick_notes) {
    const size_t bar_index =
        static_cast<size_t>(std::upper_bound(bar_starts.begin(), bar_starts.end(), note.onset) - bar_starts.begin()) -
        1;
    BarNote bar_note;
    bar_note.track = note.track;
    bar_note.pitch = note.pitch;
    bar_note.position = static_cast<int32_t>(note.onset - bar_starts[bar_index]);
    bar_note.duration = static_cast<int32_t>(std::min<int64_t>(note.duration, kMaxSongTicks));
    song.bars[bar_index].notes.push_back(bar_note);
  }
  for (Bar& bar : song.bars) {
    SortBarNotes(bar);
    MergeDuplicateNotes(bar);
  }
  const auto has_notes = [](const Bar& bar) { return !bar.notes.empty(); };
  const auto first = std::find_if(song.bars.begin(), song.bars.end(), has_notes);
  const auto last = std::find_if(song.bars.rbegin(), song.bars.rend(), has_notes).base();
  song.bars = std::vector<Bar>(std::make_move_iterator(first), std::make_move_iterator(last));
  return song;
}

}  // namespace expsvc::music
