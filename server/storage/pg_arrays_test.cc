#include "server/storage/pg_arrays.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace expsvc::storage {
namespace {

TEST(PgArraysTest, TextIsQuotedAndEscaped) {
  EXPECT_EQ(TextArrayLiteral({}), "{}");
  EXPECT_EQ(TextArrayLiteral({"a", "b\"c", "d\\e", "x,y"}), R"({"a","b\"c","d\\e","x,y"})");
  EXPECT_EQ(TextArrayLiteral({"a", ""}, /*empty_as_null=*/true), R"({"a",NULL})");
  EXPECT_EQ(TextArrayLiteral({std::string("a\0b", 3)}), R"({"ab"})");
}

TEST(PgArraysTest, NumbersKeepSpecialValues) {
  EXPECT_EQ(IntArrayLiteral({1, -2, 3}), "{1,-2,3}");
  EXPECT_EQ(DoubleArrayLiteral(
                {0.5, std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}),
            "{0.5,NaN,Infinity,-Infinity}");
}

TEST(PgArraysTest, ParsesIntegerArrays) {
  EXPECT_EQ(ParseIntArray("{}"), std::vector<int64_t>{});
  EXPECT_EQ(ParseIntArray("{1,22,-3}"), (std::vector<int64_t>{1, 22, -3}));
}

}  // namespace
}  // namespace expsvc::storage
