#include "worker/lm/corpus/wrapped_text.h"

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {
namespace {

constexpr absl::string_view kNoBreakSpace = "\xC2\xA0";

bool IsSpaceAt(absl::string_view text, size_t pos, size_t* length) {
  if (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\r') {
    *length = 1;
    return true;
  }
  if (text.substr(pos, 2) == kNoBreakSpace) {
    *length = 2;
    return true;
  }
  return false;
}

absl::string_view TrimSpaces(absl::string_view text) {
  size_t length = 0;
  while (!text.empty() && IsSpaceAt(text, 0, &length)) text.remove_prefix(length);
  while (!text.empty()) {
    if (text.back() == ' ' || text.back() == '\t' || text.back() == '\r') {
      text.remove_suffix(1);
    } else if (text.size() >= 2 && text.substr(text.size() - 2) == kNoBreakSpace) {
      text.remove_suffix(2);
    } else {
      break;
    }
  }
  return text;
}

// The first / last code point of non-empty valid-ish UTF-8 text (0 if not decodable).
char32_t FirstCharacter(absl::string_view text) {
  const size_t length = Utf8CharLength(text, 0);
  return length == 0 ? 0 : DecodeUtf8Char(text, 0, length);
}

char32_t LastCharacter(absl::string_view text) {
  size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  const size_t length = Utf8CharLength(text, start);
  return length == text.size() - start ? DecodeUtf8Char(text, start, length) : 0;
}

bool IsJapaneseCharacter(char32_t c) {
  return (c >= 0x3040 && c <= 0x30FF) ||  // hiragana, katakana
         (c >= 0x3400 && c <= 0x4DBF) ||  // Han extension A
         (c >= 0x4E00 && c <= 0x9FFF) ||  // Han
         (c >= 0xFF66 && c <= 0xFF9F);    // half-width katakana
}

}  // namespace

bool IsBlankLine(absl::string_view line) {
  return TrimSpaces(line).empty();
}

std::vector<std::vector<absl::string_view>> SplitIntoParagraphs(const std::vector<absl::string_view>& lines) {
  std::vector<std::vector<absl::string_view>> paragraphs;
  std::vector<absl::string_view> current;
  for (absl::string_view line : lines) {
    if (IsBlankLine(line)) {
      if (!current.empty()) paragraphs.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(line);
    }
  }
  if (!current.empty()) paragraphs.push_back(std::move(current));
  return paragraphs;
}

std::string JoinWrappedLines(const std::vector<absl::string_view>& lines) {
  std::string joined;
  for (absl::string_view raw : lines) {
    const absl::string_view line = TrimSpaces(raw);
    if (line.empty()) continue;
    if (!joined.empty() && !(IsCjkCharacter(LastCharacter(joined)) && IsCjkCharacter(FirstCharacter(line)))) {
      joined.push_back(' ');
    }
    joined.append(line.data(), line.size());
  }
  // No-break spaces inside a line are typesetting, not content.
  return absl::StrReplaceAll(joined, {{kNoBreakSpace, " "}});
}

bool IsCjkCharacter(char32_t c) {
  return (c >= 0x3000 && c <= 0x303F) ||  // CJK symbols and punctuation
         (c >= 0x3040 && c <= 0x30FF) ||  // kana
         (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xF900 && c <= 0xFAFF) ||  // compatibility ideographs
         (c >= 0xFF00 && c <= 0xFFEF) ||  // full-width and half-width forms
         (c >= 0x20000 && c <= 0x2FFFF);  // Han extensions B..
}

bool HasJapaneseCharacter(absl::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = Utf8CharLength(text, pos);
    if (length == 0) {
      ++pos;
      continue;
    }
    if (IsJapaneseCharacter(DecodeUtf8Char(text, pos, length))) return true;
    pos += length;
  }
  return false;
}

bool LooksLikeUntranslatedEnglish(absl::string_view paragraph) {
  if (paragraph.empty() || HasJapaneseCharacter(paragraph)) return false;
  // Shell examples ("$ ls", "# apt-get install ...") read the same in both editions.
  if (absl::StartsWith(paragraph, "$ ") || absl::StartsWith(paragraph, "# ")) return false;
  size_t letters = 0;
  size_t spaces = 0;
  for (char c : paragraph) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) ++letters;
    if (c == ' ') ++spaces;
  }
  return letters >= 40 && (letters + spaces) * 10 >= paragraph.size() * 7;
}

}  // namespace expsvc::lm
