#include "worker/lm/corpus/document.h"

#include "worker/lm/corpus/wrapped_text.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {

size_t CountCharacters(const Document& document) {
  size_t characters = 0;
  for (const std::string& paragraph : document.paragraphs) {
    for (char byte : paragraph) {
      // Count lead bytes only: every UTF-8 character has exactly one.
      if ((static_cast<unsigned char>(byte) & 0xC0) != 0x80) ++characters;
    }
  }
  return characters;
}

size_t DisplayWidth(const Document& document) {
  size_t width = 0;
  for (const std::string& paragraph : document.paragraphs) {
    for (size_t pos = 0; pos < paragraph.size();) {
      const size_t length = Utf8CharLength(paragraph, pos);
      if (length == 0) {
        ++width;
        ++pos;
        continue;
      }
      width += IsCjkCharacter(DecodeUtf8Char(paragraph, pos, length)) ? 2 : 1;
      pos += length;
    }
  }
  return width;
}

}  // namespace expsvc::lm
