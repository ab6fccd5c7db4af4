#include "worker/music/data/music_dataset.h"

#include <sys/stat.h>

#include <filesystem>
#include <iostream>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/music/data/corpus_cache_format.h"
#include "worker/music/data/note_tokens.h"
#include "worker/music/data/pop909.h"

namespace expsvc::music {
namespace {

void Warn(const CorpusLoadCallbacks& callbacks, const std::string& line) {
  if (callbacks.warning) {
    callbacks.warning(line);
  } else {
    std::cerr << line << "\n";
  }
}

// "size:mtime_ns" of a file, or "-" when it cannot be stat'ed.
std::string FileStamp(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return "-";
  return absl::StrCat(info.st_size, ":", info.st_mtim.tv_sec, ".", info.st_mtim.tv_nsec);
}

}  // namespace

MusicDataset::MusicDataset(MusicDataConfig config, MusicCorpus corpus, bool loaded_from_cache, std::string cache_path)
    : config_(std::move(config)),
      corpus_(std::move(corpus)),
      loaded_from_cache_(loaded_from_cache),
      cache_path_(std::move(cache_path)) {}

MusicDatasetCounts MusicDataset::counts() const {
  MusicDatasetCounts counts;
  counts.songs_used = static_cast<int32_t>(corpus_.songs.size());
  counts.songs_skipped = corpus_.songs_skipped;
  counts.songs_per_split = corpus_.songs_per_split;
  counts.unfiltered_windows = corpus_.unfiltered_windows;
  for (size_t s = 0; s < kNumSplits; ++s) counts.windows[s] = static_cast<int64_t>(corpus_.windows[s].size());
  return counts;
}

std::span<const Bar> MusicDataset::WindowBars(Split split, size_t index) const {
  return corpus_.WindowBars(corpus_.split_windows(split).at(index));
}

absl::StatusOr<TokenSequence> MusicDataset::Sequence(Split split, size_t index) const {
  if (index >= size(split)) {
    return absl::OutOfRangeError(absl::StrCat("window ", index, " of ", size(split), " in split ", SplitName(split)));
  }
  const std::span<const Bar> bars = WindowBars(split, index);
  if (config_.representation == Representation::kNoteBased) return TokenizeNoteBased(bars);
  return TokenizeEventBased(bars, config_.event_pitch_rule);
}

absl::StatusOr<std::vector<Bar>> MusicDataset::ReferenceBars(Split split, size_t index) const {
  EXPSVC_ASSIGN_OR_RETURN(TokenSequence sequence, Sequence(split, index));
  if (config_.representation == Representation::kNoteBased) {
    return DetokenizeNoteBased(sequence.tokens, window_bars());
  }
  return DetokenizeEventBased(sequence.tokens, window_bars());
}

absl::StatusOr<std::vector<int64_t>> MusicDataset::SequenceLengths(Split split) const {
  std::vector<int64_t> lengths;
  lengths.reserve(size(split));
  for (size_t i = 0; i < size(split); ++i) {
    EXPSVC_ASSIGN_OR_RETURN(TokenSequence sequence, Sequence(split, i));
    lengths.push_back(static_cast<int64_t>(sequence.length()));
  }
  return lengths;
}

absl::StatusOr<std::vector<TokenSequence>> MusicDataset::MaterializeSplit(Split split) const {
  std::vector<TokenSequence> sequences;
  sequences.reserve(size(split));
  for (size_t i = 0; i < size(split); ++i) {
    EXPSVC_ASSIGN_OR_RETURN(TokenSequence sequence, Sequence(split, i));
    sequences.push_back(std::move(sequence));
  }
  return sequences;
}

std::string MusicDataset::Summary() const {
  const MusicDatasetCounts c = counts();
  return absl::StrFormat(
      "POP909 %s: %d songs used, %d skipped; windows train/valid/test = %d/%d/%d "
      "(songs %d/%d/%d; %d/%d/%d before the note cap)%s",
      RepresentationName(config_.representation), c.songs_used, c.songs_skipped, c.windows[0], c.windows[1],
      c.windows[2], c.songs_per_split[0], c.songs_per_split[1], c.songs_per_split[2], c.unfiltered_windows[0],
      c.unfiltered_windows[1], c.unfiltered_windows[2], loaded_from_cache_ ? " [from cache]" : "");
}

absl::StatusOr<std::string> MusicCorpusCacheKey(const std::string& pop909_dir, const CorpusOptions& options) {
  EXPSVC_ASSIGN_OR_RETURN(std::vector<std::string> names, ListPop909Songs(pop909_dir));
  if (options.max_songs > 0 && names.size() > static_cast<size_t>(options.max_songs)) {
    names.resize(static_cast<size_t>(options.max_songs));
  }
  uint64_t fingerprint = Fnv1a64("");
  for (const std::string& name : names) {
    const std::filesystem::path song_dir = std::filesystem::path(pop909_dir) / name;
    fingerprint = Fnv1a64(absl::StrCat(name, "|", FileStamp((song_dir / (name + ".mid")).string()), "|",
                                       FileStamp((song_dir / "beat_midi.txt").string()), ";"),
                          fingerprint);
  }
  return absl::StrFormat(
      "pop909-corpus format=%d window_bars=%d stride_bars=%d split_seed=%d "
      "max_notes_per_window=%d data_fraction=%.17g max_songs=%d songs=%d files=%016x",
      kCorpusCacheFormatVersion, options.window_bars, options.stride_bars, options.split_seed,
      options.max_notes_per_window, options.data_fraction, options.max_songs, names.size(), fingerprint);
}

std::string MusicCorpusCacheFileName(const std::string& key) {
  return absl::StrFormat("pop909-corpus-%016x.bin", Fnv1a64(key));
}

absl::StatusOr<MusicDataset> LoadOrBuildMusicDataset(const MusicDataConfig& config, const std::string& cache_dir,
                                                     const CorpusLoadCallbacks& callbacks) {
  EXPSVC_RETURN_IF_ERROR(ValidateCorpusOptions(config.corpus));
  EXPSVC_ASSIGN_OR_RETURN(const std::string pop909_dir, ResolvePop909Dir(config.data_dir));

  std::string cache_path;
  std::string key;
  if (!cache_dir.empty()) {
    EXPSVC_ASSIGN_OR_RETURN(key, MusicCorpusCacheKey(pop909_dir, config.corpus));
    cache_path = (std::filesystem::path(cache_dir) / MusicCorpusCacheFileName(key)).string();
    std::error_code exists_error;
    if (std::filesystem::exists(cache_path, exists_error)) {
      absl::StatusOr<std::string> bytes = fs::ReadFile(cache_path);
      absl::StatusOr<MusicCorpus> cached = bytes.ok() ? DecodeCorpusCache(*bytes, key, config.corpus) : bytes.status();
      if (cached.ok()) return MusicDataset(config, *std::move(cached), /*loaded_from_cache=*/true, cache_path);
      Warn(callbacks, absl::StrCat("ignoring unusable music data cache ", cache_path, ": ", cached.status().ToString(),
                                   "; rebuilding"));
    }
  }

  EXPSVC_ASSIGN_OR_RETURN(MusicCorpus corpus, BuildPop909Corpus(pop909_dir, config.corpus, callbacks));
  if (!cache_path.empty()) {
    std::error_code mkdir_error;
    std::filesystem::create_directories(cache_dir, mkdir_error);
    const absl::Status written =
        mkdir_error
            ? absl::PermissionDeniedError(absl::StrCat("cannot create ", cache_dir, ": ", mkdir_error.message()))
            : fs::WriteFileAtomically(cache_path, EncodeCorpusCache(corpus, key));
    if (!written.ok()) {
      // The data is fine; only the next run pays for the rebuild.
      Warn(callbacks, absl::StrCat("could not write music data cache: ", written.ToString()));
    }
  }
  return MusicDataset(config, std::move(corpus), /*loaded_from_cache=*/false, cache_path);
}

}  // namespace expsvc::music
