#pragma once
// The on-disk form of a MusicCorpus (songs as quantised bars + the window
// references of each split), so that a dataset is rebuilt from MIDI only
// when something that changes its content changed.
//
// Layout, little-endian:
//   "EXPSVCMD" | u32 format version | u64 payload length | u64 FNV-1a-64 of payload | payload
// payload:
//   string key (the full cache key; compared on load, so a file-name hash
//   collision can never serve the wrong data)
//   u32 skipped songs, u32 reason count, reasons (string each)
//   u32 song count; per song: string name, u32 bar count; per bar:
//     u32 note count; per note: u8 track, u8 pitch, u8 position, u32 duration
//   per split (train, valid, test): u32 songs, i64 unfiltered windows,
//     u32 window count, per window: u32 song index, u32 first bar
// string = u32 length + bytes.
//
// Decoding checks magic, version, length, checksum, key, and every index and
// value range; any failure is an error (the caller rebuilds), never data.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/music/data/music_corpus.h"

namespace expsvc::music {

// Bump when the layout or the quantisation rules change.
inline constexpr uint32_t kCorpusCacheFormatVersion = 1;

uint64_t Fnv1a64(absl::string_view bytes, uint64_t hash = 0xcbf29ce484222325ull);

std::string EncodeCorpusCache(const MusicCorpus& corpus, const std::string& key);

// `options` must be the ones the key was made from (they are not stored).
absl::StatusOr<MusicCorpus> DecodeCorpusCache(absl::string_view bytes, const std::string& expected_key,
                                              const CorpusOptions& options);

}  // namespace expsvc::music
