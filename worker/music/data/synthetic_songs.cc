#include "worker/music/data/synthetic_songs.h"

#include <filesystem>
#include <map>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/music/data/grid_midi.h"
#include "worker/music/data/midi_writer.h"

namespace expsvc::music {

std::vector<Bar> RandomBars(int32_t bar_count, uint64_t seed, int32_t max_notes_per_bar, int32_t max_duration) {
  std::mt19937_64 random(seed);
  const auto uniform = [&random](int32_t low, int32_t high) {  // inclusive
    return low + static_cast<int32_t>(random() % static_cast<uint64_t>(high - low + 1));
  };
  std::vector<Bar> bars(static_cast<size_t>(bar_count));
  std::map<std::pair<int32_t, int32_t>, int64_t> busy_until;  // (track, pitch) -> end tick
  for (int32_t b = 0; b < bar_count; ++b) {
    const bool must_have_notes = b == 0 || b == bar_count - 1;
    const int32_t wanted = uniform(must_have_notes ? 1 : 0, max_notes_per_bar);
    for (int32_t n = 0; n < wanted * 4 && static_cast<int32_t>(bars[static_cast<size_t>(b)].notes.size()) < wanted;
         ++n) {
      BarNote note;
      note.track = uniform(0, kNumTracks - 1);
      note.pitch = uniform(36 + 12 * note.track, 60 + 12 * note.track);
      note.position = uniform(0, kPositionsPerBar - 1);
      note.duration = uniform(1, max_duration);
      const int64_t start = int64_t{b} * kPositionsPerBar + note.position;
      int64_t& busy = busy_until[{note.track, note.pitch}];
      if (start < busy) continue;
      busy = start + note.duration;
      bars[static_cast<size_t>(b)].notes.push_back(note);
    }
    if (must_have_notes && bars[static_cast<size_t>(b)].notes.empty()) {
      // Pitch 127 is never drawn above, so it is always free.
      bars[static_cast<size_t>(b)].notes.push_back({kPianoTrack, 127, 0, 1});
    }
    SortBarNotes(bars[static_cast<size_t>(b)]);
  }
  return bars;
}

absl::Status WriteSyntheticSong(const std::string& pop909_dir, const std::string& name, const std::vector<Bar>& bars,
                                const SyntheticSongLayout& layout) {
  const std::filesystem::path song_dir = std::filesystem::path(pop909_dir) / name;
  std::filesystem::create_directories(song_dir);

  MidiWriterScore score = GridToMidiScore(bars, {.tempo_bpm = layout.tempo_bpm});
  const int64_t shift = int64_t{layout.pickup_beats} * kGridMidiTicksPerBeat;
  for (MidiWriterTrack& track : score.tracks) {
    for (MidiWriterNote& note : track.notes) note.start_tick += shift;
  }
  EXPSVC_ASSIGN_OR_RETURN(const std::string midi, EncodeStandardMidiFile(score));
  EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically((song_dir / (name + ".mid")).string(), midi));

  std::string beats;
  const int32_t beat_count =
      layout.pickup_beats + static_cast<int32_t>(bars.size()) * kBeatsPerBar + layout.extra_beats_at_end;
  const double seconds_per_beat = 60.0 / layout.tempo_bpm;
  for (int32_t i = 0; i < beat_count; ++i) {
    const int32_t from_downbeat = i - layout.pickup_beats;
    const bool downbeat = from_downbeat >= 0 && from_downbeat % kBeatsPerBar == 0;
    const bool half_bar = from_downbeat >= 0 ? from_downbeat % 2 == 0 : (-from_downbeat) % 2 == 0;
    absl::StrAppendFormat(&beats, "%.17g %.1f %.1f\n", i * seconds_per_beat, half_bar ? 1.0 : 0.0,
                          downbeat ? 1.0 : 0.0);
  }
  return fs::WriteFileAtomically((song_dir / "beat_midi.txt").string(), beats);
}

}  // namespace expsvc::music
