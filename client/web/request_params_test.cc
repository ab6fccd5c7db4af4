#include "client/web/request_params.h"

#include <gtest/gtest.h>

namespace expsvc::web {
namespace {

TEST(RequestParamsTest, IdsArePositiveIntegers) {
  EXPECT_EQ(*ParseId("42", "sweep id"), 42);
  for (const char* bad : {"0", "-1", "abc", "", "4x", "99999999999999999999"}) {
    auto id = ParseId(bad, "sweep id");
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(id.status().message().find("sweep id"), std::string_view::npos);
  }
}

TEST(RequestParamsTest, IntegersChoicesAndLists) {
  EXPECT_EQ(*IntParam(std::nullopt, "limit", 7, 1, 10), 7);
  EXPECT_EQ(*IntParam("10", "limit", 7, 1, 10), 10);
  auto too_big = IntParam("11", "limit", 7, 1, 10);
  EXPECT_EQ(too_big.status().message(), "query parameter 'limit': expected an integer from 1 to 10, got '11'");
  EXPECT_EQ(*ChoiceParam(std::nullopt, "agg", {"last", "min"}, "last"), "last");
  EXPECT_EQ(ChoiceParam("median", "agg", {"last", "min"}, "last").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ListParam("a,,b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(ListParam(std::nullopt).empty());
}

}  // namespace
}  // namespace expsvc::web
