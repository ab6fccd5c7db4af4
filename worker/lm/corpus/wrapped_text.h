#pragma once
// Turns hard-wrapped plain text (the Debian Reference's .txt, text folders)
// into one-line paragraphs: paragraphs are separated by blank lines; within
// one, the lines are trimmed and joined with a space, except between two
// CJK characters, where the wrap fell inside a word ("シス" + "テム") and no
// space belongs. No-break spaces count as spaces and become ordinary ones.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace expsvc::lm {

// Only spaces, tabs and no-break spaces.
bool IsBlankLine(absl::string_view line);

// Runs of non-blank lines, in order.
std::vector<std::vector<absl::string_view>> SplitIntoParagraphs(const std::vector<absl::string_view>& lines);

// The lines of one paragraph as one line (see above); empty when all blank.
std::string JoinWrappedLines(const std::vector<absl::string_view>& lines);

// Han, kana and the CJK punctuation and full-width forms.
bool IsCjkCharacter(char32_t code_point);

// Any hiragana, katakana or Han character.
bool HasJapaneseCharacter(absl::string_view text);

// English prose left untranslated in a Japanese text: no Japanese character,
// at least 40 ASCII letters and at least 70% of its bytes ASCII letters or
// spaces, and not a shell example (starting "$ " or "# "). Other commands and
// paths are mostly kept too: they are short or symbol-rich.
bool LooksLikeUntranslatedEnglish(absl::string_view paragraph);

}  // namespace expsvc::lm
