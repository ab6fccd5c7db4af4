#include "worker/lm/tokenizer/unigram_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace expsvc::lm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<UnigramPiece> WithBytes(std::vector<UnigramPiece> pieces) {
  for (int byte = 0; byte < 256; ++byte) {
    pieces.push_back({UnigramModel::BytePieceText(static_cast<unsigned char>(byte)), 0.0f, PieceKind::kByte});
  }
  return pieces;
}

// ids: 0 <unk>, 1 ▁, 2 a, 3 b, 4 c, 5 ab, 6 bc, 7 abc, 8 ▁a
std::vector<UnigramPiece> TinyVocabulary() {
  return {{"<unk>", 0.0f, PieceKind::kUnknown},  {"\u2581", -2.0f, PieceKind::kNormal},
          {"a", -3.0f, PieceKind::kNormal},      {"b", -3.0f, PieceKind::kNormal},
          {"c", -3.0f, PieceKind::kNormal},      {"ab", -2.5f, PieceKind::kNormal},
          {"bc", -1.0f, PieceKind::kNormal},     {"abc", -5.0f, PieceKind::kNormal},
          {"\u2581a", -4.0f, PieceKind::kNormal}};
}

std::vector<TokenId> Encode(const UnigramModel& model, absl::string_view text) {
  std::vector<TokenId> ids;
  EXPECT_TRUE(model.EncodeInto(text, &ids).ok());
  return ids;
}

TEST(UnigramModelTest, ViterbiFindsTheBestSumNotTheLongestMatch) {
  absl::StatusOr<UnigramModel> model = UnigramModel::Create(TinyVocabulary(), 0, false);
  ASSERT_TRUE(model.ok()) << model.status();
  // "abc": abc = -5.0, ab+c = -5.5, a+bc = -4.0 (best), a+b+c = -9.0.
  EXPECT_THAT(Encode(*model, "abc"), ElementsAre(2, 6));
  // "▁abc": ▁a+bc = -5.0 beats ▁+a+bc = -6.0 and ▁+abc = -7.0.
  EXPECT_THAT(Encode(*model, "\u2581abc"), ElementsAre(8, 6));
  // "ab": ab = -2.5 beats a+b = -6.0.
  EXPECT_THAT(Encode(*model, "ab"), ElementsAre(5));
  EXPECT_THAT(Encode(*model, ""), ElementsAre());
}

TEST(UnigramModelTest, UnknownRunsBecomeOneUnkWithoutByteFallback) {
  absl::StatusOr<UnigramModel> model = UnigramModel::Create(TinyVocabulary(), 0, false);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT(Encode(*model, "axyb"), ElementsAre(2, 0, 3));
  EXPECT_THAT(Encode(*model, "x漢"), ElementsAre(0));
  EXPECT_FLOAT_EQ(model->unknown_score(), -5.0f - kUnknownCharacterPenalty);
}

TEST(UnigramModelTest, UnknownCharactersBecomeTheirBytesWithByteFallback) {
  absl::StatusOr<UnigramModel> model = UnigramModel::Create(WithBytes(TinyVocabulary()), 0, true);
  ASSERT_TRUE(model.ok()) << model.status();
  const TokenId e6 = model->ByteId(0xE6);
  const TokenId bc = model->ByteId(0xBC);
  const TokenId a2 = model->ByteId(0xA2);
  EXPECT_THAT(Encode(*model, "a漢"), ElementsAre(2, e6, bc, a2));
  EXPECT_EQ(model->pieces()[e6].text, "<0xE6>");
}

TEST(UnigramModelTest, BytePiecesAreNeverMatchedAsText) {
  absl::StatusOr<UnigramModel> model = UnigramModel::Create(WithBytes(TinyVocabulary()), 0, true);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<TokenId> ids = Encode(*model, "<0x41>");
  for (TokenId id : ids) EXPECT_EQ(model->pieces()[id].kind, PieceKind::kByte);
  EXPECT_EQ(ids.size(), 6u);  // each character falls back to its own byte
}

TEST(UnigramModelTest, NoUnkAndNoByteFallbackIsAnErrorForUnknownText) {
  std::vector<UnigramPiece> pieces = {{"a", -1.0f, PieceKind::kNormal}};
  absl::StatusOr<UnigramModel> model = UnigramModel::Create(pieces, std::nullopt, false);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<TokenId> ids;
  absl::Status status = model->EncodeInto("ab", &ids);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("'b'"));
}

TEST(UnigramModelTest, RejectsInconsistentVocabularies) {
  std::vector<UnigramPiece> duplicate = {{"a", -1.0f, PieceKind::kNormal}, {"a", -2.0f, PieceKind::kNormal}};
  EXPECT_THAT(UnigramModel::Create(duplicate, std::nullopt, false).status().message(), HasSubstr("appears twice"));
  EXPECT_THAT(UnigramModel::Create(TinyVocabulary(), 0, true).status().message(), HasSubstr("<0x00>"));
  EXPECT_THAT(UnigramModel::Create(TinyVocabulary(), 3, false).status().message(),
              HasSubstr("not of the unknown kind"));
  EXPECT_THAT(UnigramModel::Create(TinyVocabulary(), 99, false).status().message(),
              HasSubstr("outside the vocabulary"));
  EXPECT_FALSE(UnigramModel::Create({}, std::nullopt, false).ok());
}

TEST(UnigramModelTest, BytePieceNames) {
  EXPECT_EQ(UnigramModel::BytePieceText(0x0A), "<0x0A>");
  EXPECT_EQ(UnigramModel::ParseBytePiece("<0xFF>"), 0xFF);
  EXPECT_FALSE(UnigramModel::ParseBytePiece("<0xff>").has_value());
  EXPECT_FALSE(UnigramModel::ParseBytePiece("<0x1>").has_value());
  EXPECT_FALSE(UnigramModel::ParseBytePiece("0x41").has_value());
}

}  // namespace
}  // namespace expsvc::lm
