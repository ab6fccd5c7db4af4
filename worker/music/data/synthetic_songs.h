#pragma once
// Synthetic POP909-shaped songs: random quantised bars, written as a song
// folder (NNN/NNN.mid with MELODY/BRIDGE/PIANO tracks + beat_midi.txt) that
// the POP909 loader reads back exactly. For tests, and for demos on machines
// without POP909 (expsvc-synthetic-pop909).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/music/data/music_grid.h"

namespace expsvc::music {

// `bar_count` bars of random notes, in canonical order, with no two notes of
// one (track, pitch) overlapping in time (MIDI cannot hold those) and
// durations of at most `max_duration` positions. Inner bars may be empty;
// the first and the last bar always have notes (the loader trims empty ends).
std::vector<Bar> RandomBars(int32_t bar_count, uint64_t seed, int32_t max_notes_per_bar = 12,
                            int32_t max_duration = 60);

struct SyntheticSongLayout {
  double tempo_bpm = 100.0;
  // Beats (without notes) in the beat file before the first downbeat; bar 0
  // of `bars` starts at that downbeat.
  int32_t pickup_beats = 0;
  int32_t extra_beats_at_end = 4;
};

// Writes pop909_dir/name/name.mid and pop909_dir/name/beat_midi.txt so that
// LoadPop909Song returns `bars` (bar 0 at the first downbeat, 4 beats per bar).
absl::Status WriteSyntheticSong(const std::string& pop909_dir, const std::string& name, const std::vector<Bar>& bars,
                                const SyntheticSongLayout& layout = {});

}  // namespace expsvc::music
