#pragma once
// Documents from the Debian Reference manual's plain-text editions
// (packages debian-reference-en / -ja: debian-reference.<code>.txt.gz),
// one document per section. See README.md for the splitting rule and why.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/lm/corpus/document.h"
#include "worker/lm/corpus/language.h"

namespace expsvc::lm {

// Where Debian installs the manual. The only place this path is written:
// everything else takes the folder from DebianReferenceOptions.
inline constexpr const char* kDefaultDebianReferenceFolder = "/usr/share/debian-reference";

struct DebianReferenceOptions {
  std::string folder = kDefaultDebianReferenceFolder;
  std::vector<Language> languages = {Language::kEnglish, Language::kJapanese};
  // Sections with less body text than this are dropped: headings with a
  // line or two under them. Measured in display width (document.h), so the
  // same section passes or fails in both languages.
  size_t min_document_width = 200;
  // Rows of the ASCII-art tables (package lists) become paragraphs
  // (ascii_table.h); false drops the tables.
  bool keep_table_rows = true;
  // Drop English paragraphs the Japanese edition left untranslated, so that
  // text labelled Japanese is Japanese.
  bool drop_untranslated_paragraphs = true;
};

// The file of one language: <folder>/debian-reference.<code>.txt.gz.
std::string DebianReferencePath(const std::string& folder, Language language);

// Splits the text of one edition into section documents.
std::vector<Document> SplitDebianReferenceText(absl::string_view text, Language language,
                                               const DebianReferenceOptions& options, DocumentSourceStats* stats);

// Reads and splits every language in `options`, English first. NotFound,
// naming the file and the Debian package, when an edition is missing.
absl::StatusOr<std::vector<Document>> LoadDebianReference(const DebianReferenceOptions& options,
                                                          DocumentSourceStats* stats = nullptr);

}  // namespace expsvc::lm
