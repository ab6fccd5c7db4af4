#include "worker/lm/corpus/corpus_file_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

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
  // Offsets: the 72-byte header, the document table (4 label bytes, then
  // key and title with their u32 lengths), then the 8-byte window labels.
  size_t labels = 72;
  for (const CorpusDocumentInfo& document : corpus.documents()) {
    labels += 4 + 4 + document.key.size() + 4 + document.title.size();
  }
  std::string language = *bytes;
  language[labels] = 1;  // first train window is English: claim Japanese
  EXPECT_THAT(DecodeCorpusFile(WithFreshChecksum(language)).status().message(),
              HasSubstr("train window 0 has language label 1"));

  std::string split = *bytes;
  split[labels + 1] = 2;
  EXPECT_THAT(DecodeCorpusFile(WithFreshChecksum(split)).status().message(),
              HasSubstr("train window 0 is labelled split 2"));

  const size_t tokens = labels + 12 * 8;
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

}  // namespace
}  // namespace expsvc::lm
