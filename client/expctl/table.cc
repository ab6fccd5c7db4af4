#include "client/expctl/table.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace expsvc::expctl {
namespace {

constexpr absl::string_view kEllipsis = "…";
constexpr int kColumnGap = 2;

bool IsContinuationByte(unsigned char byte) {
  return (byte & 0xC0) == 0x80;
}

// Cells are single-line: newlines and tabs would break the alignment.
std::string FlattenWhitespace(absl::string_view text) {
  std::string flat(text);
  for (char& c : flat) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return flat;
}

std::string Pad(absl::string_view cell, int width, Align align) {
  int fill = std::max(0, width - DisplayWidth(cell));
  if (align == Align::kRight) return absl::StrCat(std::string(fill, ' '), cell);
  return absl::StrCat(cell, std::string(fill, ' '));
}

}  // namespace

int DisplayWidth(absl::string_view text) {
  int width = 0;
  for (char c : text) {
    if (!IsContinuationByte(static_cast<unsigned char>(c))) ++width;
  }
  return width;
}

std::string TruncateToWidth(absl::string_view text, int width) {
  std::string flat = FlattenWhitespace(text);
  if (DisplayWidth(flat) <= width) return flat;
  if (width <= 0) return "";
  // Keep width-1 code points, then the ellipsis.
  int kept = 0;
  size_t cut = 0;
  while (cut < flat.size()) {
    if (!IsContinuationByte(static_cast<unsigned char>(flat[cut]))) {
      if (kept == width - 1) break;
      ++kept;
    }
    ++cut;
  }
  return absl::StrCat(flat.substr(0, cut), kEllipsis);
}

Table::Table(std::vector<TableColumn> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  for (std::string& cell : cells) cell = FlattenWhitespace(cell);
  rows_.push_back(std::move(cells));
}

std::string Table::Render(int max_width) const {
  const size_t column_count = columns_.size();
  if (column_count == 0) return "";
  std::vector<int> widths(column_count);
  for (size_t c = 0; c < column_count; ++c) {
    widths[c] = DisplayWidth(columns_[c].header);
    for (const auto& row : rows_) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  }
  auto total_width = [&] {
    return std::accumulate(widths.begin(), widths.end(), 0) + kColumnGap * static_cast<int>(column_count - 1);
  };
  // Narrow the widest shrinkable column one step at a time, so several
  // free-text columns share the cut instead of one losing everything.
  while (total_width() > max_width) {
    int widest = -1;
    for (size_t c = 0; c < column_count; ++c) {
      if (!columns_[c].shrinkable) continue;
      int floor = std::max(DisplayWidth(columns_[c].header), 4);
      if (widths[c] <= floor) continue;
      if (widest < 0 || widths[c] > widths[widest]) widest = static_cast<int>(c);
    }
    if (widest < 0) break;  // nothing left to shrink: let the terminal wrap
    --widths[widest];
  }

  std::string out;
  auto append_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < column_count; ++c) {
      if (c > 0) line.append(kColumnGap, ' ');
      line += Pad(TruncateToWidth(cells[c], widths[c]), widths[c], columns_[c].align);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  };
  std::vector<std::string> headers;
  for (const TableColumn& column : columns_) headers.push_back(column.header);
  append_line(headers);
  for (const auto& row : rows_) append_line(row);
  return out;
}

std::string CsvQuote(absl::string_view cell) {
  bool needs_quotes = cell.find_first_of(",\"\r\n") != absl::string_view::npos ||
                      (!cell.empty() && (cell.front() == ' ' || cell.back() == ' '));
  if (!needs_quotes) return std::string(cell);
  std::string quoted = "\"";
  for (char c : cell) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

std::string Table::RenderCsv() const {
  std::string out;
  auto append_line = [&out](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) out.push_back(',');
      out += CsvQuote(cells[c]);
    }
    out += "\n";
  };
  std::vector<std::string> headers;
  for (const TableColumn& column : columns_) headers.push_back(column.header);
  append_line(headers);
  for (const auto& row : rows_) append_line(row);
  return out;
}

bool StdoutIsTerminal() {
  return isatty(STDOUT_FILENO) == 1;
}

int OutputWidth() {
  if (!StdoutIsTerminal()) return kNonTerminalWidth;
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return kNonTerminalWidth;
}

}  // namespace expsvc::expctl
