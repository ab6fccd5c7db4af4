#include "client/expctl/params.h"

#include <gtest/gtest.h>

#include "client/expctl/exit_codes.h"

namespace expsvc::expctl {
namespace {

TEST(ParamValueTest, TypesNumbersBoolsAndStrings) {
  EXPECT_EQ(ParseParamValue("42"), nlohmann::json(42));
  EXPECT_TRUE(ParseParamValue("42").is_number_integer());
  EXPECT_EQ(ParseParamValue("-3"), nlohmann::json(-3));
  EXPECT_EQ(ParseParamValue("0.1"), nlohmann::json(0.1));
  EXPECT_TRUE(ParseParamValue("1e-3").is_number_float());
  EXPECT_EQ(ParseParamValue("true"), nlohmann::json(true));
  EXPECT_EQ(ParseParamValue("false"), nlohmann::json(false));
  EXPECT_TRUE(ParseParamValue("null").is_null());
  EXPECT_EQ(ParseParamValue("tiny"), nlohmann::json("tiny"));
  EXPECT_EQ(ParseParamValue(""), nlohmann::json(""));
  // Not valid JSON numbers: kept as text.
  EXPECT_EQ(ParseParamValue("01"), nlohmann::json("01"));
  EXPECT_EQ(ParseParamValue("1.2.3"), nlohmann::json("1.2.3"));
  EXPECT_EQ(ParseParamValue("True"), nlohmann::json("True"));
  // Quotes force a string; brackets make a list.
  EXPECT_EQ(ParseParamValue("\"1\""), nlohmann::json("1"));
  EXPECT_EQ(ParseParamValue("[1,2]"), nlohmann::json({1, 2}));
}

TEST(ParamFiltersTest, FoldsIntoOneObject) {
  auto filter = ParseParamFilters({"lr=0.01", "seed=3", "model=tiny", "wd=true"});
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_EQ(*filter, nlohmann::json({{"lr", 0.01}, {"seed", 3}, {"model", "tiny"}, {"wd", true}}));
  EXPECT_TRUE((*filter)["seed"].is_number_integer());
}

TEST(ParamFiltersTest, ValueMayContainEquals) {
  auto filter = ParseParamFilters({"expr=a=b"});
  ASSERT_TRUE(filter.ok());
  EXPECT_EQ((*filter)["expr"], "a=b");
}

TEST(ParamFiltersTest, RejectsMalformedWords) {
  for (const std::vector<std::string>& words :
       {std::vector<std::string>{"lr"}, std::vector<std::string>{"=1"}, std::vector<std::string>{"a=1", "a=2"}}) {
    auto filter = ParseParamFilters(words);
    ASSERT_FALSE(filter.ok()) << words[0];
    EXPECT_TRUE(IsUsageError(filter.status()));
  }
}

TEST(ParamFiltersTest, JsonIsEmptyWithoutFilters) {
  EXPECT_EQ(*ParamFilterJson({}), "");
  EXPECT_EQ(*ParamFilterJson({"seed=1"}), "{\"seed\":1}");
}

TEST(ParamsDisplayTest, InlineForm) {
  nlohmann::json params = {{"lr", 0.001}, {"seed", 1}, {"model", "tiny"}, {"dims", {1, 2}}};
  EXPECT_EQ(FormatParamsInline(params), "dims=[1,2] lr=0.001 model=tiny seed=1");
  EXPECT_EQ(FormatParamValue(nlohmann::json(1.0 / 3)), "0.333333");
}

TEST(ParamsDisplayTest, MalformedParamsJsonDoesNotFail) {
  EXPECT_EQ(ParseParamsJson(""), nlohmann::json::object());
  EXPECT_EQ(ParseParamsJson("{\"a\":1}"), nlohmann::json({{"a", 1}}));
  EXPECT_EQ(ParseParamsJson("not json")["_raw"], "not json");
  EXPECT_EQ(ParseParamsJson("[1]")["_raw"], "[1]");
}

}  // namespace
}  // namespace expsvc::expctl
