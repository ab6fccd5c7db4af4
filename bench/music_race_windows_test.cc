// The race's sample file: a round trip keeps every array, and a damaged
// file (another format, cut short, a corrupt length, bytes left over) is an
// error naming the problem, never a crash.
#include "bench/music_race_windows.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace expsvc::bench {
namespace {

music::TokenSequence Window(int32_t length, int32_t offset) {
  music::TokenSequence w;
  for (int32_t t = 0; t < length; ++t) {
    w.tokens.push_back(offset + t);
    w.times.push_back(t * 12);
    w.pitches.push_back(t % 3 == 0 ? 0 : 60 + t);
    w.has_pitch.push_back(t % 3 == 0 ? 0 : 1);
  }
  return w;
}

class RaceWindowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "race-windows-" + std::to_string(reinterpret_cast<uintptr_t>(this)) + ".bin";
    windows_.description = "three windows";
    windows_.train = {Window(5, 10), Window(1, 20)};
    windows_.test = {Window(7, 30)};
    ASSERT_TRUE(WriteRaceWindows(windows_, path_).ok());
  }
  void TearDown() override { std::remove(path_.c_str()); }

  std::string Bytes() const {
    std::ifstream file(path_, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  }
  void Rewrite(const std::string& bytes) const {
    std::ofstream file(path_, std::ios::binary | std::ios::trunc);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  std::string path_;
  RaceWindows windows_;
};

TEST_F(RaceWindowsTest, RoundTripKeepsEverything) {
  const absl::StatusOr<RaceWindows> read = ReadRaceWindows(path_);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->description, windows_.description);
  EXPECT_EQ(read->fields_per_token, 1);
  EXPECT_EQ(read->train, windows_.train);
  EXPECT_EQ(read->test, windows_.test);
}

TEST_F(RaceWindowsTest, EveryTruncationIsAnErrorNotACrash) {
  const std::string bytes = Bytes();
  for (size_t size = 0; size < bytes.size(); ++size) {
    Rewrite(bytes.substr(0, size));
    const absl::StatusOr<RaceWindows> read = ReadRaceWindows(path_);
    EXPECT_FALSE(read.ok()) << "accepted a file cut to " << size << " of " << bytes.size() << " bytes";
  }
}

TEST_F(RaceWindowsTest, DamageIsNamed) {
  const std::string bytes = Bytes();
  Rewrite("PK\x03\x04 a zip file, not windows");
  EXPECT_NE(ReadRaceWindows(path_).status().message().find("not a race windows file"), std::string::npos);

  Rewrite(bytes + "x");
  EXPECT_NE(ReadRaceWindows(path_).status().message().find("after the last window"), std::string::npos);

  // The first window's length (right after the header, description,
  // fields and the two counts) set absurdly large.
  std::string corrupt = bytes;
  const size_t first_length = 22 + 4 + windows_.description.size() + 4 + 8 + 8;
  corrupt[first_length + 7] = 0x7f;
  Rewrite(corrupt);
  EXPECT_NE(ReadRaceWindows(path_).status().message().find("corrupt length"), std::string::npos)
      << ReadRaceWindows(path_).status();

  EXPECT_EQ(ReadRaceWindows(path_ + ".missing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RaceWindowsTest, RefusesInconsistentWindowsOnWrite) {
  RaceWindows bad = windows_;
  bad.train[0].times.pop_back();
  EXPECT_FALSE(WriteRaceWindows(bad, path_ + ".bad").ok());
}

}  // namespace
}  // namespace expsvc::bench
