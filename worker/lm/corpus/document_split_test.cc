#include "worker/lm/corpus/document_split.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "common/splitmix64.h"

namespace expsvc::lm {
namespace {

using ::testing::ElementsAre;

std::vector<Document> NumberedDocuments(int count, bool with_translations) {
  std::vector<Document> documents;
  for (int i = 0; i < count; ++i) {
    documents.push_back({.key = absl::StrCat("doc", i), .language = Language::kEnglish});
    if (with_translations) {
      documents.push_back({.key = absl::StrCat("doc", i), .language = Language::kJapanese});
    }
  }
  return documents;
}

TEST(SplitMix64Test, MatchesTheReferenceSequence) {
  // The first outputs for seed 0 of Vigna's reference splitmix64.c.
  SplitMix64 random(0);
  EXPECT_EQ(random.Next(), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(random.Next(), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(random.Next(), 0x06C45D188009454Full);
}

TEST(SplitMix64Test, BelowStaysInRange) {
  SplitMix64 random(7);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(random.FastBelow(3), 3u);
}

TEST(DocumentSplitTest, SameSeedSameSplitDifferentSeedDifferentSplit) {
  const std::vector<Document> documents = NumberedDocuments(200, false);
  absl::StatusOr<std::vector<Split>> first = AssignSplits(documents, 1);
  absl::StatusOr<std::vector<Split>> again = AssignSplits(documents, 1);
  absl::StatusOr<std::vector<Split>> other = AssignSplits(documents, 2);
  ASSERT_TRUE(first.ok() && again.ok() && other.ok());
  EXPECT_EQ(*first, *again);
  EXPECT_NE(*first, *other);
}

TEST(DocumentSplitTest, IsFixedAcrossPlatformsAndVersions) {
  // A golden assignment, computed independently (a few lines of Python
  // replaying SplitMix64, Fisher-Yates and the 8:1:1 cut): changing the
  // algorithm silently would reshuffle every corpus.
  const std::vector<Document> documents = NumberedDocuments(10, false);
  absl::StatusOr<std::vector<Split>> splits = AssignSplits(documents, 42);
  ASSERT_TRUE(splits.ok());
  constexpr Split T = Split::kTrain;
  EXPECT_THAT(*splits, ElementsAre(T, Split::kValid, T, T, T, T, T, Split::kTest, T, T));
}

TEST(DocumentSplitTest, CutsEightOneOne) {
  const std::vector<Document> documents = NumberedDocuments(1000, false);
  absl::StatusOr<std::vector<Split>> splits = AssignSplits(documents, 3);
  ASSERT_TRUE(splits.ok());
  std::map<Split, int> counts;
  for (Split split : *splits) ++counts[split];
  EXPECT_EQ(counts[Split::kTrain], 800);
  EXPECT_EQ(counts[Split::kValid], 100);
  EXPECT_EQ(counts[Split::kTest], 100);
}

TEST(DocumentSplitTest, TranslationsShareASplit) {
  const std::vector<Document> documents = NumberedDocuments(300, true);
  absl::StatusOr<std::vector<Split>> splits = AssignSplits(documents, 9);
  ASSERT_TRUE(splits.ok());
  for (size_t i = 0; i < documents.size(); i += 2) {
    ASSERT_EQ(documents[i].key, documents[i + 1].key);
    EXPECT_EQ((*splits)[i], (*splits)[i + 1]) << documents[i].key;
  }
}

TEST(DocumentSplitTest, InputOrderDoesNotMatter) {
  std::vector<Document> documents = NumberedDocuments(50, false);
  absl::StatusOr<std::vector<Split>> forward = AssignSplits(documents, 5);
  std::vector<Document> reversed(documents.rbegin(), documents.rend());
  absl::StatusOr<std::vector<Split>> backward = AssignSplits(reversed, 5);
  ASSERT_TRUE(forward.ok() && backward.ok());
  for (size_t i = 0; i < documents.size(); ++i) {
    EXPECT_EQ((*forward)[i], (*backward)[documents.size() - 1 - i]);
  }
}

TEST(DocumentSplitTest, RejectsBadFractions) {
  EXPECT_FALSE(AssignSplits(NumberedDocuments(5, false), 1, {.train = 0.9, .valid = 0.2}).ok());
  EXPECT_FALSE(AssignSplits(NumberedDocuments(5, false), 1, {.train = 0.0, .valid = 0.1}).ok());
}

}  // namespace
}  // namespace expsvc::lm
