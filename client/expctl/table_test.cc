#include "client/expctl/table.h"

#include <gtest/gtest.h>

namespace expsvc::expctl {
namespace {

TEST(TableTest, AlignsColumnsAndTrimsTrailingSpaces) {
  Table table({{"ID", Align::kRight}, {"NAME"}, {"STATE"}});
  table.AddRow({"7", "demo", "running"});
  table.AddRow({"12", "a-longer-name", "ok"});
  EXPECT_EQ(table.Render(120),
            "ID  NAME           STATE\n"
            " 7  demo           running\n"
            "12  a-longer-name  ok\n");
}

TEST(TableTest, MissingCellsAreBlank) {
  Table table({{"A"}, {"B"}});
  table.AddRow({"x"});
  EXPECT_EQ(table.Render(120), "A  B\nx\n");
}

TEST(TableTest, ShrinksFreeTextColumnsToFitWithEllipsis) {
  Table table({{"ID", Align::kRight}, {"PARAMS", Align::kLeft, true}, {"STATE"}});
  table.AddRow({"1", "lr=0.1 seed=1 model=tiny-transformer", "failed"});
  std::string rendered = table.Render(30);
  // 2 + 2 + 16 + 2 + 6 = 28... every line fits in 30 columns.
  for (absl::string_view line : {rendered.substr(0, rendered.find('\n'))}) {
    EXPECT_LE(DisplayWidth(line), 30);
  }
  EXPECT_NE(rendered.find("…"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("failed"), std::string::npos) << "fixed columns are never cut";
  size_t start = 0;
  while (start < rendered.size()) {
    size_t end = rendered.find('\n', start);
    EXPECT_LE(DisplayWidth(rendered.substr(start, end - start)), 30) << rendered;
    start = end + 1;
  }
}

TEST(TableTest, ShrinksTheWidestShrinkableColumnFirst) {
  Table table({{"A", Align::kLeft, true}, {"B", Align::kLeft, true}});
  table.AddRow({"short", std::string(40, 'x')});
  std::string rendered = table.Render(30);
  EXPECT_NE(rendered.find("short"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("…"), std::string::npos);
}

TEST(TableTest, CellsStayOnOneLine) {
  Table table({{"ERROR"}});
  table.AddRow({"line one\nline two\ttabbed"});
  EXPECT_EQ(table.Render(120), "ERROR\nline one line two tabbed\n");
}

TEST(TruncateTest, CutsByCodePoints) {
  EXPECT_EQ(TruncateToWidth("abcdef", 10), "abcdef");
  EXPECT_EQ(TruncateToWidth("abcdef", 6), "abcdef");
  EXPECT_EQ(TruncateToWidth("abcdef", 4), "abc…");
  EXPECT_EQ(TruncateToWidth("abcdef", 1), "…");
  EXPECT_EQ(TruncateToWidth("abcdef", 0), "");
  // "é" is two bytes but one column; a cut never splits it.
  EXPECT_EQ(TruncateToWidth("ééééé", 3), "éé…");
  EXPECT_EQ(DisplayWidth("éé…"), 3);
}

TEST(CsvTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvQuote("plain"), "plain");
  EXPECT_EQ(CsvQuote(""), "");
  EXPECT_EQ(CsvQuote("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvQuote("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvQuote("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvQuote(" padded"), "\" padded\"");
}

TEST(CsvTest, RendersHeaderAndRows) {
  Table table({{"job_id"}, {"params"}, {"loss"}});
  table.AddRow({"1", "lr=0.1, seed=2", "0.5"});
  table.AddRow({"2", "", ""});
  EXPECT_EQ(table.RenderCsv(),
            "job_id,params,loss\n"
            "1,\"lr=0.1, seed=2\",0.5\n"
            "2,,\n");
}

}  // namespace
}  // namespace expsvc::expctl
