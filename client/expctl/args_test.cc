#include "client/expctl/args.h"

#include <gtest/gtest.h>

#include "client/expctl/exit_codes.h"

namespace expsvc::expctl {
namespace {

std::vector<FlagSpec> TestFlags() {
  return {{.name = "sweep", .takes_value = true, .value_name = "ID", .help = "the sweep"},
          {.name = "param", .takes_value = true, .repeatable = true, .value_name = "k=v"},
          {.name = "dry-run", .help = "local only"},
          {.name = "output", .short_name = 'o', .takes_value = true, .value_name = "PATH"},
          {.name = "help", .short_name = 'h'}};
}

TEST(ParseArgsTest, AcceptsSpaceAndEqualsForms) {
  auto spaced = ParseArgs({"--sweep", "12"}, TestFlags());
  ASSERT_TRUE(spaced.ok()) << spaced.status();
  EXPECT_EQ(spaced->Value("sweep"), "12");

  auto equals = ParseArgs({"--sweep=12"}, TestFlags());
  ASSERT_TRUE(equals.ok()) << equals.status();
  EXPECT_EQ(equals->Value("sweep"), "12");

  // An '=' inside the value stays in the value.
  auto nested = ParseArgs({"--param=lr=0.1"}, TestFlags());
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->Value("param"), "lr=0.1");
}

TEST(ParseArgsTest, ShortFlagsTakeSeparateOrAttachedValues) {
  auto separate = ParseArgs({"-o", "out.bin"}, TestFlags());
  ASSERT_TRUE(separate.ok());
  EXPECT_EQ(separate->Value("output"), "out.bin");
  auto attached = ParseArgs({"-oout.bin"}, TestFlags());
  ASSERT_TRUE(attached.ok());
  EXPECT_EQ(attached->Value("output"), "out.bin");
}

TEST(ParseArgsTest, SeparatesPositionalsFromFlags) {
  auto args = ParseArgs({"sweep.yaml", "--dry-run", "extra", "--", "--not-a-flag", "-"}, TestFlags());
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_TRUE(args->Has("dry-run"));
  EXPECT_FALSE(args->Has("sweep"));
  EXPECT_EQ(args->positionals(), (std::vector<std::string>{"sweep.yaml", "extra", "--not-a-flag", "-"}));
}

TEST(ParseArgsTest, RepeatableFlagsKeepEveryValueInOrder) {
  auto args = ParseArgs({"--param", "a=1", "--param=b=x"}, TestFlags());
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->Values("param"), (std::vector<std::string>{"a=1", "b=x"}));
}

TEST(ParseArgsTest, LastValueWinsForPlainFlags) {
  auto args = ParseArgs({"--sweep", "1", "--sweep", "2"}, TestFlags());
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->Value("sweep"), "2");
}

TEST(ParseArgsTest, ValueMayLookLikeAFlag) {
  auto args = ParseArgs({"--sweep", "-3"}, TestFlags());
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->Value("sweep"), "-3");
}

TEST(ParseArgsTest, UnknownFlagIsAUsageErrorNamingIt) {
  auto args = ParseArgs({"--swep", "1"}, TestFlags());
  ASSERT_FALSE(args.ok());
  EXPECT_TRUE(IsUsageError(args.status()));
  EXPECT_EQ(ExitCodeFor(args.status()), kExitUsage);
  EXPECT_NE(args.status().message().find("'--swep'"), std::string::npos) << args.status();

  auto with_value = ParseArgs({"--swep=1"}, TestFlags());
  ASSERT_FALSE(with_value.ok());
  EXPECT_NE(with_value.status().message().find("'--swep'"), std::string::npos);

  auto short_flag = ParseArgs({"-x"}, TestFlags());
  ASSERT_FALSE(short_flag.ok());
  EXPECT_NE(short_flag.status().message().find("'-x'"), std::string::npos);
}

TEST(ParseArgsTest, MissingValueIsAUsageError) {
  auto args = ParseArgs({"file.yaml", "--sweep"}, TestFlags());
  ASSERT_FALSE(args.ok());
  EXPECT_TRUE(IsUsageError(args.status()));
  EXPECT_NE(args.status().message().find("needs a value"), std::string::npos) << args.status();
}

TEST(ParseArgsTest, BooleanFlagRefusesAValue) {
  auto args = ParseArgs({"--dry-run=yes"}, TestFlags());
  ASSERT_FALSE(args.ok());
  EXPECT_TRUE(IsUsageError(args.status()));
  EXPECT_NE(args.status().message().find("takes no value"), std::string::npos);
}

TEST(ParseArgsTest, EmptyValueIsAllowedWithEquals) {
  auto args = ParseArgs({"--sweep="}, TestFlags());
  ASSERT_TRUE(args.ok());
  EXPECT_TRUE(args->Has("sweep"));
  EXPECT_EQ(args->Value("sweep"), "");
}

TEST(ParsedArgsTest, TypedValues) {
  auto args = ParseArgs({"--sweep", "12", "--output", "abc"}, TestFlags());
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(*args->IntValueOr("sweep", 0), 12);
  EXPECT_EQ(*args->IntValueOr("param", 7), 7);  // absent: the fallback
  auto bad = args->IntValueOr("output", 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(IsUsageError(bad.status()));
  EXPECT_NE(bad.status().message().find("--output"), std::string::npos);
}

TEST(CheckPositionalsTest, CountsAgainstTheSpec) {
  CommandSpec spec{.name = "status", .synopsis = "status SWEEP", .min_positionals = 1, .max_positionals = 1};
  auto none = ParseArgs({}, TestFlags());
  ASSERT_TRUE(none.ok());
  absl::Status missing = CheckPositionals(*none, spec);
  EXPECT_TRUE(IsUsageError(missing));
  EXPECT_EQ(missing.message(), "'status' is missing SWEEP");

  auto two = ParseArgs({"1", "2"}, TestFlags());
  ASSERT_TRUE(two.ok());
  absl::Status extra = CheckPositionals(*two, spec);
  EXPECT_TRUE(IsUsageError(extra));
  EXPECT_NE(extra.message().find("'2'"), std::string::npos);

  auto one = ParseArgs({"1"}, TestFlags());
  EXPECT_TRUE(CheckPositionals(*one, spec).ok());
}

TEST(ParseIdTest, AcceptsPositiveIntegersOnly) {
  EXPECT_EQ(*ParseId("42", "sweep id"), 42);
  for (const char* bad : {"0", "-1", "abc", "1.5", ""}) {
    auto id = ParseId(bad, "sweep id");
    ASSERT_FALSE(id.ok()) << bad;
    EXPECT_TRUE(IsUsageError(id.status()));
  }
}

TEST(WantsHelpTest, StopsAtDoubleDash) {
  EXPECT_TRUE(WantsHelp({"x", "-h"}));
  EXPECT_TRUE(WantsHelp({"--help"}));
  EXPECT_FALSE(WantsHelp({"--", "-h"}));
  EXPECT_FALSE(WantsHelp({"x"}));
}

TEST(FormatUsageTest, ListsSynopsisAndFlags) {
  CommandSpec spec{.name = "ls jobs", .summary = "List jobs.", .synopsis = "ls jobs --sweep ID", .flags = TestFlags()};
  std::string usage =
      FormatUsage(spec, {{.name = "addr", .takes_value = true, .value_name = "HOST:PORT", .help = "address"}});
  EXPECT_NE(usage.find("usage: expctl ls jobs --sweep ID"), std::string::npos) << usage;
  EXPECT_NE(usage.find("--sweep ID"), std::string::npos);
  EXPECT_NE(usage.find("-o, --output PATH"), std::string::npos) << usage;
  EXPECT_NE(usage.find("(repeatable)"), std::string::npos);
  EXPECT_NE(usage.find("global flags"), std::string::npos);
  EXPECT_NE(usage.find("--addr HOST:PORT"), std::string::npos);
}

}  // namespace
}  // namespace expsvc::expctl
