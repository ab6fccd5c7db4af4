// Trains a small SentencePiece model on generated English + Japanese text,
// saves it in both forms and checks that libsentencepiece (tokenizer.model)
// and our reader (tokenizer.json) give identical ids, and that both decode
// back to the input.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"
#include "worker/lm/tokenizer/hf_tokenizer.h"
#include "worker/lm/tokenizer/load_tokenizer.h"
#include "worker/lm/tokenizer/sentencepiece_bridge.h"
#include "worker/lm/tokenizer/sentencepiece_model_proto.h"
#include "worker/lm/tokenizer/sentencepiece_tokenizer.h"
#include "worker/lm/tokenizer/testing/bilingual_sample_text.h"
#include "worker/lm/tokenizer/tokenizer_json_exporter.h"
#include "worker/lm/tokenizer/tokenizer_trainer.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {
namespace {

using fs::TempDir;
using ::testing::HasSubstr;

TokenizerTrainingOptions SmallOptions() {
  TokenizerTrainingOptions options;
  options.vocab_size = 1000;
  options.num_threads = 1;
  options.seed = 17;
  return options;
}

// Pieces of the training lines cut at random character boundaries and glued
// together: segmentations the training lines alone would not produce.
std::vector<std::string> RandomFragments(const std::vector<std::string>& lines, int count) {
  std::vector<std::string> fragments;
  uint64_t state = 12345;
  const auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  for (int i = 0; i < count; ++i) {
    std::string fragment;
    for (int part = 0; part < 3; ++part) {
      const std::string& line = lines[next() % lines.size()];
      std::vector<size_t> boundaries;
      for (size_t pos = 0; pos < line.size(); pos += Utf8CharLength(line, pos)) {
        boundaries.push_back(pos);
      }
      boundaries.push_back(line.size());
      size_t a = boundaries[next() % boundaries.size()];
      size_t b = boundaries[next() % boundaries.size()];
      if (a > b) std::swap(a, b);
      fragment += line.substr(a, b - a);
      if (next() % 2 == 0) fragment += " ";
    }
    fragments.push_back(std::move(fragment));
  }
  return fragments;
}

class TrainedTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new fs::TempDir("trained_tokenizer");
    lines_ = new std::vector<std::string>(test_support::BilingualTrainingLines(3000, 7));
    absl::StatusOr<TrainedTokenizer> trained = TrainTokenizer(*lines_, SmallOptions(), folder_->path().string());
    ASSERT_TRUE(trained.ok()) << trained.status();
    trained_ = new TrainedTokenizer(*trained);
    std::printf("trained %d pieces on %lld sentences in %.2f s\n", trained_->vocab_size,
                static_cast<long long>(trained_->sentences), trained_->training_seconds);
  }
  static void TearDownTestSuite() {
    delete trained_;
    delete lines_;
    delete folder_;
  }

  void SetUp() override {
    ASSERT_NE(trained_, nullptr) << "training failed";
    absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> sp = SentencePieceTokenizer::FromFile(trained_->model_path);
    ASSERT_TRUE(sp.ok()) << sp.status();
    sentencepiece_ = std::move(*sp);
    absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> hf = HfUnigramTokenizer::FromFile(trained_->json_path);
    ASSERT_TRUE(hf.ok()) << hf.status();
    json_ = std::move(*hf);
  }

  // Every test input except those containing the text of a special token:
  // tokenizer.json cuts "<s>" out as BOS (Hugging Face behaviour) while
  // SentencePiece reads it as characters (see SpecialTokenTextDiffers).
  std::vector<std::string> Inputs() const {
    std::vector<std::string> inputs = *lines_;
    for (std::string& input : test_support::TrickyInputs()) {
      if (!test_support::ContainsSpecialTokenText(input)) inputs.push_back(std::move(input));
    }
    for (std::string& input : RandomFragments(*lines_, 2000)) inputs.push_back(std::move(input));
    return inputs;
  }

  static fs::TempDir* folder_;
  static std::vector<std::string>* lines_;
  static TrainedTokenizer* trained_;
  std::unique_ptr<SentencePieceTokenizer> sentencepiece_;
  std::unique_ptr<HfUnigramTokenizer> json_;
};

fs::TempDir* TrainedTokenizerTest::folder_ = nullptr;
std::vector<std::string>* TrainedTokenizerTest::lines_ = nullptr;
TrainedTokenizer* TrainedTokenizerTest::trained_ = nullptr;

TEST_F(TrainedTokenizerTest, BothFilesExistWithTheDocumentedSpecialIds) {
  EXPECT_TRUE(std::filesystem::exists(trained_->model_path));
  EXPECT_TRUE(std::filesystem::exists(trained_->json_path));
  EXPECT_GT(trained_->vocab_size, 300);
  EXPECT_LE(trained_->vocab_size, 1000);
  for (const Tokenizer* tokenizer :
       {static_cast<const Tokenizer*>(sentencepiece_.get()), static_cast<const Tokenizer*>(json_.get())}) {
    SCOPED_TRACE(tokenizer->format_name());
    EXPECT_EQ(tokenizer->vocab_size(), trained_->vocab_size);
    const SpecialTokenIds special = tokenizer->special_ids();
    EXPECT_EQ(special.unk, kTrainedUnkId);
    EXPECT_EQ(special.bos, kTrainedBosId);
    EXPECT_EQ(special.eos, kTrainedEosId);
    EXPECT_EQ(special.pad, kTrainedPadId);
    EXPECT_EQ(*tokenizer->PieceOf(0), "<unk>");
    EXPECT_EQ(*tokenizer->PieceOf(1), "<s>");
    EXPECT_EQ(*tokenizer->PieceOf(3), "<pad>");
    EXPECT_EQ(*tokenizer->PieceOf(4), "<0x00>");
    EXPECT_EQ(*tokenizer->PieceOf(259), "<0xFF>");
  }
  EXPECT_TRUE(json_->template_adds_bos());
}

TEST_F(TrainedTokenizerTest, ModelReaderAgreesWithLibSentencePiece) {
  absl::StatusOr<std::string> bytes = fs::ReadFile(trained_->model_path);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<SentencePieceModelInfo> info = ReadSentencePieceModel(*bytes);
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(static_cast<int32_t>(info->pieces.size()), sentencepiece_->vocab_size());
  for (int32_t id = 0; id < sentencepiece_->vocab_size(); ++id) {
    ASSERT_EQ(info->pieces[id].text, *sentencepiece_->PieceOf(id)) << id;
  }
  EXPECT_EQ(info->model_type, 1);
  EXPECT_TRUE(info->byte_fallback);
  EXPECT_EQ(info->normalizer_name, "identity");
  EXPECT_EQ(info->precompiled_charsmap_bytes, 0u);
  EXPECT_FALSE(info->remove_extra_whitespaces);
  EXPECT_TRUE(info->add_dummy_prefix);
  EXPECT_EQ(info->pad_id, kTrainedPadId);
  EXPECT_EQ(info->pieces[0].kind, PieceKind::kUnknown);
  EXPECT_EQ(info->pieces[2].kind, PieceKind::kControl);
  EXPECT_EQ(info->pieces[100].kind, PieceKind::kByte);
  EXPECT_EQ(info->pieces[300].kind, PieceKind::kNormal);
}

TEST_F(TrainedTokenizerTest, ModelReaderSurvivesDamagedModels) {
  absl::StatusOr<std::string> bytes = fs::ReadFile(trained_->model_path);
  ASSERT_TRUE(bytes.ok());
  uint64_t state = 5;
  for (int trial = 0; trial < 500; ++trial) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    std::string damaged = bytes->substr(0, (state >> 33) % bytes->size());
    if (trial % 2 == 1 && !damaged.empty()) damaged[(state >> 7) % damaged.size()] ^= 0x5A;
    // Either outcome is fine; reading must not crash or hang.
    (void)ReadSentencePieceModel(damaged);
    (void)SentencePieceModelToTokenizerJson(damaged);
  }
}

TEST_F(TrainedTokenizerTest, TruncatedTokenizerJsonIsAnError) {
  absl::StatusOr<std::string> json = fs::ReadFile(trained_->json_path);
  ASSERT_TRUE(json.ok());
  for (size_t keep : {size_t{0}, size_t{1}, json->size() / 3, json->size() - 2}) {
    EXPECT_FALSE(HfUnigramTokenizer::FromJson(json->substr(0, keep)).ok()) << keep;
  }
}

TEST_F(TrainedTokenizerTest, SentencePieceAndTokenizerJsonGiveIdenticalIds) {
  const std::vector<std::string> inputs = Inputs();
  int mismatches = 0;
  bool saw_byte_fallback = false;
  for (const std::string& input : inputs) {
    absl::StatusOr<std::vector<TokenId>> expected = sentencepiece_->Encode(input);
    absl::StatusOr<std::vector<TokenId>> actual = json_->Encode(input);
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_TRUE(actual.ok()) << actual.status();
    if (*expected != *actual && ++mismatches <= 5) {
      ADD_FAILURE() << "ids differ for \"" << input << "\"\n  sentencepiece: " << absl::StrJoin(*expected, " ")
                    << "\n  tokenizer.json: " << absl::StrJoin(*actual, " ");
    }
    for (TokenId id : *expected) saw_byte_fallback |= id >= 4 && id < 260;
  }
  EXPECT_EQ(mismatches, 0) << "of " << inputs.size() << " inputs";
  EXPECT_TRUE(saw_byte_fallback) << "no input exercised byte fallback";
  std::printf("compared %zu inputs\n", inputs.size());
}

TEST_F(TrainedTokenizerTest, SpecialTokenTextDiffers) {
  const std::string text = "a <s> b </s>";
  absl::StatusOr<std::vector<TokenId>> from_model = sentencepiece_->Encode(text);
  absl::StatusOr<std::vector<TokenId>> from_json = json_->Encode(text);
  ASSERT_TRUE(from_model.ok() && from_json.ok());
  EXPECT_THAT(*from_model, ::testing::Not(::testing::Contains(kTrainedBosId)));
  EXPECT_THAT(*from_json, ::testing::Contains(kTrainedBosId));
  EXPECT_EQ(from_json->back(), kTrainedEosId);
  EXPECT_EQ(*sentencepiece_->Decode(*from_model), text);
}

TEST_F(TrainedTokenizerTest, BosAndEosOnlyWhenAsked) {
  for (const Tokenizer* tokenizer :
       {static_cast<const Tokenizer*>(sentencepiece_.get()), static_cast<const Tokenizer*>(json_.get())}) {
    absl::StatusOr<std::vector<TokenId>> plain = tokenizer->Encode("apt update");
    absl::StatusOr<std::vector<TokenId>> framed = tokenizer->Encode("apt update", {.add_bos = true, .add_eos = true});
    ASSERT_TRUE(plain.ok() && framed.ok());
    ASSERT_EQ(framed->size(), plain->size() + 2);
    EXPECT_EQ(framed->front(), kTrainedBosId);
    EXPECT_EQ(framed->back(), kTrainedEosId);
    EXPECT_NE(plain->front(), kTrainedBosId);
  }
}

TEST_F(TrainedTokenizerTest, DecodeInvertsEncodeInBothForms) {
  for (const std::string& input : Inputs()) {
    // Invalid UTF-8 comes back as U+FFFD, and a literal ▁ as a space (▁ is
    // the whitespace symbol of both forms).
    const std::string expected = absl::StrReplaceAll(ReplaceInvalidUtf8(input), {{"\u2581", " "}});
    for (const Tokenizer* tokenizer :
         {static_cast<const Tokenizer*>(sentencepiece_.get()), static_cast<const Tokenizer*>(json_.get())}) {
      absl::StatusOr<std::vector<TokenId>> ids = tokenizer->Encode(input, {.add_bos = true});
      ASSERT_TRUE(ids.ok()) << ids.status();
      absl::StatusOr<std::string> decoded = tokenizer->Decode(*ids);
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      ASSERT_EQ(*decoded, expected) << tokenizer->format_name();
    }
  }
}

TEST_F(TrainedTokenizerTest, LoadTokenizerPrefersTheSentencePieceModel) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizer(folder_->path().string());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->format_name(), "SentencePiece (tokenizer.model)");
}

TEST_F(TrainedTokenizerTest, SameOptionsTrainTheSameModel) {
  fs::TempDir again("trained_again");
  absl::StatusOr<TrainedTokenizer> trained = TrainTokenizer(*lines_, SmallOptions(), again.path().string());
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(*fs::ReadFile(trained->model_path), *fs::ReadFile(trained_->model_path));
  EXPECT_EQ(*fs::ReadFile(trained->json_path), *fs::ReadFile(trained_->json_path));
}

TEST(TokenizerTrainerTest, RejectsBadOptionsAndInput) {
  fs::TempDir folder("trainer_options");
  TokenizerTrainingOptions options = SmallOptions();
  options.vocab_size = 10;
  EXPECT_EQ(TrainTokenizer({"some text"}, options, folder.path().string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = SmallOptions();
  options.character_coverage = 1.5;
  EXPECT_EQ(TrainTokenizer({"some text"}, options, folder.path().string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(TrainTokenizer({"", "\n\n"}, SmallOptions(), folder.path().string()).status().message(),
              HasSubstr("no training text"));
  EXPECT_EQ(
      TrainTokenizerFromTextFile(folder.file("absent.txt"), SmallOptions(), folder.path().string()).status().code(),
      absl::StatusCode::kNotFound);
}

TEST(TokenizerTrainerTest, TrainsFromATextFile) {
  fs::TempDir folder("trainer_file");
  const std::string text = absl::StrJoin(test_support::BilingualTrainingLines(1500, 3), "\n");
  ASSERT_TRUE(fs::WriteFileAtomically(folder.file("corpus.txt"), text).ok());
  absl::StatusOr<TrainedTokenizer> trained =
      TrainTokenizerFromTextFile(folder.file("corpus.txt"), SmallOptions(), (folder.path() / "out").string());
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->sentences, 1500);
  EXPECT_TRUE(LoadTokenizer((folder.path() / "out").string()).ok());
}

TEST(TokenizerJsonExporterTest, RefusesModelsItCannotRepresent) {
  // A model with SentencePiece's default NFKC-based normalisation.
  std::string serialized;
  std::string error;
  std::vector<std::string> lines = test_support::BilingualTrainingLines(1500, 5);
  ASSERT_TRUE(spm_bridge::Train(
      {{"model_type", "unigram"}, {"vocab_size", "800"}, {"hard_vocab_limit", "false"}, {"minloglevel", "2"}}, lines, 1,
      &serialized, &error))
      << error;
  absl::StatusOr<std::string> json = SentencePieceModelToTokenizerJson(serialized);
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(), HasSubstr("nmt_nfkc"));
  EXPECT_THAT(SentencePieceModelToTokenizerJson("not a model at all").status().message(),
              HasSubstr("not a SentencePiece model"));
}

TEST(LoadTokenizerTest, CorruptModelFileIsAnErrorNamingIt) {
  fs::TempDir folder("corrupt_model");
  ASSERT_TRUE(fs::WriteFileAtomically(folder.file("tokenizer.model"), "garbage").ok());
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizer(folder.path().string());
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("tokenizer.model"));
}

}  // namespace
}  // namespace expsvc::lm
