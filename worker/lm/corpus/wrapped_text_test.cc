#include "worker/lm/corpus/wrapped_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace expsvc::lm {
namespace {

using ::testing::ElementsAre;

TEST(WrappedTextTest, JoinsEnglishWithSpacesAndJapaneseWithout) {
  EXPECT_EQ(JoinWrappedLines({"    The shell reads", "    commands.  "}), "The shell reads commands.");
  EXPECT_EQ(JoinWrappedLines({"    基本的なシス", "    テムです。"}), "基本的なシステムです。");
  // ASCII on either side of the break keeps the space.
  EXPECT_EQ(JoinWrappedLines({"Debian の", "apt コマンド"}), "Debian の apt コマンド");
  EXPECT_EQ(JoinWrappedLines({"使う apt-get", "コマンド"}), "使う apt-get コマンド");
}

TEST(WrappedTextTest, NoBreakSpacesAreIndentationOrSpaces) {
  EXPECT_EQ(JoinWrappedLines({"\xC2\xA0 \xC2\xA0 \xC2\xA0  Section\xC2\xA0"
                              "1.1.6, the end"}),
            "Section 1.1.6, the end");
  EXPECT_TRUE(IsBlankLine("  \xC2\xA0 \t"));
  EXPECT_FALSE(IsBlankLine("  x"));
}

TEST(WrappedTextTest, SplitsParagraphsAtBlankLines) {
  std::vector<std::vector<absl::string_view>> paragraphs = SplitIntoParagraphs({"", "a", "b", "   ", "c", "", ""});
  ASSERT_EQ(paragraphs.size(), 2u);
  EXPECT_THAT(paragraphs[0], ElementsAre("a", "b"));
  EXPECT_THAT(paragraphs[1], ElementsAre("c"));
}

TEST(WrappedTextTest, RecognisesUntranslatedEnglish) {
  EXPECT_TRUE(LooksLikeUntranslatedEnglish(
      "If you wish to try a new Debian environment from a terminal console, I recommend chroot."));
  EXPECT_FALSE(LooksLikeUntranslatedEnglish(
      "If you wish to try a new Debian environment から始めます and more English words here."));
  EXPECT_FALSE(LooksLikeUntranslatedEnglish("$ sudo apt-get install debian-reference-en debian-reference-ja"));
  EXPECT_FALSE(LooksLikeUntranslatedEnglish("# apt-get update ... # apt-get install mc vim sudo aptitude"));
  EXPECT_FALSE(LooksLikeUntranslatedEnglish("ls -l"));
  EXPECT_FALSE(LooksLikeUntranslatedEnglish("/etc/apt/sources.list.d/*.list /var/lib/dpkg/status 0 1 2"));
}

TEST(WrappedTextTest, CharacterClasses) {
  EXPECT_TRUE(HasJapaneseCharacter("abc か"));
  EXPECT_TRUE(HasJapaneseCharacter("漢"));
  EXPECT_FALSE(HasJapaneseCharacter("abc ─ ¥"));
  EXPECT_TRUE(IsCjkCharacter(U'。'));
  EXPECT_TRUE(IsCjkCharacter(U'Ａ'));
  EXPECT_FALSE(IsCjkCharacter(U'a'));
}

}  // namespace
}  // namespace expsvc::lm
