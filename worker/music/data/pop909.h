#pragma once
// POP909 on disk: `<pop909_dir>/NNN/NNN.mid` (tracks MELODY, BRIDGE, PIANO)
// and `<pop909_dir>/NNN/beat_midi.txt` (one row per beat: time in seconds,
// a half-bar flag, the downbeat flag). A song becomes quantised 4/4 bars by
// the rules in beat_grid.h; the MIDI file's own time signatures are ignored
// because they are wrong for most songs.
//
// After quantisation, notes with the same (track, pitch, onset) are merged
// into one (the longest), and empty bars before the first and after the last
// note are dropped; empty bars inside the song are kept.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/music/data/music_grid.h"

namespace expsvc::music {

inline constexpr char kDataDirEnvVar[] = "EXPSVC_DATA_DIR";

// `data_dir` + "/POP909", with `data_dir` defaulting to $EXPSVC_DATA_DIR when
// empty. NotFound when neither is set or the folder does not exist.
absl::StatusOr<std::string> ResolvePop909Dir(const std::string& data_dir);

// Sorted names of the song folders (all-digit names) under `pop909_dir`.
absl::StatusOr<std::vector<std::string>> ListPop909Songs(const std::string& pop909_dir);

// The beat file: beat times and the indices of the downbeat rows.
struct Pop909Beats {
  std::vector<double> beat_seconds;
  std::vector<int32_t> downbeat_indices;
};
absl::StatusOr<Pop909Beats> ParsePop909BeatFile(absl::string_view text, const std::string& source);

// Loads and quantises one song; every error names the offending file.
absl::StatusOr<Song> LoadPop909Song(const std::string& pop909_dir, const std::string& song_name);

}  // namespace expsvc::music
