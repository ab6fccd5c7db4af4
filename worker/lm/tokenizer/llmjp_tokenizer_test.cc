// The real LLM-jp v3 tokenizer (SentencePiece, 99,574 pieces), found under
// $EXPSVC_DATA_DIR/llm-jp-tokenizer: exported by our exporter to
// tokenizer.json and read back by our Hugging Face reader, it must give the
// same ids as libsentencepiece on English, Japanese and mixed text. Skips,
// saying why, where the data is not there.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs/testing/temp_dir.h"
#include "worker/lm/tokenizer/hf_tokenizer.h"
#include "worker/lm/tokenizer/sentencepiece_tokenizer.h"
#include "worker/lm/tokenizer/testing/bilingual_sample_text.h"
#include "worker/lm/tokenizer/testing/llmjp_tokenizer.h"
#include "worker/lm/tokenizer/tokenizer_json_exporter.h"

namespace expsvc::lm {
namespace {

TEST(LlmJpTokenizerTest, ExportedTokenizerJsonGivesLibSentencePiecesIds) {
  const std::string model_path = test_support::LlmJpTokenizerModelPath();
  if (model_path.empty()) GTEST_SKIP() << test_support::kLlmJpTokenizerSkipMessage;
  fs::TempDir dir("llmjp_tokenizer");
  const std::string json_path = dir.file("tokenizer.json");
  ASSERT_TRUE(ExportTokenizerJson(model_path, json_path).ok());
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> sentencepiece = SentencePieceTokenizer::FromFile(model_path);
  ASSERT_TRUE(sentencepiece.ok()) << sentencepiece.status();
  absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> json = HfUnigramTokenizer::FromFile(json_path);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*sentencepiece)->vocab_size(), test_support::kLlmJpTokenizerVocabSize);
  EXPECT_EQ((*json)->vocab_size(), (*sentencepiece)->vocab_size());

  std::vector<std::string> inputs = test_support::BilingualTrainingLines(400, 11);
  for (const std::string& english : test_support::EnglishSentences()) inputs.push_back(english);
  for (const std::string& japanese : test_support::JapaneseSentences()) inputs.push_back(japanese);
  // Inputs holding the text of a special token are left out (see ContainsSpecialTokenText).
  for (std::string& tricky : test_support::TrickyInputs()) {
    if (!test_support::ContainsSpecialTokenText(tricky)) inputs.push_back(std::move(tricky));
  }
  inputs.push_back("LLM-jpは日本語と英語で学習されたモデルです。It was trained on both.");
  inputs.push_back("絵文字 🙂 と記号 ① ㈱ ｶﾀｶﾅ、全角ＡＢＣ and tabs\tand  double  spaces");
  int mismatches = 0;
  for (const std::string& input : inputs) {
    absl::StatusOr<std::vector<TokenId>> expected = (*sentencepiece)->Encode(input);
    absl::StatusOr<std::vector<TokenId>> actual = (*json)->Encode(input);
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_TRUE(actual.ok()) << actual.status();
    if (*expected != *actual && ++mismatches <= 5) {
      ADD_FAILURE() << "ids differ for \"" << input << "\"\n  sentencepiece: " << absl::StrJoin(*expected, " ")
                    << "\n  tokenizer.json: " << absl::StrJoin(*actual, " ");
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << inputs.size() << " inputs";
  EXPECT_GT(inputs.size(), 500u);
}

}  // namespace
}  // namespace expsvc::lm
