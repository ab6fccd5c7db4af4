#include "worker/lm/corpus/ascii_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace expsvc::lm {
namespace {

using ::testing::ElementsAre;

TEST(AsciiTableTest, RowsBecomeLinesWithoutNumericCells) {
  const std::vector<absl::string_view> lines = {
      "    +---------------------------------------------------------------+",
      "    |パッケー |ポプコ|サイ |                  説明                  |",
      "    |   ジ    |  ン  | ズ  |                                        |",
      "    |---------+------+-----+----------------------------------------|",
      "    |mc       |V:54, |1482 |テキストモードの全画面ファイルマネージャ|",
      "    |         |I:226 |     |ー                                      |",
      "    |---------+------+-----+----------------------------------------|",
      "    |perl     |V:644,|669  |convert source codes from AWK to       |",
      "    |         |I:990 |     |PERL: a2p(1)                           |",
      "    +---------------------------------------------------------------+"};
  ASSERT_TRUE(IsAsciiTable(lines));
  AsciiTableText table = ReadAsciiTable(lines);
  EXPECT_THAT(table.rows,
              ElementsAre("パッケージ ポプコン サイズ 説明", "mc テキストモードの全画面ファイルマネージャー",
                          "perl convert source codes from AWK to PERL: a2p(1)"));
  EXPECT_EQ(table.unreadable_rows, 0);
}

TEST(AsciiTableTest, RowsWithAStrayBarAreDroppedNotMangled) {
  const std::vector<absl::string_view> lines = {
      "+--------------------+", "|cmd     |meaning    |", "|--------+-----------|", "|ls | less|page it   |",
      "|--------+-----------|", "|cat     |print it   |", "+--------------------+"};
  AsciiTableText table = ReadAsciiTable(lines);
  EXPECT_THAT(table.rows, ElementsAre("cmd meaning", "cat print it"));
  EXPECT_EQ(table.unreadable_rows, 1);
}

TEST(AsciiTableTest, ProseIsNotATable) {
  EXPECT_FALSE(IsAsciiTable({"    The | character pipes output.", "    It is common."}));
  EXPECT_FALSE(IsAsciiTable({}));
}

}  // namespace
}  // namespace expsvc::lm
