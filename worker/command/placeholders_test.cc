#include "worker/command/placeholders.h"

#include <gtest/gtest.h>

namespace expsvc::worker {
namespace {

const nlohmann::json kParams = {{"lr", 0.01}, {"layers", 4}, {"name", "attn"}, {"flag", true},
                                {"dims", {1, 2}}};

TEST(PlaceholdersTest, ReplacesEachKindOfValue) {
  EXPECT_EQ(*SubstitutePlaceholders("--lr={lr}", kParams), "--lr=0.01");
  EXPECT_EQ(*SubstitutePlaceholders("{layers}", kParams), "4");
  EXPECT_EQ(*SubstitutePlaceholders("run-{name}-{layers}", kParams), "run-attn-4");
  EXPECT_EQ(*SubstitutePlaceholders("{flag}", kParams), "true");
  EXPECT_EQ(*SubstitutePlaceholders("{dims}", kParams), "[1,2]");
  EXPECT_EQ(*SubstitutePlaceholders("plain", kParams), "plain");
}

TEST(PlaceholdersTest, DoubledBracesAreLiteral) {
  EXPECT_EQ(*SubstitutePlaceholders("{{\"lr\": {lr}}}", kParams), "{\"lr\": 0.01}");
}

TEST(PlaceholdersTest, ErrorsNameTheProblem) {
  auto unknown = SubstitutePlaceholders("--x={missing}", kParams);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("no parameter 'missing'"), std::string::npos);
  // Shell's ${HOME} looks like a placeholder: it must be written ${{HOME}}.
  EXPECT_EQ(SubstitutePlaceholders("${HOME}", kParams).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*SubstitutePlaceholders("${{HOME}}", kParams), "${HOME}");
}

TEST(PlaceholdersTest, BracesThatAreNotPlaceholdersStay) {
  EXPECT_EQ(*SubstitutePlaceholders(R"(echo '{"step": 1, "lr": {lr}}')", kParams), R"(echo '{"step": 1, "lr": 0.01}')");
  EXPECT_EQ(*SubstitutePlaceholders("{lr", kParams), "{lr");
  EXPECT_EQ(*SubstitutePlaceholders("lr}", kParams), "lr}");
  EXPECT_EQ(*SubstitutePlaceholders("{}", kParams), "{}");
  EXPECT_EQ(*SubstitutePlaceholders("${X:-1}", kParams), "${X:-1}");
}

}  // namespace
}  // namespace expsvc::worker
