#include "worker/lm/corpus/debian_reference_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs/testing/temp_dir.h"

namespace expsvc::lm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kLongEnglish =
    "    This paragraph is long enough to keep its section: it explains how the\n"
    "    package system works, why you should read the manual pages, and what\n"
    "    to do when something goes wrong during an upgrade of the system.\n";

// The layout of debian-reference.en.txt, in miniature.
std::string MiniatureEnglishEdition() {
  return absl::StrCat(
      "Debian Reference\n\nTable of Contents\n\nPreface\n    1. Disclaimer\n1. Tutorials\n"
      "    1.1. Basics\n\n",
      "---------------------------------------------------------------------\n\n",
      "Preface\n\nTable of Contents\n\n1. Disclaimer\n2. Short section\n\n",
      "1.\xC2\xA0"
      "Disclaimer\n\n",
      kLongEnglish, "\n", "2.\xC2\xA0Short section\n\n    Too short.\n\n",
      "Chapter\xC2\xA0"
      "1.\xC2\xA0Tutorials\n\n",
      kLongEnglish, "\n",
      "1.1.\xC2\xA0"
      "Basics of a title that is long and\nwraps\n\n",
      kLongEnglish, "\n",
      "    Table 1.1. Tools\n\n"
      "    +------------------------+\n"
      "    |package|popcon|meaning  |\n"
      "    |-------+------+---------|\n"
      "    |mc     |V:54, |file     |\n"
      "    |       |I:226 |manager  |\n"
      "    +------------------------+\n\n",
      "    Steps:\n\n      1. first step\n      2. second step\n\n",
      "---------------------------------------------------------------------\n\n",
      "    ^[1] A footnote that is not part of any section.\n\n",
      "Appendix\xC2\xA0"
      "A.\xC2\xA0"
      "Appendix\n\n",
      "A.1.\xC2\xA0History\n\n", kLongEnglish);
}

const DebianReferenceOptions kOptions;

TEST(DebianReferenceSourceTest, SplitsAtSectionHeadingsAndDropsFrontMatter) {
  DocumentSourceStats stats;
  std::vector<Document> documents =
      SplitDebianReferenceText(MiniatureEnglishEdition(), Language::kEnglish, kOptions, &stats);
  std::vector<std::string> keys;
  for (const Document& document : documents) keys.push_back(document.key);
  // "preface" only had its table of contents, "preface/2" and "appA" too
  // little text: dropped.
  EXPECT_THAT(keys, ElementsAre("preface/1", "ch1", "ch1/1.1", "appA/A.1"));
  EXPECT_EQ(stats.documents, 4);
  EXPECT_EQ(stats.small_documents_dropped, 3);
  EXPECT_EQ(stats.contents_paragraphs_dropped, 2);  // the list and its caption

  const Document& basics = documents[2];
  EXPECT_EQ(basics.title, "Basics of a title that is long and wraps");
  EXPECT_EQ(basics.language, Language::kEnglish);
  EXPECT_EQ(basics.source, "debian-reference.en.txt.gz");
  EXPECT_EQ(basics.paragraphs.front(), basics.title);
  EXPECT_THAT(basics.paragraphs, ::testing::Contains("package popcon meaning"));
  EXPECT_THAT(basics.paragraphs, ::testing::Contains("mc file manager"));
  // An indented numbered list is text, not a table of contents.
  EXPECT_THAT(basics.paragraphs, ::testing::Contains("1. first step 2. second step"));
  for (const Document& document : documents) {
    for (const std::string& paragraph : document.paragraphs) {
      EXPECT_FALSE(absl::StrContains(paragraph, "footnote")) << paragraph;
      EXPECT_FALSE(absl::StrContains(paragraph, "\n")) << paragraph;
      EXPECT_FALSE(absl::StrContains(paragraph, "\xC2\xA0")) << paragraph;
    }
  }
  EXPECT_EQ(documents[1].title, "Tutorials");
}

TEST(DebianReferenceSourceTest, JapaneseHeadingsAndUntranslatedParagraphs) {
  const std::string text =
      absl::StrCat("序章\n\n1. 免責事項\n\n",
                   "    この文書は Debian システムの概要を説明します。パッケージ管理、ネットワーク、\n"
                   "    プログラミングなど多くの話題を扱います。困ったときにはまずマニュアルページを\n"
                   "    読み、それでもわからないときはメーリングリストで質問してください。\n\n",
                   kLongEnglish, "\n", "第2章 パッケージ管理\n\n2.1. 基本\n\n",
                   "    パッケージ管理システムはインストールされたすべてのファイルを記録しま\n"
                   "    す。更新の前には必ずバックアップを取り、変更点を確認してから作業を進め\n"
                   "    てください。問題が起きたときはログを読んで原因を調べましょう。\n\n",
                   "    $ sudo apt-get install debian-reference-en debian-reference-ja\n\n",
                   "付録A 補遺\n\nA.1. 歴史\n\n    短い。\n");
  DocumentSourceStats stats;
  std::vector<Document> documents = SplitDebianReferenceText(text, Language::kJapanese, kOptions, &stats);
  ASSERT_EQ(documents.size(), 2u);
  EXPECT_EQ(documents[0].key, "preface/1");
  EXPECT_EQ(documents[1].key, "ch2/2.1");
  EXPECT_EQ(documents[1].title, "基本");
  EXPECT_EQ(stats.untranslated_paragraphs_dropped, 1);
  // Wrapped Japanese lines are joined without spaces; shell examples stay.
  EXPECT_THAT(documents[1].paragraphs[1], HasSubstr("記録します。更新"));
  EXPECT_EQ(documents[1].paragraphs.back(), "$ sudo apt-get install debian-reference-en debian-reference-ja");

  DebianReferenceOptions keep_everything;
  keep_everything.drop_untranslated_paragraphs = false;
  documents = SplitDebianReferenceText(text, Language::kJapanese, keep_everything, nullptr);
  EXPECT_EQ(documents[0].paragraphs.size(), 3u);
}

TEST(DebianReferenceSourceTest, MissingEditionNamesFileAndPackage) {
  fs::TempDir folder("no_debian_reference");
  DebianReferenceOptions options;
  options.folder = folder.path().string();
  absl::StatusOr<std::vector<Document>> documents = LoadDebianReference(options);
  EXPECT_EQ(documents.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(documents.status().message(), HasSubstr("debian-reference.en.txt.gz"));
  EXPECT_THAT(documents.status().message(), HasSubstr("debian-reference-en"));
}

// The installed manual, when present (packages debian-reference-en/-ja).
TEST(DebianReferenceSourceTest, InstalledManualSplitsIntoParallelSections) {
  DocumentSourceStats stats;
  absl::StatusOr<std::vector<Document>> documents = LoadDebianReference(kOptions, &stats);
  if (absl::IsNotFound(documents.status())) {
    GTEST_SKIP() << "SKIPPED: Debian Reference not installed (" << documents.status().message()
                 << "); apt-get install debian-reference-en debian-reference-ja";
  }
  ASSERT_TRUE(documents.ok()) << documents.status();
  std::set<std::string> english_keys;
  std::set<std::string> japanese_keys;
  for (const Document& document : *documents) {
    std::set<std::string>& keys = document.language == Language::kEnglish ? english_keys : japanese_keys;
    EXPECT_TRUE(keys.insert(document.key).second) << "duplicate key " << document.key;
    for (const std::string& paragraph : document.paragraphs) {
      ASSERT_FALSE(paragraph.empty()) << document.key;
      ASSERT_FALSE(absl::StrContains(paragraph, "\n")) << document.key;
      ASSERT_FALSE(absl::StrContains(paragraph, "+----")) << document.key << ": " << paragraph;
    }
  }
  EXPECT_GT(english_keys.size(), 300u);
  EXPECT_GT(japanese_keys.size(), 300u);
  // The editions are translations: nearly every Japanese section has its English one.
  size_t matched = 0;
  for (const std::string& key : japanese_keys) matched += english_keys.count(key);
  EXPECT_GE(matched * 100, japanese_keys.size() * 98);
  EXPECT_TRUE(english_keys.count("ch2/2.1.1")) << "a well-known section is missing";
  EXPECT_EQ(stats.contents_paragraphs_dropped, 4);  // the preface's list + caption, per edition
}

}  // namespace
}  // namespace expsvc::lm
