#include "worker/lm/corpus/document.h"

#include "worker/lm/corpus/wrapped_text.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {

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
