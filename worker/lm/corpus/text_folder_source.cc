#include "worker/lm/corpus/text_folder_source.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/lm/corpus/wrapped_text.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::vector<fs::path>> TextFilesBelow(const fs::path& folder) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    return absl::NotFoundError(absl::StrCat(folder.string(), ": no such folder"));
  }
  std::vector<fs::path> files;
  for (fs::recursive_directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    if (it->is_regular_file(error) && it->path().extension() == ".txt") {
      files.push_back(fs::relative(it->path(), folder, error));
    }
  }
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat("cannot list ", folder.string(), ": ", error.message()));
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

absl::StatusOr<std::vector<Document>> LoadTextFolder(const std::string& folder, Language language,
                                                     const TextFolderOptions& options, DocumentSourceStats* stats) {
  DocumentSourceStats ignored;
  if (stats == nullptr) stats = &ignored;
  EXPSVC_ASSIGN_OR_RETURN(const std::vector<fs::path> files, TextFilesBelow(folder));
  std::vector<Document> documents;
  for (const fs::path& relative : files) {
    const std::string path = (fs::path(folder) / relative).string();
    EXPSVC_ASSIGN_OR_RETURN(const std::string text, expsvc::fs::ReadFile(path));
    if (!IsValidUtf8(text)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not valid UTF-8"));
    }
    const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
    Document document;
    document.key = fs::path(relative).replace_extension().generic_string();
    document.language = language;
    document.source = path;
    for (const std::vector<absl::string_view>& paragraph_lines : SplitIntoParagraphs(lines)) {
      std::string paragraph = JoinWrappedLines(paragraph_lines);
      if (paragraph.empty()) continue;
      if (language == Language::kJapanese && options.drop_untranslated_paragraphs &&
          LooksLikeUntranslatedEnglish(paragraph)) {
        ++stats->untranslated_paragraphs_dropped;
        continue;
      }
      document.paragraphs.push_back(std::move(paragraph));
    }
    if (document.paragraphs.empty() || DisplayWidth(document) < options.min_document_width) {
      ++stats->small_documents_dropped;
      continue;
    }
    document.title = document.paragraphs.front();
    ++stats->documents;
    stats->paragraphs += static_cast<int>(document.paragraphs.size());
    documents.push_back(std::move(document));
  }
  return documents;
}

absl::StatusOr<std::vector<Document>> LoadBilingualTextFolder(const std::string& root, const TextFolderOptions& options,
                                                              DocumentSourceStats* stats) {
  std::vector<Document> documents;
  bool found_any = false;
  for (Language language : {Language::kEnglish, Language::kJapanese}) {
    const fs::path folder = fs::path(root) / LanguageCode(language);
    std::error_code error;
    if (!fs::is_directory(folder, error)) continue;
    found_any = true;
    EXPSVC_ASSIGN_OR_RETURN(std::vector<Document> part, LoadTextFolder(folder.string(), language, options, stats));
    for (Document& document : part) documents.push_back(std::move(document));
  }
  if (!found_any) {
    return absl::NotFoundError(absl::StrCat(root, ": no language folders (expected en/ and/or ja/)"));
  }
  return documents;
}

}  // namespace expsvc::lm
