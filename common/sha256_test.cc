#include "common/sha256.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace expsvc {
namespace {

constexpr char kEmptyDigest[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbcDigest[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), kEmptyDigest);
  EXPECT_EQ(Sha256Hex("abc"), kAbcDigest);
  // FIPS 180-2's two-block message.
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, IncrementalMatchesOneShot) {
  Sha256Hasher hasher;
  hasher.Update("a");
  hasher.Update("");
  hasher.Update("bc");
  EXPECT_EQ(hasher.FinishHex(), kAbcDigest);
  Sha256Hasher untouched;
  EXPECT_EQ(untouched.FinishHex(), kEmptyDigest);
}

TEST(Sha256Test, HashesFiles) {
  const std::string path = ::testing::TempDir() + "/sha256_test_abc.txt";
  {
    std::ofstream out(path, std::ios::binary);
    out << "abc";
  }
  absl::StatusOr<std::string> digest = Sha256HexOfFile(path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, kAbcDigest);
  std::remove(path.c_str());

  absl::StatusOr<std::string> missing = Sha256HexOfFile(path);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace expsvc
