#include "worker/music/data/testing/music_test_data.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
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
#include "worker/music/data/pop909.h"

namespace expsvc::music::testing {

namespace {

// Removes the directories MakeTempDir made when the test binary exits.
class TempDirs {
 public:
  ~TempDirs() {
    for (const std::filesystem::path& dir : dirs_) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }
  void Add(std::filesystem::path dir) { dirs_.push_back(std::move(dir)); }

 private:
  std::vector<std::filesystem::path> dirs_;
};

TempDirs& MadeTempDirs() {
  static TempDirs dirs;
  return dirs;
}

}  // namespace

std::string MakeTempDir(const std::string& label) {
  static std::atomic<int> counter{0};
  const char* base = std::getenv("TEST_TMPDIR");
  const std::filesystem::path dir = std::filesystem::path(base != nullptr ? base : "/tmp") /
                                    absl::StrCat("expsvc-music-", label, "-", ::getpid(), "-", counter.fetch_add(1));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  MadeTempDirs().Add(dir);
  return dir.string();
}

std::vector<Song> LoadFirstRealPop909Songs(int32_t count) {
  std::vector<Song> songs;
  absl::StatusOr<std::string> dir = ResolvePop909Dir("");
  if (!dir.ok()) return songs;
  absl::StatusOr<std::vector<std::string>> names = ListPop909Songs(*dir);
  if (!names.ok()) {
    ADD_FAILURE() << names.status();
    return songs;
  }
  for (size_t i = 0; i < names->size() && static_cast<int32_t>(i) < count; ++i) {
    absl::StatusOr<Song> song = LoadPop909Song(*dir, (*names)[i]);
    if (!song.ok()) {
      ADD_FAILURE() << song.status();
      continue;
    }
    songs.push_back(*std::move(song));
  }
  return songs;
}

}  // namespace expsvc::music::testing
