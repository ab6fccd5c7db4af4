#include "client/expctl/format.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "client/expctl/exit_codes.h"

namespace expsvc::expctl {
namespace {

TEST(FormatNumberTest, SixSignificantDigits) {
  EXPECT_EQ(FormatNumber(42), "42");
  EXPECT_EQ(FormatNumber(0.5), "0.5");
  EXPECT_EQ(FormatNumber(3.14159265), "3.14159");
  EXPECT_EQ(FormatNumber(0.000123456789), "0.000123457");
  EXPECT_EQ(FormatNumber(1234567.0), "1.23457e+06");
  EXPECT_EQ(FormatNumber(std::nan("")), "nan");
  EXPECT_EQ(FormatNumber(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(FormatNumberTest, ExactFormRoundTrips) {
  for (double value : {0.1, 1.0 / 3, 1e-300, 123456789.123, -2.5}) {
    std::string text = FormatNumberExact(value);
    EXPECT_EQ(std::stod(text), value) << text;
  }
  EXPECT_EQ(FormatNumberExact(0.1), "0.1");
}

TEST(FormatBytesTest, BinaryUnits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(200LL * 1024 * 1024), "200 MiB");
  EXPECT_EQ(FormatBytes(16LL * 1024 * 1024 * 1024), "16 GiB");
}

TEST(FormatDurationTest, CompactUnits) {
  EXPECT_EQ(FormatDuration(-5), "0s");
  EXPECT_EQ(FormatDuration(0.4), "0s");
  EXPECT_EQ(FormatDuration(7), "7s");
  EXPECT_EQ(FormatDuration(125), "2m05s");
  EXPECT_EQ(FormatDuration(3 * 3600 + 4 * 60 + 9), "3h04m");
  EXPECT_EQ(FormatDuration(2 * 86400 + 3 * 3600), "2d03h");
  EXPECT_EQ(FormatAgo(0, 1000), "-");
  EXPECT_EQ(FormatAgo(1000, 6000), "5s ago");
}

TEST(FormatTest, Plural) {
  EXPECT_EQ(Plural(1, "job"), "1 job");
  EXPECT_EQ(Plural(0, "job"), "0 jobs");
  EXPECT_EQ(Plural(3, "stage"), "3 stages");
}

TEST(ExitCodeTest, MapsStatusesToTheDocumentedCodes) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), kExitOk);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("sweep 9 not found")), kExitFailed);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("server said no")), kExitFailed);
  EXPECT_EQ(ExitCodeFor(UsageError("unknown flag")), kExitUsage);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("connection refused")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(WithExitCode(absl::DeadlineExceededError("x"), kExitUnavailable)), kExitUnavailable);
  EXPECT_EQ(DescribeFailure(absl::InvalidArgumentError("sweep.yaml:3:5: unknown kind 'trian'")),
            "INVALID_ARGUMENT: sweep.yaml:3:5: unknown kind 'trian'");
  EXPECT_EQ(DescribeFailure(UsageError("unknown flag '--x'")), "unknown flag '--x'");
}

}  // namespace
}  // namespace expsvc::expctl
