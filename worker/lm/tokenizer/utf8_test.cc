#include "worker/lm/tokenizer/utf8.h"

#include <gtest/gtest.h>

namespace expsvc::lm {
namespace {

TEST(Utf8Test, CharLengthsOfValidCharacters) {
  EXPECT_EQ(Utf8CharLength("a", 0), 1u);
  EXPECT_EQ(Utf8CharLength("é", 0), 2u);
  EXPECT_EQ(Utf8CharLength("漢", 0), 3u);
  EXPECT_EQ(Utf8CharLength("😀", 0), 4u);
}

TEST(Utf8Test, RejectsMalformedSequences) {
  EXPECT_EQ(Utf8CharLength("\x80", 0), 0u);              // lone continuation
  EXPECT_EQ(Utf8CharLength("\xC0\xAF", 0), 0u);          // overlong
  EXPECT_EQ(Utf8CharLength("\xE6\xBC", 0), 0u);          // truncated
  EXPECT_EQ(Utf8CharLength("\xED\xA0\x80", 0), 0u);      // surrogate
  EXPECT_EQ(Utf8CharLength("\xF4\x90\x80\x80", 0), 0u);  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("ok \xff"));
  EXPECT_TRUE(IsValidUtf8("日本語 text"));
}

TEST(Utf8Test, ReplacesEachInvalidByteWithReplacementCharacter) {
  EXPECT_EQ(ReplaceInvalidUtf8("a\xff\xfe"
                               "b"),
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(ReplaceInvalidUtf8("\xE6\xBC"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ReplaceInvalidUtf8("fine"), "fine");
}

TEST(Utf8Test, DecodeAndAppendRoundTrip) {
  for (char32_t code_point : {U'a', U'é', U'漢', U'😀', U'\u2581'}) {
    std::string text;
    AppendUtf8(code_point, &text);
    ASSERT_EQ(Utf8CharLength(text, 0), text.size());
    EXPECT_EQ(DecodeUtf8Char(text, 0, text.size()), code_point);
  }
}

TEST(Utf8Test, WhitespaceClass) {
  EXPECT_TRUE(IsUnicodeWhitespace(U' '));
  EXPECT_TRUE(IsUnicodeWhitespace(U'\u3000'));  // ideographic space
  EXPECT_TRUE(IsUnicodeWhitespace(U'\u00A0'));
  EXPECT_FALSE(IsUnicodeWhitespace(U'\u2581'));  // ▁ is not whitespace
  EXPECT_FALSE(IsUnicodeWhitespace(U'a'));
}

}  // namespace
}  // namespace expsvc::lm
