#include "worker/lm/corpus/text_folder_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"

namespace expsvc::lm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  ASSERT_TRUE(fs::WriteFileAtomically(path.string(), text).ok());
}

TEST(TextFolderSourceTest, OneDocumentPerFileWithParagraphsAndSharedKeys) {
  fs::TempDir root("text_folder");
  WriteText(root.path() / "en" / "b.txt", "Second file\n\nIts only paragraph\nwraps here.\n");
  WriteText(root.path() / "en" / "a" / "one.txt", "Title one\n\nBody.\n");
  WriteText(root.path() / "en" / "notes.md", "not a .txt file\n");
  WriteText(root.path() / "ja" / "b.txt", "二番目のファイル\n\n段落が折り返\nされます。\n");
  DocumentSourceStats stats;
  absl::StatusOr<std::vector<Document>> documents = LoadBilingualTextFolder(root.path().string(), {}, &stats);
  ASSERT_TRUE(documents.ok()) << documents.status();
  ASSERT_EQ(documents->size(), 3u);
  const Document& first = (*documents)[0];
  EXPECT_EQ(first.key, "a/one");  // sorted by relative path
  EXPECT_EQ(first.title, "Title one");
  EXPECT_THAT(first.paragraphs, ElementsAre("Title one", "Body."));
  const Document& english = (*documents)[1];
  const Document& japanese = (*documents)[2];
  EXPECT_EQ(english.key, "b");
  EXPECT_EQ(japanese.key, "b");  // translations share a key
  EXPECT_EQ(english.language, Language::kEnglish);
  EXPECT_EQ(japanese.language, Language::kJapanese);
  EXPECT_THAT(english.paragraphs, ElementsAre("Second file", "Its only paragraph wraps here."));
  EXPECT_THAT(japanese.paragraphs, ElementsAre("二番目のファイル", "段落が折り返されます。"));
  EXPECT_EQ(stats.documents, 3);
}

TEST(TextFolderSourceTest, SmallEmptyAndBrokenFiles) {
  fs::TempDir root("text_folder_errors");
  WriteText(root.path() / "empty.txt", "\n\n  \n");
  WriteText(root.path() / "tiny.txt", "hi\n");
  WriteText(root.path() / "fine.txt", "A paragraph long enough to keep.\n");
  TextFolderOptions options;
  options.min_document_width = 10;
  DocumentSourceStats stats;
  absl::StatusOr<std::vector<Document>> documents =
      LoadTextFolder(root.path().string(), Language::kEnglish, options, &stats);
  ASSERT_TRUE(documents.ok()) << documents.status();
  ASSERT_EQ(documents->size(), 1u);
  EXPECT_EQ((*documents)[0].key, "fine");
  EXPECT_EQ(stats.small_documents_dropped, 2);

  WriteText(root.path() / "broken.txt", "bad \xff byte\n");
  absl::StatusOr<std::vector<Document>> broken = LoadTextFolder(root.path().string(), Language::kEnglish, options);
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(broken.status().message(), HasSubstr("broken.txt"));

  EXPECT_EQ(LoadTextFolder((root.path() / "absent").string(), Language::kEnglish, options).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadBilingualTextFolder(root.path().string(), options).status().code(),
            absl::StatusCode::kNotFound);  // no en/ or ja/ below it
}

}  // namespace
}  // namespace expsvc::lm
