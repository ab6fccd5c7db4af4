#include "worker/lm/corpus/corpus_file_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"

namespace expsvc::lm {
namespace {

using ::testing::HasSubstr;

// Two documents per split, windows of BOS + 3.
LmCorpus SmallCorpus(int32_t vocab_size) {
  LmCorpus corpus(vocab_size, /*bos_id=*/1, /*window_length=*/4, /*split_seed=*/77);
  TokenId next = 5;
  for (Split split : kAllSplits) {
    for (Language language : {Language::kEnglish, Language::kJapanese}) {
      const uint32_t document = corpus.AddDocument(
          {.key = "k" + SplitName(split), .title = "タイトル title", .language = language, .split = split});
      for (int w = 0; w < 2; ++w) {
        std::vector<TokenId> window = {1, next, next + 1, vocab_size - 1};
        next += 2;
        EXPECT_TRUE(corpus.AddWindow(document, window).ok());
      }
    }
  }
  return corpus;
}

void ExpectSameCorpus(const LmCorpus& a, const LmCorpus& b) {
  EXPECT_EQ(a.vocab_size(), b.vocab_size());
  EXPECT_EQ(a.bos_id(), b.bos_id());
  EXPECT_EQ(a.window_length(), b.window_length());
  EXPECT_EQ(a.split_seed(), b.split_seed());
  ASSERT_EQ(a.documents().size(), b.documents().size());
  for (size_t d = 0; d < a.documents().size(); ++d) {
    EXPECT_EQ(a.documents()[d].key, b.documents()[d].key);
    EXPECT_EQ(a.documents()[d].title, b.documents()[d].title);
    EXPECT_EQ(a.documents()[d].language, b.documents()[d].language);
    EXPECT_EQ(a.documents()[d].split, b.documents()[d].split);
  }
  for (Split split : kAllSplits) {
    ASSERT_EQ(a.window_count(split), b.window_count(split));
    for (int64_t w = 0; w < a.window_count(split); ++w) {
      const CorpusWindow x = a.window(split, w);
      const CorpusWindow y = b.window(split, w);
      EXPECT_EQ(std::vector<TokenId>(x.tokens.begin(), x.tokens.end()),
                std::vector<TokenId>(y.tokens.begin(), y.tokens.end()));
      EXPECT_EQ(x.language, y.language);
      EXPECT_EQ(x.document, y.document);
    }
  }
}

// Offsets in a version-2 file: the 72-byte header, the tokenizer identity
// (u32 length + text), the document table (4 label bytes, then key and title
// with their u32 lengths), the 8-byte window labels, zero padding to a
// multiple of 8, the tokens.
size_t LabelsOffset(const LmCorpus& corpus) {
  size_t offset = 72 + 4 + corpus.tokenizer_identity().size();
  for (const CorpusDocumentInfo& document : corpus.documents()) {
    offset += 4 + 4 + document.key.size() + 4 + document.title.size();
  }
  return offset;
}
size_t TokensOffset(const LmCorpus& corpus) {
  size_t windows = 0;
  for (Split split : kAllSplits) windows += static_cast<size_t>(corpus.window_count(split));
  const size_t labels_end = LabelsOffset(corpus) + 8 * windows;
  return (labels_end + 7) / 8 * 8;
}

// Rewrites the trailing CRC so that a deliberate change reaches the checks
// behind the checksum.
std::string WithFreshChecksum(std::string bytes) {
  const size_t body = bytes.size() - 4;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(body));
  for (int i = 0; i < 4; ++i) bytes[body + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  return bytes;
}

TEST(CorpusFileFormatTest, RoundTripsWithSixteenAndThirtyTwoBitIds) {
  for (int32_t vocab_size : {8000, 65536, 100000}) {
    SCOPED_TRACE(vocab_size);
    const LmCorpus corpus = SmallCorpus(vocab_size);
    absl::StatusOr<std::string> bytes = EncodeCorpusFile(corpus);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(static_cast<unsigned char>((*bytes)[12]), vocab_size <= 65536 ? 2 : 4);
    absl::StatusOr<LmCorpus> decoded = DecodeCorpusFile(*bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ExpectSameCorpus(corpus, *decoded);
  }
}

TEST(CorpusFileFormatTest, WindowsCarryTheirLabels) {
  const LmCorpus corpus = SmallCorpus(8000);
  EXPECT_EQ(corpus.window_count(Split::kTrain), 4);
  EXPECT_EQ(corpus.window_count(Split::kValid, Language::kJapanese), 2);
  const CorpusWindow window = corpus.window(Split::kTest, 3);
  EXPECT_EQ(window.language, Language::kJapanese);
  EXPECT_EQ(corpus.documents()[window.document].split, Split::kTest);
  EXPECT_EQ(window.tokens.front(), 1);
  EXPECT_EQ(window.tokens.size(), 4u);
}

TEST(CorpusFileFormatTest, FileWriteIsAtomicAndReadsBack) {
  fs::TempDir folder("corpus_file");
  const std::string path = folder.file("corpus.bin");
  ASSERT_TRUE(WriteCorpusFile(path, SmallCorpus(8000)).ok());
  absl::StatusOr<LmCorpus> read = ReadCorpusFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSameCorpus(SmallCorpus(8000), *read);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "corpus.bin");  // no temporary left behind
  }
  EXPECT_EQ(files, 1);
}

TEST(CorpusFileFormatTest, TruncatedFilesAreRejected) {
  absl::StatusOr<std::string> bytes = EncodeCorpusFile(SmallCorpus(8000));
  ASSERT_TRUE(bytes.ok());
  for (size_t keep : {size_t{0}, size_t{10}, size_t{75}, size_t{100}, bytes->size() / 2, bytes->size() - 1}) {
    absl::StatusOr<LmCorpus> decoded = DecodeCorpusFile(bytes->substr(0, keep));
    ASSERT_FALSE(decoded.ok()) << keep;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(decoded.status().message(), HasSubstr("truncated")) << keep;
  }
  EXPECT_THAT(DecodeCorpusFile(*bytes + "x").status().message(), HasSubstr("after the end"));
}

TEST(CorpusFileFormatTest, BadMagicVersionAndChecksumAreNamed) {
  absl::StatusOr<std::string> bytes = EncodeCorpusFile(SmallCorpus(8000));
  ASSERT_TRUE(bytes.ok());

  std::string magic = *bytes;
  magic[0] = 'X';
  EXPECT_THAT(DecodeCorpusFile(magic).status().message(), HasSubstr("bad magic"));

  std::string version = *bytes;
  version[8] = 9;
  EXPECT_THAT(DecodeCorpusFile(version).status().message(), HasSubstr("format version 9"));

  std::string flipped = *bytes;
  flipped[flipped.size() - 10] ^= 0x01;  // a token id
  EXPECT_THAT(DecodeCorpusFile(flipped).status().message(), HasSubstr("checksum mismatch"));
}

TEST(CorpusFileFormatTest, InconsistentContentIsNamedEvenWithAValidChecksum) {
  const LmCorpus corpus = SmallCorpus(8000);
  absl::StatusOr<std::string> bytes = EncodeCorpusFile(corpus);
  ASSERT_TRUE(bytes.ok());
  const size_t labels = LabelsOffset(corpus);
  std::string language = *bytes;
  language[labels] = 1;  // first train window is English: claim Japanese
  EXPECT_THAT(DecodeCorpusFile(WithFreshChecksum(language)).status().message(),
              HasSubstr("train window 0 has language label 1"));

  std::string split = *bytes;
  split[labels + 1] = 2;
  EXPECT_THAT(DecodeCorpusFile(WithFreshChecksum(split)).status().message(),
              HasSubstr("train window 0 is labelled split 2"));

  const size_t tokens = TokensOffset(corpus);
  std::string bos = *bytes;
  bos[tokens] = 9;  // first window's BOS
  EXPECT_THAT(DecodeCorpusFile(WithFreshChecksum(bos)).status().message(), HasSubstr("does not start with BOS"));

  std::string range = *bytes;
  range[tokens + 2] = static_cast<char>(0xFF);
  range[tokens + 3] = static_cast<char>(0xFF);  // 65535 >= vocab 8000
  EXPECT_THAT(DecodeCorpusFile(WithFreshChecksum(range)).status().message(), HasSubstr("outside the vocabulary"));
}

// Damage anywhere, even behind a valid checksum, gives an error or (when it
// happens to hit a title byte) a valid corpus, never a crash.
TEST(CorpusFileFormatTest, RandomDamageBehindAValidChecksumIsHandled) {
  absl::StatusOr<std::string> bytes = EncodeCorpusFile(SmallCorpus(8000));
  ASSERT_TRUE(bytes.ok());
  uint64_t state = 99;
  int rejected = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    std::string damaged = *bytes;
    const size_t at = (state >> 33) % (damaged.size() - 4);
    damaged[at] = static_cast<char>(damaged[at] ^ (1 + ((state >> 20) % 255)));
    absl::StatusOr<LmCorpus> decoded = DecodeCorpusFile(WithFreshChecksum(damaged));
    if (!decoded.ok()) {
      ++rejected;
      EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
    }
  }
  EXPECT_GT(rejected, 1000);
}

TEST(CorpusFileFormatTest, ReaderErrorsNameTheFile) {
  fs::TempDir folder("corrupt_corpus");
  const std::string path = folder.file("corpus.bin");
  ASSERT_TRUE(fs::WriteFileAtomically(path, "EXLMCORP but nothing else").ok());
  absl::StatusOr<LmCorpus> read = ReadCorpusFile(path);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr(path));
  EXPECT_EQ(ReadCorpusFile(folder.file("absent.bin")).status().code(), absl::StatusCode::kNotFound);
}

TEST(CorpusFileFormatTest, WriterRefusesAnInvalidCorpus) {
  LmCorpus corpus(100, 1, 3, 0);
  const uint32_t document = corpus.AddDocument({.key = "a", .title = "a"});
  ASSERT_TRUE(corpus.AddWindow(document, std::vector<TokenId>{1, 2, 500}).ok());
  EXPECT_THAT(EncodeCorpusFile(corpus).status().message(), HasSubstr("outside the vocabulary"));
  EXPECT_FALSE(corpus.AddWindow(document, std::vector<TokenId>{1, 2}).ok());
  EXPECT_FALSE(corpus.AddWindow(7, std::vector<TokenId>{1, 2, 3}).ok());
}

constexpr char kIdentity[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(CorpusFileFormatTest, TokenizerIdentityRoundTrips) {
  for (int32_t vocab_size : {8000, 100000}) {
    LmCorpus corpus = SmallCorpus(vocab_size);
    corpus.set_tokenizer_identity(kIdentity);
    absl::StatusOr<std::string> bytes = EncodeCorpusFile(corpus);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(static_cast<unsigned char>((*bytes)[8]), kCorpusFileVersion);
    EXPECT_EQ(bytes->substr(76, 64), kIdentity);
    absl::StatusOr<LmCorpus> decoded = DecodeCorpusFile(*bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->tokenizer_identity(), kIdentity);
    ExpectSameCorpus(corpus, *decoded);
  }
  LmCorpus bad = SmallCorpus(8000);
  bad.set_tokenizer_identity("ABC");
  EXPECT_THAT(EncodeCorpusFile(bad).status().message(), HasSubstr("tokenizer identity"));
}

TEST(CorpusFileFormatTest, BadIdentityAndPaddingAreNamed) {
  LmCorpus corpus = SmallCorpus(8000);
  corpus.set_tokenizer_identity(kIdentity);
  absl::StatusOr<std::string> bytes = EncodeCorpusFile(corpus);
  ASSERT_TRUE(bytes.ok());
  std::string length = *bytes;
  length[72] = 5;
  EXPECT_THAT(DecodeCorpusFile(WithFreshChecksum(length)).status().message(),
              HasSubstr("tokenizer identity of 5 bytes"));
  std::string upper = *bytes;
  upper[76] = 'A';
  EXPECT_THAT(DecodeCorpusFile(WithFreshChecksum(upper)).status().message(), HasSubstr("not lower-case hex"));
  const size_t tokens = TokensOffset(corpus);
  ASSERT_GT(tokens, LabelsOffset(corpus) + 12 * 8) << "the test corpus should need padding";
  std::string padding = *bytes;
  padding[tokens - 1] = 1;
  EXPECT_THAT(DecodeCorpusFile(WithFreshChecksum(padding)).status().message(), HasSubstr("non-zero padding"));
}

// Written by the version-1 writer (before tokenizer identities): documents
// en/a (train) and ja/b (test), windows {1,7,8,vocab-1}, {1,9,10,11} and
// {1,200,201,2}, vocab 300 (2-byte ids) and 70000 (4-byte ids, unaligned).
const std::string& VersionOneFile(int32_t vocab_size) {
  static const std::string small(
      "\x45\x58\x4c\x4d\x43\x4f\x52\x50\x01\x00\x00\x00\x02\x00\x00\x00\x2c\x01\x00\x00\x01\x00\x00\x00"
      "\x04\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x04\x00\x00\x00\x65\x6e\x2f\x61\x01\x00\x00\x00\x41\x01\x02\x00\x00\x04\x00\x00"
      "\x00\x6a\x61\x2f\x62\x06\x00\x00\x00\xe3\x83\x93\xe3\x83\xbc\x00\x00\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x01\x02\x00\x00\x01\x00\x00\x00\x01\x00\x07\x00\x08\x00\x2b\x01\x01"
      "\x00\x09\x00\x0a\x00\x0b\x00\x01\x00\xc8\x00\xc9\x00\x02\x00\x56\xce\x10\xfa",
      163);
  static const std::string large(
      "\x45\x58\x4c\x4d\x43\x4f\x52\x50\x01\x00\x00\x00\x04\x00\x00\x00\x70\x11\x01\x00\x01\x00\x00\x00"
      "\x04\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x04\x00\x00\x00\x65\x6e\x2f\x61\x01\x00\x00\x00\x41\x01\x02\x00\x00\x04\x00\x00"
      "\x00\x6a\x61\x2f\x62\x06\x00\x00\x00\xe3\x83\x93\xe3\x83\xbc\x00\x00\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x01\x02\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x07\x00\x00\x00\x08"
      "\x00\x00\x00\x6f\x11\x01\x00\x01\x00\x00\x00\x09\x00\x00\x00\x0a\x00\x00\x00\x0b\x00\x00\x00\x01"
      "\x00\x00\x00\xc8\x00\x00\x00\xc9\x00\x00\x00\x02\x00\x00\x00\x44\xf2\xd7\x2f",
      187);
  return vocab_size <= 65536 ? small : large;
}

TEST(CorpusFileFormatTest, VersionOneFilesStillRead) {
  fs::TempDir folder("corpus_v1");
  for (int32_t vocab_size : {300, 70000}) {
    SCOPED_TRACE(vocab_size);
    const std::string path = folder.file("corpus.bin");
    ASSERT_TRUE(fs::WriteFileAtomically(path, VersionOneFile(vocab_size)).ok());
    absl::StatusOr<LmCorpus> corpus = ReadCorpusFile(path);
    ASSERT_TRUE(corpus.ok()) << corpus.status();
    EXPECT_EQ(corpus->tokenizer_identity(), "");
    EXPECT_EQ(corpus->vocab_size(), vocab_size);
    ASSERT_EQ(corpus->documents().size(), 2u);
    EXPECT_EQ(corpus->documents()[1].title, "ビー");
    ASSERT_EQ(corpus->window_count(Split::kTrain), 2);
    ASSERT_EQ(corpus->window_count(Split::kTest, Language::kJapanese), 1);
    const CorpusWindow first = corpus->window(Split::kTrain, 0);
    EXPECT_EQ(std::vector<TokenId>(first.tokens.begin(), first.tokens.end()),
              (std::vector<TokenId>{1, 7, 8, vocab_size - 1}));
    const CorpusWindow test = corpus->window(Split::kTest, 0);
    EXPECT_EQ(std::vector<TokenId>(test.tokens.begin(), test.tokens.end()), (std::vector<TokenId>{1, 200, 201, 2}));
    // Read back, written again, it is a version-2 file with the same content.
    absl::StatusOr<std::string> rewritten = EncodeCorpusFile(*corpus);
    ASSERT_TRUE(rewritten.ok()) << rewritten.status();
    ExpectSameCorpus(*corpus, *DecodeCorpusFile(*rewritten));
  }
}

// Whether `address` lies in a mapping of `path` (from /proc/self/maps).
bool IsMappedFrom(const void* address, const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  const std::string canonical = std::filesystem::canonical(path).string();
  std::string line;
  while (std::getline(maps, line)) {
    if (line.size() < canonical.size() ||
        line.compare(line.size() - canonical.size(), canonical.size(), canonical) != 0) {
      continue;
    }
    std::istringstream fields(line);
    std::string range;
    fields >> range;
    const size_t dash = range.find('-');
    const uintptr_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    const auto at = reinterpret_cast<uintptr_t>(address);
    if (at >= begin && at < end) return true;
  }
  return false;
}

TEST(CorpusFileFormatTest, FourByteIdsAreReadInPlaceFromTheMappedFile) {
  fs::TempDir folder("corpus_mapped");
  const std::string path = folder.file("corpus.bin");
  ASSERT_TRUE(WriteCorpusFile(path, SmallCorpus(100000)).ok());
  absl::StatusOr<LmCorpus> corpus = ReadCorpusFile(path);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  const CorpusWindow window = corpus->window(Split::kValid, 1);
  EXPECT_TRUE(IsMappedFrom(window.tokens.data(), path)) << "ids should not be copied to the heap";
  // Copies share the mapping, which outlives the file name.
  LmCorpus copy = *corpus;
  corpus = absl::UnknownError("dropped");
  std::filesystem::remove(path);
  ExpectSameCorpus(SmallCorpus(100000), copy);
  // Adopted windows are read-only.
  EXPECT_EQ(copy.AddWindow(0, std::vector<TokenId>{1, 2, 3, 4}).code(), absl::StatusCode::kFailedPrecondition);

  // 2-byte ids are widened onto the heap.
  ASSERT_TRUE(WriteCorpusFile(path, SmallCorpus(8000)).ok());
  absl::StatusOr<LmCorpus> small = ReadCorpusFile(path);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_FALSE(IsMappedFrom(small->window(Split::kTrain, 0).tokens.data(), path));
  ExpectSameCorpus(SmallCorpus(8000), *small);
}

}  // namespace
}  // namespace expsvc::lm
