#pragma once
// Reads the ASCII-art tables of the Debian Reference's plain text
//
//   +-----------------------------------+
//   |package |popcon|size|  description  |
//   |--------+------+----+---------------|
//   |mc      |V:54, |1482|text-mode file |
//   |        |I:226 |    |manager        |
//   +-----------------------------------+
//
// as one line of text per row: each cell's wrapped fragments are joined
// (wrapped_text.h), cells without a letter (sizes, popcon counts "V:54,
// I:226") are left out, and the remaining cells are joined with spaces:
// "mc text-mode file manager". About a third of the manual's text is in such
// tables (package lists with translated descriptions).

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace expsvc::lm {

// Whether most lines of the paragraph are table borders or rows.
bool IsAsciiTable(const std::vector<absl::string_view>& lines);

struct AsciiTableText {
  std::vector<std::string> rows;  // one line each; empty rows left out
  int unreadable_rows = 0;        // cell count differs from the first row's: dropped
};

// `lines` is a paragraph for which IsAsciiTable holds.
AsciiTableText ReadAsciiTable(const std::vector<absl::string_view>& lines);

}  // namespace expsvc::lm
