#pragma once
// Aligned text tables that fit the terminal, and CSV. Widths count UTF-8
// code points, so "…" is one column.

#include <string>
#include <vector>
#include "absl/strings/string_view.h"

namespace expsvc::expctl {

enum class Align { kLeft, kRight };

struct TableColumn {
  std::string header;
  Align align = Align::kLeft;
  // Columns that may shrink (with "…") when the table is wider than the
  // terminal: free text such as params or errors. Fixed columns keep their
  // width so ids and counts are never cut.
  bool shrinkable = false;
};

class Table {
 public:
  explicit Table(std::vector<TableColumn> columns);

  // Missing trailing cells are blank; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t row_count() const { return rows_.size(); }

  // Columns separated by two spaces, headers first, no trailing spaces.
  // When wider than `max_width`, shrinkable columns are narrowed (widest
  // first, never below their header), then any cell still too wide is cut.
  std::string Render(int max_width) const;

  // RFC 4180 quoting: header line then one line per row, cells quoted when
  // needed. Lines end in "\n" rather than CRLF, for Unix tools.
  std::string RenderCsv() const;

 private:
  std::vector<TableColumn> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Number of terminal columns `text` takes (UTF-8 code points; control
// characters count as one).
int DisplayWidth(absl::string_view text);

// `text` cut to at most `width` columns, ending in "…" when cut. Newlines
// and tabs become spaces so a cell stays on one line.
std::string TruncateToWidth(absl::string_view text, int width);

// Quotes a CSV cell when it holds a comma, quote, CR or LF (or leading or
// trailing spaces); quotes inside are doubled.
std::string CsvQuote(absl::string_view cell);

// The width to render for: the terminal's when stdout is a TTY, else
// kNonTerminalWidth.
inline constexpr int kNonTerminalWidth = 120;
int OutputWidth();
bool StdoutIsTerminal();

}  // namespace expsvc::expctl
