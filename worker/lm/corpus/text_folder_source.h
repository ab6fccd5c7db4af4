#pragma once
// Documents from folders of plain UTF-8 text files: one document per file
// (every *.txt below the folder, in sorted order of relative path). The file
// is cut into paragraphs at blank lines and each paragraph's lines are joined
// (wrapped_text.h); the first paragraph is the title. The key is the path
// relative to the folder without ".txt", so in a bilingual root
// (en/notes/a.txt, ja/notes/a.txt) a file and its translation share a key
// and are always in the same split.

#include <string>

#include "absl/status/statusor.h"
#include "worker/lm/corpus/document.h"
#include "worker/lm/corpus/language.h"

namespace expsvc::lm {

struct TextFolderOptions {
  // Files with less text than this (display width, document.h; title
  // included) are skipped.
  size_t min_document_width = 1;
  // As DebianReferenceOptions::drop_untranslated_paragraphs.
  bool drop_untranslated_paragraphs = false;
};

// Every *.txt below `folder`, all in `language`. InvalidArgument naming the
// file when one is not valid UTF-8; NotFound when the folder is missing.
absl::StatusOr<std::vector<Document>> LoadTextFolder(const std::string& folder, Language language,
                                                     const TextFolderOptions& options,
                                                     DocumentSourceStats* stats = nullptr);

// `root` holds one folder per language code (en/, ja/); missing ones are
// skipped, but at least one must exist. English first.
absl::StatusOr<std::vector<Document>> LoadBilingualTextFolder(const std::string& root, const TextFolderOptions& options,
                                                              DocumentSourceStats* stats = nullptr);

}  // namespace expsvc::lm
