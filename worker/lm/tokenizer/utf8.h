#pragma once
// The few UTF-8 operations tokenization needs. Validity follows RFC 3629 (no
// overlong forms, no surrogates, nothing past U+10FFFF), which is also what
// SentencePiece accepts; anything else is treated one byte at a time.

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace expsvc::lm {

inline constexpr absl::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// Length in bytes of the valid UTF-8 character starting at `text[pos]`, or 0
// when the bytes there do not form one. `pos` must be < text.size().
size_t Utf8CharLength(absl::string_view text, size_t pos);

// The code point of the valid character of `length` bytes at `text[pos]`.
char32_t DecodeUtf8Char(absl::string_view text, size_t pos, size_t length);

void AppendUtf8(char32_t code_point, std::string* out);

bool IsValidUtf8(absl::string_view text);

// Unicode White_Space (what Rust's char::is_whitespace, and so the Hugging
// Face Strip normaliser, removes).
bool IsUnicodeWhitespace(char32_t code_point);

// Every byte that does not start a valid character becomes U+FFFD, one per
// byte: SentencePiece's normaliser does the same before encoding.
std::string ReplaceInvalidUtf8(absl::string_view text);

}  // namespace expsvc::lm
