// HfUnigramTokenizer on small hand-written tokenizer.json files: the whole
// pipeline, special tokens, and clear errors for malformed or unsupported files.

#include "worker/lm/tokenizer/hf_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"
#include "worker/lm/tokenizer/load_tokenizer.h"
#include "worker/lm/tokenizer/unigram_model.h"

namespace expsvc::lm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// ids: 0 <unk>, 1 <s>, 2 </s>, 3 ▁, 4 a, 5 b, 6 c, 7 ab, 8 bc, 9 ▁a, 10 ▁hello,
// 11..266 <0x00>..<0xFF>
Json TinyTokenizerJson() {
  Json vocab = Json::array({Json::array({"<unk>", 0.0}), Json::array({"<s>", 0.0}), Json::array({"</s>", 0.0}),
                            Json::array({"▁", -2.0}), Json::array({"a", -3.0}), Json::array({"b", -3.0}),
                            Json::array({"c", -3.0}), Json::array({"ab", -2.5}), Json::array({"bc", -1.0}),
                            Json::array({"▁a", -4.0}), Json::array({"▁hello", -1.5})});
  for (int byte = 0; byte < 256; ++byte) {
    vocab.push_back(Json::array({UnigramModel::BytePieceText(static_cast<unsigned char>(byte)), 0.0}));
  }
  Json json = Json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [
      {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "▁"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
               {"Sequence": {"id": "B", "type_id": 1}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": true}
  })");
  json["model"]["vocab"] = std::move(vocab);
  return json;
}

std::unique_ptr<HfUnigramTokenizer> Load(const Json& json) {
  absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> tokenizer = HfUnigramTokenizer::FromJson(json.dump());
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

TEST(HfTokenizerTest, EncodesWithViterbiAndByteFallback) {
  std::unique_ptr<HfUnigramTokenizer> tokenizer = Load(TinyTokenizerJson());
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->vocab_size(), 267);
  // "▁abc": ▁a + bc (-5.0) is the best path.
  EXPECT_THAT(*tokenizer->Encode("abc"), ElementsAre(9, 8));
  EXPECT_THAT(*tokenizer->Encode("hello ab"), ElementsAre(10, 3, 7));
  // "x" is in no piece: its byte 0x78 → id 11 + 0x78.
  EXPECT_THAT(*tokenizer->Encode("ax"), ElementsAre(9, 11 + 0x78));
  EXPECT_THAT(*tokenizer->Encode(""), ElementsAre());
}

TEST(HfTokenizerTest, SpecialTokensAreSplitOutAndBosIsExplicit) {
  std::unique_ptr<HfUnigramTokenizer> tokenizer = Load(TinyTokenizerJson());
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_TRUE(tokenizer->template_adds_bos());
  EXPECT_FALSE(tokenizer->template_adds_eos());
  const SpecialTokenIds special = tokenizer->special_ids();
  EXPECT_EQ(special.unk, 0);
  EXPECT_EQ(special.bos, 1);
  EXPECT_EQ(special.eos, 2);
  EXPECT_EQ(special.pad, -1);
  // The template says BOS, but only an explicit option adds it.
  EXPECT_THAT(*tokenizer->Encode("ab"), ElementsAre(3, 7));
  EXPECT_THAT(*tokenizer->Encode("ab", {.add_bos = true}), ElementsAre(1, 3, 7));
  EXPECT_THAT(*tokenizer->Encode("ab", {.add_bos = true, .add_eos = true}), ElementsAre(1, 3, 7, 2));
  // Added tokens in the text: each text segment gets its own ▁ (HF behaviour).
  EXPECT_THAT(*tokenizer->Encode("a</s>b"), ElementsAre(9, 2, 3, 5));
}

TEST(HfTokenizerTest, DecodesAndDropsSpecialTokens) {
  std::unique_ptr<HfUnigramTokenizer> tokenizer = Load(TinyTokenizerJson());
  ASSERT_NE(tokenizer, nullptr);
  for (const std::string text : {"abc", "hello ab", "ax", "a 漢 b", " two  spaces"}) {
    absl::StatusOr<std::vector<TokenId>> ids = tokenizer->Encode(text, {.add_bos = true});
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*tokenizer->Decode(*ids), text);
  }
  EXPECT_EQ(*tokenizer->PieceOf(10), "▁hello");
  EXPECT_EQ(tokenizer->Decode({267}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tokenizer->PieceOf(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HfTokenizerTest, EosRequestWithoutEosIsAnError) {
  Json json = TinyTokenizerJson();
  json["added_tokens"].erase(2);
  json["model"]["vocab"][2] = Json::array({"<end>", 0.0});
  std::unique_ptr<HfUnigramTokenizer> tokenizer = Load(json);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->special_ids().eos, -1);
  EXPECT_EQ(tokenizer->Encode("a", {.add_eos = true}).status().code(), absl::StatusCode::kFailedPrecondition);
}

// Each malformed or unsupported file fails with a message naming the problem.
TEST(HfTokenizerTest, MalformedFilesGiveClearErrors) {
  const auto error_of = [](const std::string& text) {
    absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> tokenizer = HfUnigramTokenizer::FromJson(text);
    EXPECT_FALSE(tokenizer.ok()) << text.substr(0, 200);
    return tokenizer.ok() ? std::string() : std::string(tokenizer.status().message());
  };
  const auto with = [](const std::function<void(Json&)>& change) {
    Json json = TinyTokenizerJson();
    change(json);
    return json.dump();
  };
  EXPECT_THAT(error_of("{\"model\": "), HasSubstr("not valid JSON"));
  EXPECT_THAT(error_of("[1, 2]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(error_of("{}"), HasSubstr("no \"model\""));
  EXPECT_THAT(error_of(with([](Json& j) { j["model"]["type"] = "BPE"; })),
              HasSubstr("model type \"BPE\" is not supported"));
  EXPECT_THAT(error_of(with([](Json& j) { j["model"]["vocab"][4] = "a"; })),
              HasSubstr("vocab entry 4 must be [piece, score]"));
  EXPECT_THAT(error_of(with([](Json& j) { j["model"]["vocab"][4][1] = "high"; })), HasSubstr("vocab entry 4"));
  EXPECT_THAT(error_of(with([](Json& j) { j["model"]["unk_id"] = 5000; })), HasSubstr("unk_id 5000 is outside"));
  EXPECT_THAT(error_of(with([](Json& j) { j["model"]["vocab"][5][0] = "a"; })), HasSubstr("appears twice"));
  EXPECT_THAT(error_of(with([](Json& j) { j["model"]["vocab"].erase(11); })), HasSubstr("<0x00>"));
  EXPECT_THAT(error_of(with([](Json& j) {
                j["normalizer"] = Json{{"type", "NFKC"}};
              })),
              HasSubstr("normalizer type \"NFKC\" is not supported"));
  EXPECT_THAT(error_of(with([](Json& j) {
                j["pre_tokenizer"] = Json{{"type", "Whitespace"}};
              })),
              HasSubstr("pre_tokenizer type \"Whitespace\" is not supported"));
  EXPECT_THAT(error_of(with([](Json& j) {
                j["post_processor"] = Json{{"type", "ByteLevel"}};
              })),
              HasSubstr("post_processor type \"ByteLevel\" is not supported"));
  EXPECT_THAT(error_of(with([](Json& j) {
                j["decoder"] = Json{{"type", "BPEDecoder"}};
              })),
              HasSubstr("decoder type \"BPEDecoder\" is not supported"));
  EXPECT_THAT(error_of(with([](Json& j) { j["added_tokens"][1]["content"] = "<bos>"; })),
              HasSubstr("differs from the model's piece"));
  EXPECT_THAT(error_of(with([](Json& j) { j["added_tokens"][1]["single_word"] = true; })), HasSubstr("single_word"));
  EXPECT_THAT(error_of(with([](Json& j) { j["added_tokens"][1].erase("id"); })),
              HasSubstr("added_tokens[1]: missing field \"id\""));
  EXPECT_THAT(error_of(with([](Json& j) { j["post_processor"]["single"][0]["SpecialToken"]["id"] = "<bos>"; })),
              HasSubstr("special token \"<bos>\" is not in special_tokens"));
}

TEST(HfTokenizerTest, FileErrorsNameTheFile) {
  fs::TempDir folder("hf_tokenizer_test");
  const std::string path = folder.file("tokenizer.json");
  ASSERT_TRUE(fs::WriteFileAtomically(path, "{\"model\": {\"type\": \"WordPiece\"}}").ok());
  absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> tokenizer = HfUnigramTokenizer::FromFile(path);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_THAT(tokenizer.status().message(), HasSubstr(path));
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("WordPiece"));
  EXPECT_EQ(HfUnigramTokenizer::FromFile(folder.file("missing.json")).status().code(), absl::StatusCode::kNotFound);
}

TEST(LoadTokenizerTest, UsesTokenizerJsonWhenNoModelFile) {
  fs::TempDir folder("load_tokenizer_test");
  EXPECT_EQ(LoadTokenizer(folder.path().string()).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(fs::WriteFileAtomically(folder.file("tokenizer.json"), TinyTokenizerJson().dump()).ok());
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizer(folder.path().string());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->format_name(), "tokenizer.json (Unigram)");
  EXPECT_THAT(*(*tokenizer)->Encode("abc"), ElementsAre(9, 8));
}

}  // namespace
}  // namespace expsvc::lm
