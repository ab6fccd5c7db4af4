// The tokenizer.json building blocks one by one: normaliser, pre-tokeniser,
// decoder, added-token splitting.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "worker/lm/tokenizer/added_tokens.h"
#include "worker/lm/tokenizer/hf_decoder.h"
#include "worker/lm/tokenizer/hf_normalizer.h"
#include "worker/lm/tokenizer/hf_pre_tokenizer.h"

namespace expsvc::lm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

const std::string kMeta = "\u2581";

std::string Normalize(const Json& config, const std::string& text) {
  absl::StatusOr<HfNormalizer> normalizer = HfNormalizer::FromJson(config);
  EXPECT_TRUE(normalizer.ok()) << normalizer.status();
  return normalizer.ok() ? normalizer->Apply(text) : "";
}

TEST(HfNormalizerTest, LlamaStylePrependAndReplace) {
  const Json config = Json::parse(R"({"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "▁"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]})");
  EXPECT_EQ(Normalize(config, "a b"), kMeta + "a" + kMeta + "b");
  EXPECT_EQ(Normalize(config, " x"), kMeta + kMeta + "x");
  EXPECT_EQ(Normalize(config, ""), "");  // nothing is prepended to empty text
}

TEST(HfNormalizerTest, StripAndEmptyPrecompiledAndNull) {
  EXPECT_EQ(Normalize(Json::parse(R"({"type": "Strip", "strip_left": true, "strip_right": false})"), "\u3000 a b  "),
            "a b  ");
  EXPECT_EQ(Normalize(Json::parse(R"({"type": "Strip", "strip_left": false, "strip_right": true})"), " a \t\n"), " a");
  EXPECT_EQ(Normalize(Json::parse(R"({"type": "Precompiled", "precompiled_charsmap": ""})"), "x y"), "x y");
  EXPECT_EQ(Normalize(Json::parse(R"({"type": "Precompiled", "precompiled_charsmap": null})"), "x"), "x");
  EXPECT_EQ(Normalize(nullptr, " unchanged "), " unchanged ");
}

TEST(HfNormalizerTest, PlainRegexPatternsAreLiterals) {
  const Json config = Json::parse(R"({"type": "Replace", "pattern": {"Regex": "\\n "}, "content": "\n"})");
  EXPECT_EQ(Normalize(config, "a\n b"), "a\nb");
}

// The shape LLM-jp's own SentencePiece → tokenizer.json converter writes.
TEST(HfNormalizerTest, AnchoredAndEscapedRegexReplacements) {
  const Json config = Json::parse(R"({"type": "Sequence", "normalizers": [
      {"type": "Replace", "pattern": {"Regex": "^"}, "content": "▁"},
      {"type": "Replace", "pattern": {"Regex": "\\n▁"}, "content": "\n"},
      {"type": "Replace", "pattern": {"Regex": " "}, "content": "▁"}]})");
  EXPECT_EQ(Normalize(config, "a b"), kMeta + "a" + kMeta + "b");
  EXPECT_EQ(Normalize(config, "\n" + kMeta + "x"), kMeta + "\nx");
  EXPECT_EQ(Normalize(config, ""), "");
}

TEST(HfNormalizerTest, RefusesWhatItCannotApplyAndNamesIt) {
  EXPECT_THAT(HfNormalizer::FromJson(Json::parse(R"({"type": "NFKC"})")).status().message(), HasSubstr("\"NFKC\""));
  EXPECT_THAT(HfNormalizer::FromJson(Json::parse(R"({"type": "Sequence", "normalizers": [
                  {"type": "Lowercase"}]})"))
                  .status()
                  .message(),
              HasSubstr("\"Lowercase\""));
  EXPECT_THAT(HfNormalizer::FromJson(Json::parse(R"({"type": "Precompiled", "precompiled_charsmap": "AAEC"})"))
                  .status()
                  .message(),
              HasSubstr("non-empty precompiled_charsmap"));
  EXPECT_THAT(
      HfNormalizer::FromJson(Json::parse(R"({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"})"))
          .status()
          .message(),
      HasSubstr("regular expression \" {2,}\""));
  EXPECT_THAT(HfNormalizer::FromJson(Json::parse(R"({"type": "Prepend"})")).status().message(),
              HasSubstr("missing field \"prepend\""));
  EXPECT_THAT(HfNormalizer::FromJson(Json::parse(R"(["not", "an", "object"])")).status().message(),
              HasSubstr("expected an object"));
}

std::vector<std::string> PreTokenize(const std::string& config, const std::string& text, bool starts_input = true) {
  absl::StatusOr<HfPreTokenizer> pre_tokenizer = HfPreTokenizer::FromJson(Json::parse(config));
  EXPECT_TRUE(pre_tokenizer.ok()) << pre_tokenizer.status();
  return pre_tokenizer.ok() ? pre_tokenizer->Apply(text, starts_input) : std::vector<std::string>{};
}

TEST(HfPreTokenizerTest, MetaspacePrependSchemes) {
  const std::string always = R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": false})";
  const std::string first = R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false})";
  const std::string never = R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": false})";
  EXPECT_THAT(PreTokenize(always, "a b"), ElementsAre(kMeta + "a" + kMeta + "b"));
  EXPECT_THAT(PreTokenize(always, "a", false), ElementsAre(kMeta + "a"));
  EXPECT_THAT(PreTokenize(always, " a"), ElementsAre(kMeta + "a"));  // already starts with ▁
  EXPECT_THAT(PreTokenize(first, "a", true), ElementsAre(kMeta + "a"));
  EXPECT_THAT(PreTokenize(first, "a", false), ElementsAre("a"));
  EXPECT_THAT(PreTokenize(never, "a b"), ElementsAre("a" + kMeta + "b"));
  EXPECT_THAT(PreTokenize(always, ""), ElementsAre());
}

TEST(HfPreTokenizerTest, MetaspaceSplitKeepsTheMarkWithTheNextWord) {
  const std::string split = R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true})";
  EXPECT_THAT(PreTokenize(split, "hello  big world"),
              ElementsAre(kMeta + "hello", kMeta, kMeta + "big", kMeta + "world"));
  // Older files: add_prefix_space instead of prepend_scheme; split defaults on.
  EXPECT_THAT(PreTokenize(R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": false})", "a b"),
              ElementsAre("a", kMeta + "b"));
  EXPECT_THAT(PreTokenize(R"({"type": "Sequence", "pretokenizers": [
                  {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": true}]})",
                          "x y"),
              ElementsAre("x", kMeta + "y"));
}

TEST(HfPreTokenizerTest, RefusesOtherKindsByName) {
  EXPECT_THAT(HfPreTokenizer::FromJson(Json::parse(R"({"type": "ByteLevel"})")).status().message(),
              HasSubstr("\"ByteLevel\""));
  EXPECT_THAT(HfPreTokenizer::FromJson(
                  Json::parse(R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "sometimes"})"))
                  .status()
                  .message(),
              HasSubstr("sometimes"));
  EXPECT_THAT(HfPreTokenizer::FromJson(Json::parse(R"({"type": "Metaspace", "replacement": "ab"})")).status().message(),
              HasSubstr("one character"));
}

std::string DecodePieces(const std::string& config, std::vector<std::string> pieces) {
  absl::StatusOr<HfDecoder> decoder = HfDecoder::FromJson(Json::parse(config));
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  return decoder.ok() ? decoder->Decode(std::move(pieces)) : "";
}

TEST(HfDecoderTest, LlamaStyleSequence) {
  const std::string config = R"({"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})";
  EXPECT_EQ(DecodePieces(config, {kMeta + "Hello", kMeta + "wor", "ld"}), "Hello world");
  EXPECT_EQ(DecodePieces(config, {kMeta, "<0xE6>", "<0xBC>", "<0xA2>", "!"}), "漢!");
  // A byte run that is not UTF-8 gives one U+FFFD per byte.
  EXPECT_EQ(DecodePieces(config, {"a", "<0xE6>", "<0xBC>", "b"}), "a\uFFFD\uFFFDb");
}

TEST(HfDecoderTest, AnchoredReplaceStripsOnlyTheLeadingSpace) {
  const std::string config = R"({"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"Regex": "▁"}, "content": " "},
      {"type": "Fuse"},
      {"type": "Replace", "pattern": {"Regex": "^ "}, "content": ""}]})";
  EXPECT_EQ(DecodePieces(config, {kMeta + "a", kMeta + "b"}), "a b");
  EXPECT_EQ(DecodePieces(config, {"a", kMeta + "b"}), "a b");
}

TEST(HfDecoderTest, MetaspaceDecoderAndNull) {
  EXPECT_EQ(DecodePieces(R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"})",
                         {kMeta + "a", kMeta + "b"}),
            "a b");
  EXPECT_EQ(DecodePieces("null", {"x", "y"}), "xy");
  EXPECT_THAT(HfDecoder::FromJson(Json::parse(R"({"type": "WordPiece"})")).status().message(),
              HasSubstr("\"WordPiece\""));
}

TEST(AddedTokenMatcherTest, SplitsLongestMatchFirstAndMarksTheInputStart) {
  absl::StatusOr<AddedTokenMatcher> matcher =
      AddedTokenMatcher::Create({{1, "<s>", true}, {2, "</s>", true}, {9, "<s>x", false}});
  ASSERT_TRUE(matcher.ok()) << matcher.status();
  std::vector<InputSegment> segments = matcher->Split("a<s>b</s><s>xc");
  ASSERT_EQ(segments.size(), 6u);
  EXPECT_EQ(segments[0].text, "a");
  EXPECT_TRUE(segments[0].starts_input);
  EXPECT_EQ(segments[1].id, 1);
  EXPECT_EQ(segments[2].text, "b");
  EXPECT_FALSE(segments[2].starts_input);
  EXPECT_EQ(segments[3].id, 2);
  EXPECT_EQ(segments[4].id, 9);  // "<s>x" beats "<s>"
  EXPECT_EQ(segments[5].text, "c");
}

TEST(AddedTokenMatcherTest, StripOptionsSwallowWhitespace) {
  absl::StatusOr<AddedTokenMatcher> matcher =
      AddedTokenMatcher::Create({{5, "<mask>", true, /*lstrip=*/true, /*rstrip=*/true}});
  ASSERT_TRUE(matcher.ok()) << matcher.status();
  std::vector<InputSegment> segments = matcher->Split("a  <mask>  b");
  ASSERT_EQ(segments.size(), 3u);
  EXPECT_EQ(segments[0].text, "a");
  EXPECT_EQ(segments[2].text, "b");
}

TEST(AddedTokenMatcherTest, RejectsDuplicates) {
  EXPECT_FALSE(AddedTokenMatcher::Create({{1, "<s>"}, {2, "<s>"}}).ok());
  EXPECT_FALSE(AddedTokenMatcher::Create({{1, "<s>"}, {1, "</s>"}}).ok());
  EXPECT_FALSE(AddedTokenMatcher::Create({{1, ""}}).ok());
}

}  // namespace
}  // namespace expsvc::lm
