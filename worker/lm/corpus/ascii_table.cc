#include "worker/lm/corpus/ascii_table.h"

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "worker/lm/corpus/wrapped_text.h"

namespace expsvc::lm {
namespace {

absl::string_view SkipIndentation(absl::string_view line) {
  while (true) {
    if (absl::StartsWith(line, " ") || absl::StartsWith(line, "\t")) {
      line.remove_prefix(1);
    } else if (absl::StartsWith(line, "\xC2\xA0")) {
      line.remove_prefix(2);
    } else {
      return line;
    }
  }
}

bool IsBorder(absl::string_view text) {
  return absl::StartsWith(text, "+-") || absl::StartsWith(text, "|-");
}

// A cell worth keeping has a letter: ASCII or any non-ASCII character
// (kana, kanji, arrows in "AWK→PERL"), once popcon's "V:" and "I:" are gone.
bool HasWords(absl::string_view cell) {
  for (size_t i = 0; i < cell.size(); ++i) {
    const char c = cell[i];
    if ((c == 'V' || c == 'I') && i + 1 < cell.size() && cell[i + 1] == ':') {
      ++i;
      continue;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (static_cast<unsigned char>(c) >= 0x80)) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool IsAsciiTable(const std::vector<absl::string_view>& lines) {
  size_t table_lines = 0;
  for (absl::string_view line : lines) {
    const absl::string_view text = SkipIndentation(line);
    if (IsBorder(text) || absl::StartsWith(text, "|")) ++table_lines;
  }
  return !lines.empty() && table_lines * 2 >= lines.size();
}

AsciiTableText ReadAsciiTable(const std::vector<absl::string_view>& lines) {
  AsciiTableText table;
  size_t columns = 0;                                 // from the first row
  std::vector<std::vector<absl::string_view>> cells;  // fragments per column
  bool broken = false;
  const auto end_row = [&] {
    if (broken) {
      ++table.unreadable_rows;
    } else if (!cells.empty()) {
      std::vector<std::string> kept;
      for (const std::vector<absl::string_view>& fragments : cells) {
        std::string cell = JoinWrappedLines(fragments);
        if (HasWords(cell)) kept.push_back(std::move(cell));
      }
      std::string row = absl::StrJoin(kept, " ");
      if (!row.empty()) table.rows.push_back(std::move(row));
    }
    cells.clear();
    broken = false;
  };
  for (absl::string_view line : lines) {
    absl::string_view text = absl::StripTrailingAsciiWhitespace(SkipIndentation(line));
    if (IsBorder(text)) {
      end_row();
      continue;
    }
    if (!absl::StartsWith(text, "|") || !absl::EndsWith(text, "|") || text.size() < 2) {
      broken = true;  // a line of something else inside the table
      continue;
    }
    text = text.substr(1, text.size() - 2);
    // A '|' inside a cell ("ls | less") shifts the count and makes the row
    // unreadable rather than wrong.
    const std::vector<absl::string_view> parts = absl::StrSplit(text, '|');
    if (columns == 0) columns = parts.size();
    if (parts.size() != columns) {
      broken = true;
      continue;
    }
    cells.resize(columns);
    for (size_t c = 0; c < columns; ++c) cells[c].push_back(parts[c]);
  }
  end_row();
  return table;
}

}  // namespace expsvc::lm
