#include "worker/lm/corpus/debian_reference_source.h"

#include <filesystem>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "worker/lm/corpus/ascii_table.h"
#include "worker/lm/corpus/gzip_file.h"
#include "worker/lm/corpus/wrapped_text.h"

namespace expsvc::lm {
namespace {

constexpr absl::string_view kNoBreakSpace = "\xC2\xA0";
constexpr int kMaxHeadingLines = 3;  // a title wraps onto at most two more lines

struct ChapterTitle {
  std::string key;  // "preface", "ch4", "appA"
  std::string title;
};

bool StartsAtColumnZero(absl::string_view line) {
  return !line.empty() && line[0] != ' ' && line[0] != '\t' && !absl::StartsWith(line, kNoBreakSpace);
}

absl::string_view SkipSpaces(absl::string_view text) {
  while (true) {
    if (absl::StartsWith(text, " ")) {
      text.remove_prefix(1);
    } else if (absl::StartsWith(text, kNoBreakSpace)) {
      text.remove_prefix(kNoBreakSpace.size());
    } else {
      return text;
    }
  }
}

// "4.5.4. Title" / "A.1. Title" / "1. Title" → number "4.5.4" and the title.
std::optional<std::pair<std::string, std::string>> ParseSectionNumber(absl::string_view line) {
  size_t pos = 0;
  const auto digits = [&] {
    const size_t start = pos;
    while (pos < line.size() && absl::ascii_isdigit(line[pos])) ++pos;
    return pos > start;
  };
  if (pos < line.size() && absl::ascii_isupper(line[pos]) && pos + 1 < line.size() && line[pos + 1] == '.') {
    ++pos;  // appendix letter
  } else if (!digits()) {
    return std::nullopt;
  }
  while (pos + 1 < line.size() && line[pos] == '.' && absl::ascii_isdigit(line[pos + 1])) {
    ++pos;
    digits();
  }
  if (pos >= line.size() || line[pos] != '.') return std::nullopt;
  const std::string number(line.substr(0, pos));
  const absl::string_view rest = line.substr(pos + 1);
  const absl::string_view title = SkipSpaces(rest);
  if (title.size() == rest.size() || title.empty()) {
    return std::nullopt;  // needs a space, then text
  }
  return std::make_pair(number, std::string(title));
}

// Chapter-level titles of the English and Japanese editions:
// "Preface"/"序章", "Chapter 4. …"/"第4章…", "Appendix A. …"/"付録A …".
std::optional<ChapterTitle> ParseChapterTitle(absl::string_view line) {
  line = absl::StripTrailingAsciiWhitespace(line);
  if (line == "Preface" || line == "序章") return ChapterTitle{"preface", std::string(line)};
  const auto numbered = [&](absl::string_view prefix, absl::string_view suffix,
                            absl::string_view key_prefix) -> std::optional<ChapterTitle> {
    if (!absl::StartsWith(line, prefix)) return std::nullopt;
    absl::string_view rest = line.substr(prefix.size());
    size_t length = 0;
    while (length < rest.size() && absl::ascii_isalnum(rest[length])) ++length;
    if (length == 0 || length > 3 || !absl::StartsWith(rest.substr(length), suffix)) {
      return std::nullopt;
    }
    const std::string id(rest.substr(0, length));
    const absl::string_view title = SkipSpaces(rest.substr(length + suffix.size()));
    return ChapterTitle{absl::StrCat(key_prefix, id), std::string(title)};
  };
  for (auto [prefix, suffix, key] : {std::tuple{"Chapter\xC2\xA0", ".", "ch"}, std::tuple{"Chapter ", ".", "ch"},
                                     std::tuple{"Appendix\xC2\xA0", ".", "app"}, std::tuple{"Appendix ", ".", "app"},
                                     std::tuple{"第", "章", "ch"}, std::tuple{"付録", "", "app"}}) {
    if (std::optional<ChapterTitle> title = numbered(prefix, suffix, key)) return title;
  }
  return std::nullopt;
}

bool IsSeparator(absl::string_view line) {
  line = absl::StripTrailingAsciiWhitespace(line);
  return line.size() >= 20 && line.find_first_not_of('-') == absl::string_view::npos;
}

// A table of contents: several lines, most of them "1.2. Title" entries,
// the top-level ones at column 0 (numbered lists in the text are indented).
bool IsContentsList(const std::vector<absl::string_view>& lines) {
  if (lines.size() < 2) return false;
  size_t entries = 0;
  bool entry_at_column_zero = false;
  for (absl::string_view line : lines) {
    if (!ParseSectionNumber(SkipSpaces(line)).has_value()) continue;
    ++entries;
    entry_at_column_zero |= StartsAtColumnZero(line);
  }
  return entry_at_column_zero && entries * 2 >= lines.size();
}

class DocumentCollector {
 public:
  DocumentCollector(Language language, const DebianReferenceOptions& options, DocumentSourceStats* stats)
      : language_(language), options_(options), stats_(stats) {
    source_ = absl::StrCat("debian-reference.", LanguageCode(language), ".txt.gz");
  }

  void Start(std::string key, std::string title) {
    Finish();
    open_ = true;
    key_ = std::move(key);
    title_ = std::move(title);
    body_.clear();
  }

  // Ends the open document (footnotes after a separator are not collected).
  void Finish() {
    if (!open_) return;
    open_ = false;
    Document document;
    document.key = key_;
    document.title = title_;
    document.language = language_;
    document.source = source_;
    document.paragraphs.push_back(title_);
    size_t caption_lines = 0;  // raw lines of the last kept paragraph
    for (const std::vector<absl::string_view>& lines : SplitIntoParagraphs(body_)) {
      if (IsAsciiTable(lines)) {
        AsciiTableText table = ReadAsciiTable(lines);
        if (!options_.keep_table_rows) {
          stats_->table_rows_dropped += static_cast<int>(table.rows.size()) + table.unreadable_rows;
          continue;
        }
        stats_->table_rows_dropped += table.unreadable_rows;
        stats_->table_rows += static_cast<int>(table.rows.size());
        for (std::string& row : table.rows) document.paragraphs.push_back(std::move(row));
        caption_lines = 0;
        continue;
      }
      if (IsContentsList(lines)) {
        ++stats_->contents_paragraphs_dropped;
        // A one-line paragraph right before it is its caption ("Table of Contents").
        if (caption_lines == 1 && document.paragraphs.size() > 1) {
          document.paragraphs.pop_back();
          ++stats_->contents_paragraphs_dropped;
        }
        caption_lines = 0;
        continue;
      }
      std::string paragraph = JoinWrappedLines(lines);
      if (paragraph.empty()) continue;
      if (language_ == Language::kJapanese && options_.drop_untranslated_paragraphs &&
          LooksLikeUntranslatedEnglish(paragraph)) {
        ++stats_->untranslated_paragraphs_dropped;
        continue;
      }
      document.paragraphs.push_back(std::move(paragraph));
      caption_lines = lines.size();
    }
    Document body_only = document;
    body_only.paragraphs.erase(body_only.paragraphs.begin());
    if (DisplayWidth(body_only) < options_.min_document_width) {
      ++stats_->small_documents_dropped;
      return;
    }
    ++stats_->documents;
    stats_->paragraphs += static_cast<int>(document.paragraphs.size());
    documents_.push_back(std::move(document));
  }

  void AddLine(absl::string_view line) {
    if (open_) body_.push_back(line);
  }

  std::vector<Document> TakeDocuments() { return std::move(documents_); }

 private:
  Language language_;
  const DebianReferenceOptions& options_;
  DocumentSourceStats* stats_;
  std::string source_;
  bool open_ = false;
  std::string key_;
  std::string title_;
  std::vector<absl::string_view> body_;
  std::vector<Document> documents_;
};

}  // namespace

std::string DebianReferencePath(const std::string& folder, Language language) {
  return (std::filesystem::path(folder) / absl::StrCat("debian-reference.", LanguageCode(language), ".txt.gz"))
      .string();
}

std::vector<Document> SplitDebianReferenceText(absl::string_view text, Language language,
                                               const DebianReferenceOptions& options, DocumentSourceStats* stats) {
  DocumentSourceStats ignored;
  if (stats == nullptr) stats = &ignored;
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  DocumentCollector collector(language, options, stats);
  std::string chapter;  // empty until the first chapter title: front matter is skipped
  const auto blank_at = [&](size_t i) { return i >= lines.size() || IsBlankLine(lines[i]); };
  for (size_t i = 0; i < lines.size();) {
    const absl::string_view line = lines[i];
    const bool heading_position = StartsAtColumnZero(line) && (i == 0 || blank_at(i - 1));
    if (heading_position && blank_at(i + 1)) {
      if (std::optional<ChapterTitle> title = ParseChapterTitle(line)) {
        chapter = title->key;
        collector.Start(chapter, title->title);
        ++i;
        continue;
      }
    }
    if (heading_position && !chapter.empty()) {
      if (auto section = ParseSectionNumber(line)) {
        // The title may wrap onto further column-0 lines (never a numbered one).
        size_t end = i + 1;
        std::vector<absl::string_view> title_lines = {section->second};
        while (end < lines.size() && !blank_at(end) && StartsAtColumnZero(lines[end]) &&
               !ParseSectionNumber(lines[end]).has_value() && title_lines.size() < kMaxHeadingLines) {
          title_lines.push_back(lines[end++]);
        }
        if (blank_at(end)) {
          collector.Start(absl::StrCat(chapter, "/", section->first), JoinWrappedLines(title_lines));
          i = end;
          continue;
        }
      }
    }
    if (StartsAtColumnZero(line) && IsSeparator(line)) {
      collector.Finish();  // what follows until the next heading is footnotes
      ++i;
      continue;
    }
    collector.AddLine(line);
    ++i;
  }
  collector.Finish();
  return collector.TakeDocuments();
}

absl::StatusOr<std::vector<Document>> LoadDebianReference(const DebianReferenceOptions& options,
                                                          DocumentSourceStats* stats) {
  DocumentSourceStats ignored;
  if (stats == nullptr) stats = &ignored;
  std::vector<Document> documents;
  for (Language language : options.languages) {
    const std::string path = DebianReferencePath(options.folder, language);
    absl::StatusOr<std::string> text = ReadGzipFile(path);
    if (absl::IsNotFound(text.status())) {
      return absl::NotFoundError(absl::StrCat(path, " not found: install the Debian package debian-reference-",
                                              LanguageCode(language), " or set the Debian Reference folder"));
    }
    if (!text.ok()) return text.status();
    std::vector<Document> part = SplitDebianReferenceText(*text, language, options, stats);
    if (part.empty()) {
      return absl::DataLossError(absl::StrCat(path, ": no sections found"));
    }
    for (Document& document : part) documents.push_back(std::move(document));
  }
  return documents;
}

}  // namespace expsvc::lm
