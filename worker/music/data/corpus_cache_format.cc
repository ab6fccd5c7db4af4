#include "worker/music/data/corpus_cache_format.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace expsvc::music {
namespace {

constexpr char kMagic[8] = {'E', 'X', 'P', 'S', 'V', 'C', 'M', 'D'};
constexpr size_t kHeaderSize = 8 + 4 + 8 + 8;

class Writer {
 public:
  void U8(uint32_t value) { out_.push_back(static_cast<char>(value & 0xFF)); }
  void U32(uint32_t value) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
  void U64(uint64_t value) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
  void String(absl::string_view text) {
    U32(static_cast<uint32_t>(text.size()));
    out_.append(text.data(), text.size());
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(absl::string_view bytes) : bytes_(bytes) {}

  absl::StatusOr<uint64_t> Unsigned(int width) {
    if (bytes_.size() - offset_ < static_cast<size_t>(width)) {
      return absl::DataLossError(absl::StrCat("cache payload ends early at byte ", offset_));
    }
    uint64_t value = 0;
    for (int i = 0; i < width; ++i) {
      value |= uint64_t{static_cast<uint8_t>(bytes_[offset_ + static_cast<size_t>(i)])} << (8 * i);
    }
    offset_ += static_cast<size_t>(width);
    return value;
  }
  absl::StatusOr<uint32_t> U32() {
    EXPSVC_ASSIGN_OR_RETURN(const uint64_t value, Unsigned(4));
    return static_cast<uint32_t>(value);
  }
  absl::StatusOr<std::string> String() {
    EXPSVC_ASSIGN_OR_RETURN(const uint32_t length, U32());
    if (bytes_.size() - offset_ < length) return absl::DataLossError("cache string runs past the end");
    std::string text(bytes_.substr(offset_, length));
    offset_ += length;
    return text;
  }
  // A count of items each at least `min_item_bytes` long that must fit in
  // what is left, so a corrupt count cannot trigger a huge allocation.
  absl::StatusOr<uint32_t> Count(size_t min_item_bytes) {
    EXPSVC_ASSIGN_OR_RETURN(const uint32_t count, U32());
    if (static_cast<uint64_t>(count) * min_item_bytes > bytes_.size() - offset_) {
      return absl::DataLossError(absl::StrCat("cache count ", count, " exceeds the payload"));
    }
    return count;
  }
  bool at_end() const { return offset_ == bytes_.size(); }

 private:
  absl::string_view bytes_;
  size_t offset_ = 0;
};

absl::Status DecodeSongs(Reader& reader, MusicCorpus& corpus) {
  EXPSVC_ASSIGN_OR_RETURN(const uint32_t song_count, reader.Count(8));
  corpus.songs.resize(song_count);
  for (Song& song : corpus.songs) {
    EXPSVC_ASSIGN_OR_RETURN(song.name, reader.String());
    EXPSVC_ASSIGN_OR_RETURN(const uint32_t bar_count, reader.Count(4));
    song.bars.resize(bar_count);
    for (Bar& bar : song.bars) {
      EXPSVC_ASSIGN_OR_RETURN(const uint32_t note_count, reader.Count(7));
      bar.notes.resize(note_count);
      for (BarNote& note : bar.notes) {
        EXPSVC_ASSIGN_OR_RETURN(const uint64_t track, reader.Unsigned(1));
        EXPSVC_ASSIGN_OR_RETURN(const uint64_t pitch, reader.Unsigned(1));
        EXPSVC_ASSIGN_OR_RETURN(const uint64_t position, reader.Unsigned(1));
        EXPSVC_ASSIGN_OR_RETURN(const uint32_t duration, reader.U32());
        if (track >= kNumTracks || pitch >= kNumPitches || position >= kPositionsPerBar || duration < 1 ||
            duration > static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) {
          return absl::DataLossError(absl::StrCat("cache note out of range in song ", song.name));
        }
        note = {static_cast<int32_t>(track), static_cast<int32_t>(pitch), static_cast<int32_t>(position),
                static_cast<int32_t>(duration)};
      }
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeSplits(Reader& reader, MusicCorpus& corpus) {
  for (size_t s = 0; s < kNumSplits; ++s) {
    EXPSVC_ASSIGN_OR_RETURN(const uint32_t songs, reader.U32());
    EXPSVC_ASSIGN_OR_RETURN(const uint64_t unfiltered, reader.Unsigned(8));
    EXPSVC_ASSIGN_OR_RETURN(const uint32_t window_count, reader.Count(8));
    corpus.songs_per_split[s] = static_cast<int32_t>(songs);
    corpus.unfiltered_windows[s] = static_cast<int64_t>(unfiltered);
    corpus.windows[s].resize(window_count);
    for (WindowRef& window : corpus.windows[s]) {
      EXPSVC_ASSIGN_OR_RETURN(const uint32_t song_index, reader.U32());
      EXPSVC_ASSIGN_OR_RETURN(const uint32_t first_bar, reader.U32());
      if (song_index >= corpus.songs.size() || uint64_t{first_bar} + static_cast<uint64_t>(corpus.options.window_bars) >
                                                   corpus.songs[song_index].bars.size()) {
        return absl::DataLossError("cache window outside its song");
      }
      window = {static_cast<int32_t>(song_index), static_cast<int32_t>(first_bar)};
    }
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t Fnv1a64(absl::string_view bytes, uint64_t hash) {
  for (const char c : bytes) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

std::string EncodeCorpusCache(const MusicCorpus& corpus, const std::string& key) {
  Writer payload;
  payload.String(key);
  payload.U32(static_cast<uint32_t>(corpus.songs_skipped));
  payload.U32(static_cast<uint32_t>(corpus.skip_reasons.size()));
  for (const std::string& reason : corpus.skip_reasons) payload.String(reason);
  payload.U32(static_cast<uint32_t>(corpus.songs.size()));
  for (const Song& song : corpus.songs) {
    payload.String(song.name);
    payload.U32(static_cast<uint32_t>(song.bars.size()));
    for (const Bar& bar : song.bars) {
      payload.U32(static_cast<uint32_t>(bar.notes.size()));
      for (const BarNote& note : bar.notes) {
        payload.U8(static_cast<uint32_t>(note.track));
        payload.U8(static_cast<uint32_t>(note.pitch));
        payload.U8(static_cast<uint32_t>(note.position));
        payload.U32(static_cast<uint32_t>(note.duration));
      }
    }
  }
  for (size_t s = 0; s < kNumSplits; ++s) {
    payload.U32(static_cast<uint32_t>(corpus.songs_per_split[s]));
    payload.U64(static_cast<uint64_t>(corpus.unfiltered_windows[s]));
    payload.U32(static_cast<uint32_t>(corpus.windows[s].size()));
    for (const WindowRef& window : corpus.windows[s]) {
      payload.U32(static_cast<uint32_t>(window.song_index));
      payload.U32(static_cast<uint32_t>(window.first_bar));
    }
  }
  Writer file;
  file.bytes().append(kMagic, sizeof(kMagic));
  file.U32(kCorpusCacheFormatVersion);
  file.U64(payload.bytes().size());
  file.U64(Fnv1a64(payload.bytes()));
  file.bytes() += payload.bytes();
  return std::move(file.bytes());
}

absl::StatusOr<MusicCorpus> DecodeCorpusCache(absl::string_view bytes, const std::string& expected_key,
                                              const CorpusOptions& options) {
  if (bytes.size() < kHeaderSize || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError("not a corpus cache file (bad magic)");
  }
  Reader header(bytes.substr(sizeof(kMagic), kHeaderSize - sizeof(kMagic)));
  EXPSVC_ASSIGN_OR_RETURN(const uint32_t version, header.U32());
  EXPSVC_ASSIGN_OR_RETURN(const uint64_t payload_length, header.Unsigned(8));
  EXPSVC_ASSIGN_OR_RETURN(const uint64_t checksum, header.Unsigned(8));
  if (version != kCorpusCacheFormatVersion) {
    return absl::DataLossError(absl::StrCat("cache format version ", version, ", want ", kCorpusCacheFormatVersion));
  }
  const absl::string_view payload = bytes.substr(kHeaderSize);
  if (payload.size() != payload_length) {
    return absl::DataLossError(
        absl::StrCat("cache payload is ", payload.size(), " bytes, header says ", payload_length));
  }
  if (Fnv1a64(payload) != checksum) return absl::DataLossError("cache checksum mismatch");

  Reader reader(payload);
  EXPSVC_ASSIGN_OR_RETURN(const std::string key, reader.String());
  if (key != expected_key) return absl::DataLossError("cache key differs from the expected key");
  MusicCorpus corpus;
  corpus.options = options;
  EXPSVC_ASSIGN_OR_RETURN(const uint32_t skipped, reader.U32());
  corpus.songs_skipped = static_cast<int32_t>(skipped);
  EXPSVC_ASSIGN_OR_RETURN(const uint32_t reason_count, reader.Count(4));
  corpus.skip_reasons.resize(reason_count);
  for (std::string& reason : corpus.skip_reasons) {
    EXPSVC_ASSIGN_OR_RETURN(reason, reader.String());
  }
  EXPSVC_RETURN_IF_ERROR(DecodeSongs(reader, corpus));
  EXPSVC_RETURN_IF_ERROR(DecodeSplits(reader, corpus));
  if (!reader.at_end()) return absl::DataLossError("trailing bytes after the cache payload");
  return corpus;
}

}  // namespace expsvc::music
