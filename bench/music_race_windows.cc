#include "bench/music_race_windows.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace expsvc::bench {
namespace {

// Layout, little-endian as written by this machine: the magic line, then
// u32 description length and its bytes, i32 fields per token, u64 train and
// test window counts, then per window u64 length L and its arrays: tokens
// (L·fields i32), times (L i32), pitches (L i32), has_pitch (L u8).
constexpr char kMagic[] = "EXPSVC-RACE-WINDOWS-1\n";
// A window longer than this is a corrupt length, not music (16 bars hold at
// most a few thousand tokens).
constexpr uint64_t kMaxWindowTokens = 1 << 20;

template <typename T>
void Put(std::string& out, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
void PutArray(std::string& out, const std::vector<T>& values) {
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

class Reader {
 public:
  Reader(const std::string& bytes, const std::string& path) : bytes_(bytes), path_(path) {}

  template <typename T>
  absl::Status Get(T& value, const char* what) {
    if (bytes_.size() - offset_ < sizeof(T)) return Truncated(what);
    std::memcpy(&value, bytes_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return absl::OkStatus();
  }

  template <typename T>
  absl::Status GetArray(std::vector<T>& values, uint64_t count, const char* what) {
    if ((bytes_.size() - offset_) / sizeof(T) < count) return Truncated(what);
    values.resize(count);
    std::memcpy(values.data(), bytes_.data() + offset_, count * sizeof(T));
    offset_ += count * sizeof(T);
    return absl::OkStatus();
  }

  absl::Status Expect(const char* literal, size_t size) {
    if (bytes_.size() < size || bytes_.compare(0, size, literal, size) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": not a race windows file (no ", "EXPSVC-RACE-WINDOWS-1",
                                                     " header; write it with music_race_export)"));
    }
    offset_ = size;
    return absl::OkStatus();
  }

  bool at_end() const { return offset_ == bytes_.size(); }
  size_t offset() const { return offset_; }

 private:
  absl::Status Truncated(const char* what) const {
    return absl::DataLossError(absl::StrCat(path_, ": truncated at byte ", offset_, " (reading ", what, ")"));
  }

  const std::string& bytes_;
  const std::string& path_;
  size_t offset_ = 0;
};

absl::Status ReadWindow(Reader& reader, int32_t fields, music::TokenSequence& window, const std::string& path) {
  uint64_t length = 0;
  if (absl::Status s = reader.Get(length, "a window's length"); !s.ok()) return s;
  if (length == 0 || length > kMaxWindowTokens) {
    return absl::DataLossError(
        absl::StrCat(path, ": a window of ", length, " tokens at byte ", reader.offset(), " (corrupt length)"));
  }
  window.fields_per_token = fields;
  for (absl::Status s :
       {reader.GetArray(window.tokens, length * static_cast<uint64_t>(fields), "tokens"),
        reader.GetArray(window.times, length, "times"), reader.GetArray(window.pitches, length, "pitches"),
        reader.GetArray(window.has_pitch, length, "has_pitch")}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteRaceWindows(const RaceWindows& windows, const std::string& path) {
  std::string out(kMagic, sizeof(kMagic) - 1);
  Put(out, static_cast<uint32_t>(windows.description.size()));
  out += windows.description;
  Put(out, windows.fields_per_token);
  Put(out, static_cast<uint64_t>(windows.train.size()));
  Put(out, static_cast<uint64_t>(windows.test.size()));
  for (const auto* split : {&windows.train, &windows.test}) {
    for (const music::TokenSequence& w : *split) {
      if (w.fields_per_token != windows.fields_per_token || w.tokens.size() != w.length() * w.fields_per_token ||
          w.pitches.size() != w.length() || w.has_pitch.size() != w.length() || w.length() == 0) {
        return absl::InvalidArgumentError("WriteRaceWindows: a window's arrays disagree in length or fields");
      }
      Put(out, static_cast<uint64_t>(w.length()));
      PutArray(out, w.tokens);
      PutArray(out, w.times);
      PutArray(out, w.pitches);
      PutArray(out, w.has_pitch);
    }
  }
  // Written whole to a temporary name, then renamed: a reader never sees
  // half a file.
  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (!file.good()) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", temporary, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<RaceWindows> ReadRaceWindows(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  Reader reader(bytes, path);
  if (absl::Status s = reader.Expect(kMagic, sizeof(kMagic) - 1); !s.ok()) return s;
  RaceWindows windows;
  uint32_t description_size = 0;
  if (absl::Status s = reader.Get(description_size, "the description's length"); !s.ok()) return s;
  std::vector<char> description;
  if (absl::Status s = reader.GetArray(description, description_size, "the description"); !s.ok()) return s;
  windows.description.assign(description.begin(), description.end());
  uint64_t train = 0, test = 0;
  for (absl::Status s : {reader.Get(windows.fields_per_token, "fields per token"), reader.Get(train, "train count"),
                         reader.Get(test, "test count")}) {
    if (!s.ok()) return s;
  }
  if (windows.fields_per_token < 1 || windows.fields_per_token > 16) {
    return absl::DataLossError(absl::StrCat(path, ": ", windows.fields_per_token, " fields per token (corrupt)"));
  }
  if (train == 0 || test == 0) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", train, " train and ", test, " test windows; the race needs both"));
  }
  // Each window takes at least 8 + 13 bytes, which bounds honest counts.
  if (train + test > bytes.size() / 21) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", train, " train and ", test, " test windows cannot fit its ", bytes.size(), " bytes"));
  }
  windows.train.resize(train);
  windows.test.resize(test);
  for (auto* split : {&windows.train, &windows.test}) {
    for (music::TokenSequence& w : *split) {
      if (absl::Status s = ReadWindow(reader, windows.fields_per_token, w, path); !s.ok()) return s;
    }
  }
  if (!reader.at_end()) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", bytes.size() - reader.offset(), " bytes after the last window"));
  }
  return windows;
}

}  // namespace expsvc::bench
