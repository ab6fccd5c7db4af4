#include "worker/lm/corpus/corpus_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"
#include "worker/lm/corpus/corpus_file_format.h"
#include "worker/lm/corpus/debian_reference_source.h"
#include "worker/lm/corpus/text_folder_source.h"
#include "worker/lm/tokenizer/hf_tokenizer.h"
#include "worker/lm/tokenizer/load_tokenizer.h"
#include "worker/lm/tokenizer/sentencepiece_tokenizer.h"
#include "worker/lm/tokenizer/testing/bilingual_sample_text.h"
#include "worker/lm/tokenizer/testing/llmjp_tokenizer.h"
#include "worker/lm/tokenizer/tokenizer_identity.h"

namespace expsvc::lm {
namespace {

using fs::TempDir;

constexpr int32_t kTokensPerWindow = 16;

// 60 sections, each in English and Japanese, of 12 generated lines.
std::vector<Document> SyntheticDocuments() {
  std::vector<Document> documents;
  const std::vector<std::string>& english = test_support::EnglishSentences();
  const std::vector<std::string>& japanese = test_support::JapaneseSentences();
  for (int section = 0; section < 60; ++section) {
    for (Language language : {Language::kEnglish, Language::kJapanese}) {
      const std::vector<std::string>& pool = language == Language::kEnglish ? english : japanese;
      Document document;
      document.key = absl::StrCat("section", section);
      document.language = language;
      document.title = pool[section % pool.size()];
      document.paragraphs.push_back(document.title);
      for (int line = 0; line < 12; ++line) {
        document.paragraphs.push_back(pool[(section * 7 + line * 3) % pool.size()]);
      }
      documents.push_back(std::move(document));
    }
  }
  return documents;
}

CorpusBuildOptions SmallOptions() {
  CorpusBuildOptions options;
  options.tokens_per_window = kTokensPerWindow;
  options.split_seed = 11;
  options.tokenizer.vocab_size = 800;
  return options;
}

// The key of a document that lands in `split` under SmallOptions().
std::string KeyIn(const std::vector<Document>& documents, Split split) {
  absl::StatusOr<std::vector<Split>> splits = AssignSplits(documents, SmallOptions().split_seed);
  EXPECT_TRUE(splits.ok());
  for (size_t d = 0; d < documents.size(); ++d) {
    if ((*splits)[d] == split) return documents[d].key;
  }
  return "";
}

TEST(CorpusBuilderTest, WindowsAreBosPlusNAndEveryDocumentIsInOneSplit) {
  fs::TempDir folder("corpus_build");
  const std::vector<Document> documents = SyntheticDocuments();
  absl::StatusOr<CorpusBuildReport> report = BuildLmCorpus(documents, SmallOptions(), folder.path().string());
  ASSERT_TRUE(report.ok()) << report.status();
  absl::StatusOr<LmCorpus> corpus = ReadCorpusFile(report->corpus_path);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(corpus->window_length(), kTokensPerWindow + 1);
  EXPECT_EQ(corpus->vocab_size(), report->vocab_size);

  int64_t documents_counted = 0;
  for (Split split : kAllSplits) {
    for (Language language : {Language::kEnglish, Language::kJapanese}) {
      const CorpusCounts& counts = report->at(split, language);
      documents_counted += counts.documents;
      EXPECT_GT(counts.windows, 0) << SplitName(split) << " " << LanguageName(language);
      EXPECT_EQ(corpus->window_count(split, language), counts.windows);
      EXPECT_EQ(counts.tokens - counts.dropped_tokens, counts.windows * kTokensPerWindow);
    }
    for (int64_t w = 0; w < corpus->window_count(split); ++w) {
      const CorpusWindow window = corpus->window(split, w);
      ASSERT_EQ(static_cast<int32_t>(window.tokens.size()), kTokensPerWindow + 1);
      ASSERT_EQ(window.tokens.front(), corpus->bos_id());
      ASSERT_EQ(corpus->documents()[window.document].split, split);
      ASSERT_EQ(corpus->documents()[window.document].language, window.language);
    }
  }
  EXPECT_EQ(documents_counted, static_cast<int64_t>(documents.size()));

  // No document, and no translation of one, in two splits.
  std::map<std::string, std::set<Split>> splits_of_key;
  std::set<std::pair<std::string, Language>> seen;
  for (const CorpusDocumentInfo& document : corpus->documents()) {
    EXPECT_TRUE(seen.insert({document.key, document.language}).second) << document.key;
    splits_of_key[document.key].insert(document.split);
  }
  for (const auto& [key, splits] : splits_of_key) EXPECT_EQ(splits.size(), 1u) << key;
}

TEST(CorpusBuilderTest, WindowsAreTheDocumentsTokensInOrder) {
  fs::TempDir folder("corpus_tokens");
  const std::vector<Document> documents = SyntheticDocuments();
  absl::StatusOr<CorpusBuildReport> report = BuildLmCorpus(documents, SmallOptions(), folder.path().string());
  ASSERT_TRUE(report.ok()) << report.status();
  absl::StatusOr<LmCorpus> corpus = ReadCorpusFile(report->corpus_path);
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizer(report->tokenizer_folder);
  ASSERT_TRUE(corpus.ok() && tokenizer.ok());
  const Split split = corpus->documents()[0].split;
  std::vector<TokenId> expected;
  for (const std::string& paragraph : documents[0].paragraphs) {
    std::vector<TokenId> ids = *(*tokenizer)->Encode(paragraph);
    expected.insert(expected.end(), ids.begin(), ids.end());
  }
  ASSERT_GE(expected.size(), static_cast<size_t>(2 * kTokensPerWindow));
  int64_t found = 0;
  for (int64_t w = 0; w < corpus->window_count(split); ++w) {
    const CorpusWindow window = corpus->window(split, w);
    if (window.document != 0) continue;
    const auto first = expected.begin() + found * kTokensPerWindow;
    EXPECT_EQ(std::vector<TokenId>(window.tokens.begin() + 1, window.tokens.end()),
              std::vector<TokenId>(first, first + kTokensPerWindow));
    ++found;
  }
  EXPECT_EQ(found, static_cast<int64_t>(expected.size()) / kTokensPerWindow);
}

TEST(CorpusBuilderTest, TokenizerLearnsFromTheTrainingSplitOnly) {
  std::vector<Document> documents = SyntheticDocuments();
  const std::string train_key = KeyIn(documents, Split::kTrain);
  const std::string test_key = KeyIn(documents, Split::kTest);
  ASSERT_FALSE(train_key.empty());
  ASSERT_FALSE(test_key.empty());
  // A made-up word in one training document and another in one test
  // document, each in several forms: SentencePiece proposes a piece only
  // from text shared by different words, and only from common letters.
  const std::vector<std::string> endings = {"", "s", "ic", "ed", "ing", "al", "ous", "ity"};
  for (Document& document : documents) {
    if (document.language != Language::kEnglish) continue;
    const char* stem = document.key == train_key ? "tarisenol" : document.key == test_key ? "dumolchin" : nullptr;
    for (int i = 0; stem != nullptr && i < 40; ++i) {
      document.paragraphs.push_back(
          absl::StrCat(stem, endings[i % endings.size()], " ", test_support::EnglishSentences()[i % 40]));
    }
  }
  fs::TempDir folder("corpus_train_only");
  absl::StatusOr<CorpusBuildReport> report = BuildLmCorpus(documents, SmallOptions(), folder.path().string());
  ASSERT_TRUE(report.ok()) << report.status();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizer(report->tokenizer_folder);
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ((*tokenizer)->Encode("tarisenol")->size(), 1u) << "seen in training: one piece";
  EXPECT_GT((*tokenizer)->Encode("dumolchin")->size(), 3u) << "test-only text was learned";
}

TEST(CorpusBuilderTest, SameInputsBuildTheSameFileAndTheSeedChangesTheSplit) {
  const std::vector<Document> documents = SyntheticDocuments();
  fs::TempDir first("corpus_same_a");
  fs::TempDir second("corpus_same_b");
  fs::TempDir reseeded("corpus_other_seed");
  CorpusBuildOptions other = SmallOptions();
  other.split_seed = 12;
  absl::StatusOr<CorpusBuildReport> a = BuildLmCorpus(documents, SmallOptions(), first.path().string());
  absl::StatusOr<CorpusBuildReport> b = BuildLmCorpus(documents, SmallOptions(), second.path().string());
  absl::StatusOr<CorpusBuildReport> c = BuildLmCorpus(documents, other, reseeded.path().string());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*fs::ReadFile(a->corpus_path), *fs::ReadFile(b->corpus_path));
  absl::StatusOr<LmCorpus> x = ReadCorpusFile(a->corpus_path);
  absl::StatusOr<LmCorpus> y = ReadCorpusFile(c->corpus_path);
  ASSERT_TRUE(x.ok() && y.ok());
  int differing = 0;
  for (size_t d = 0; d < x->documents().size(); ++d) {
    differing += x->documents()[d].split != y->documents()[d].split;
  }
  EXPECT_GT(differing, 0);
}

TEST(CorpusBuilderTest, RejectsBadOptions) {
  fs::TempDir folder("corpus_bad");
  CorpusBuildOptions options = SmallOptions();
  options.tokens_per_window = 0;
  EXPECT_EQ(BuildLmCorpus(SyntheticDocuments(), options, folder.path().string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildLmCorpus({}, SmallOptions(), folder.path().string()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// en/ and ja/ folders of 20 plain-text files each, from the sample sentences.
std::string WriteTextFolder(const fs::TempDir& dir) {
  const std::filesystem::path root = dir.path() / "text";
  for (const auto& [code, pool] :
       {std::pair{"en", &test_support::EnglishSentences()}, std::pair{"ja", &test_support::JapaneseSentences()}}) {
    std::filesystem::create_directories(root / code);
    for (int file = 0; file < 20; ++file) {
      std::ofstream out(root / code / absl::StrCat("doc", file, ".txt"));
      for (int paragraph = 0; paragraph < 6; ++paragraph) {
        out << (*pool)[(file * 5 + paragraph * 3) % pool->size()] << " "
            << (*pool)[(file * 7 + paragraph) % pool->size()] << "\n\n";
      }
    }
  }
  return root.string();
}

// Builds from `documents` with an existing tokenizer file and checks the
// corpus speaks its ids: vocabulary, BOS, identity, and the first
// document's windows equal to its encoding.
void ExpectBuiltWithTokenizer(const std::vector<Document>& documents, const std::string& tokenizer_file,
                              const fs::TempDir& out) {
  CorpusBuildOptions options = SmallOptions();
  options.tokenizer_file = tokenizer_file;
  absl::StatusOr<CorpusBuildReport> report = BuildLmCorpus(documents, options, out.path().string());
  ASSERT_TRUE(report.ok()) << report.status();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizerFile(tokenizer_file);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  absl::StatusOr<LmCorpus> corpus = ReadCorpusFile(report->corpus_path);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(corpus->vocab_size(), (*tokenizer)->vocab_size());
  EXPECT_EQ(corpus->bos_id(), (*tokenizer)->special_ids().bos);
  EXPECT_EQ(corpus->tokenizer_identity(), *TokenizerIdentityOfFile(tokenizer_file));
  EXPECT_EQ(report->tokenizer_identity, corpus->tokenizer_identity());
  EXPECT_EQ(report->tokenizer_sentences, 0);
  const absl::StatusOr<std::string> bytes = fs::ReadFile(report->corpus_path);
  EXPECT_EQ(static_cast<unsigned char>((*bytes)[12]), (*tokenizer)->vocab_size() > 65536 ? 4 : 2) << "id width";

  // The tokenizer folder holds the given tokenizer: a .model and its export,
  // or the .json alone.
  const std::filesystem::path folder(report->tokenizer_folder);
  const bool given_model = std::filesystem::path(tokenizer_file).extension() == ".model";
  EXPECT_EQ(std::filesystem::exists(folder / kSentencePieceModelFile), given_model);
  EXPECT_EQ(*TokenizerIdentityOfFile(folder / kTokenizerJsonFile), corpus->tokenizer_identity());

  std::vector<TokenId> expected;
  for (const std::string& paragraph : documents[0].paragraphs) {
    std::vector<TokenId> ids = *(*tokenizer)->Encode(paragraph);
    expected.insert(expected.end(), ids.begin(), ids.end());
  }
  const Split split = corpus->documents()[0].split;
  int64_t found = 0;
  TokenId largest = 0;
  for (int64_t w = 0; w < corpus->window_count(split); ++w) {
    const CorpusWindow window = corpus->window(split, w);
    largest = std::max(largest, *std::max_element(window.tokens.begin(), window.tokens.end()));
    if (window.document != 0) continue;
    ASSERT_LE(static_cast<size_t>((found + 1) * kTokensPerWindow), expected.size());
    const auto first = expected.begin() + found * kTokensPerWindow;
    EXPECT_EQ(std::vector<TokenId>(window.tokens.begin() + 1, window.tokens.end()),
              std::vector<TokenId>(first, first + kTokensPerWindow));
    ++found;
  }
  EXPECT_EQ(found, static_cast<int64_t>(expected.size()) / kTokensPerWindow);
  std::printf("%s: vocab %d, %lld train windows, largest id in %s %d\n", tokenizer_file.c_str(), corpus->vocab_size(),
              static_cast<long long>(corpus->window_count(Split::kTrain)), SplitName(split).c_str(), largest);
}

TEST(CorpusBuilderTest, AnExistingTokenizerFileTokenisesATextFolder) {
  fs::TempDir dir("corpus_given_tokenizer");
  absl::StatusOr<std::vector<Document>> documents = LoadBilingualTextFolder(WriteTextFolder(dir), {});
  ASSERT_TRUE(documents.ok()) << documents.status();
  TokenizerTrainingOptions training;
  training.vocab_size = 700;
  absl::StatusOr<TrainedTokenizer> trained =
      TrainTokenizer(test_support::BilingualTrainingLines(600, 9), training, dir.file("given"));
  ASSERT_TRUE(trained.ok()) << trained.status();
  {
    SCOPED_TRACE("tokenizer.model");
    fs::TempDir out("corpus_given_model");
    ExpectBuiltWithTokenizer(*documents, trained->model_path, out);
  }
  {
    SCOPED_TRACE("tokenizer.json");
    fs::TempDir out("corpus_given_json");
    ExpectBuiltWithTokenizer(*documents, trained->json_path, out);
  }
  fs::TempDir out("corpus_given_bad");
  CorpusBuildOptions options = SmallOptions();
  options.tokenizer_file = dir.file("vocab.txt");
  EXPECT_THAT(BuildLmCorpus(*documents, options, out.path().string()).status().message(),
              ::testing::HasSubstr("vocab.txt"));
}

// The real LLM-jp v3 tokenizer: 99,574 pieces, so 4-byte ids.
TEST(CorpusBuilderTest, TheLlmJpTokenizerTokenisesATextFolderWithFourByteIds) {
  const std::string model_path = test_support::LlmJpTokenizerModelPath();
  if (model_path.empty()) GTEST_SKIP() << test_support::kLlmJpTokenizerSkipMessage;
  fs::TempDir dir("corpus_llmjp");
  absl::StatusOr<std::vector<Document>> documents = LoadBilingualTextFolder(WriteTextFolder(dir), {});
  ASSERT_TRUE(documents.ok()) << documents.status();
  fs::TempDir out("corpus_llmjp_out");
  ExpectBuiltWithTokenizer(*documents, model_path, out);
  absl::StatusOr<LmCorpus> corpus = ReadCorpusFile((out.path() / kCorpusFileName).string());
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(corpus->vocab_size(), test_support::kLlmJpTokenizerVocabSize);
}

// On the installed Debian Reference: the corpus builds, and the tokenizer's
// two forms agree on every paragraph of the held-out splits.
TEST(CorpusBuilderTest, DebianReferenceBuildsAndBothTokenizerFormsAgree) {
  absl::StatusOr<std::vector<Document>> documents = LoadDebianReference({});
  if (absl::IsNotFound(documents.status())) {
    GTEST_SKIP() << "SKIPPED: Debian Reference not installed (" << documents.status().message() << ")";
  }
  ASSERT_TRUE(documents.ok()) << documents.status();
  fs::TempDir folder("corpus_debian_reference");
  CorpusBuildOptions options;
  options.tokenizer.vocab_size = 4000;
  absl::StatusOr<CorpusBuildReport> report = BuildLmCorpus(*documents, options, folder.path().string());
  ASSERT_TRUE(report.ok()) << report.status();
  for (Split split : kAllSplits) {
    for (Language language : {Language::kEnglish, Language::kJapanese}) {
      EXPECT_GT(report->at(split, language).windows, 50);
    }
  }
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> model = SentencePieceTokenizer::FromFile(
      (std::filesystem::path(report->tokenizer_folder) / kSentencePieceModelFile).string());
  absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> json =
      HfUnigramTokenizer::FromFile((std::filesystem::path(report->tokenizer_folder) / kTokenizerJsonFile).string());
  ASSERT_TRUE(model.ok() && json.ok());
  absl::StatusOr<std::vector<Split>> splits = AssignSplits(*documents, options.split_seed);
  ASSERT_TRUE(splits.ok());
  int compared = 0;
  int mismatches = 0;
  for (size_t d = 0; d < documents->size(); ++d) {
    if ((*splits)[d] == Split::kTrain) continue;
    for (const std::string& paragraph : (*documents)[d].paragraphs) {
      ++compared;
      std::vector<TokenId> a = *(*model)->Encode(paragraph);
      std::vector<TokenId> b = *(*json)->Encode(paragraph);
      if (a != b && ++mismatches <= 3) {
        ADD_FAILURE() << paragraph << "\n  model: " << absl::StrJoin(a, " ") << "\n  json:  " << absl::StrJoin(b, " ");
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << compared << " paragraphs";
  std::printf("compared %d held-out paragraphs of the Debian Reference\n", compared);
}

}  // namespace
}  // namespace expsvc::lm
