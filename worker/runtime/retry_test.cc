#include "worker/runtime/retry.h"

#include "gtest/gtest.h"

namespace expsvc::worker {
namespace {

TEST(BackoffTest, DoublesFrom100MsUpTo5s) {
  Backoff backoff;
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(100));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(400));
  for (int i = 0; i < 10; ++i) backoff.Next();
  EXPECT_EQ(backoff.Next(), absl::Seconds(5));
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(100));
}

TEST(RetryTransientTest, RetriesUnavailableUntilSuccess) {
  int calls = 0;
  absl::Status status = RetryTransient(
      "test", [&] { return ++calls < 3 ? absl::UnavailableError("down") : absl::OkStatus(); }, [] { return false; });
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(calls, 3);
}

TEST(RetryTransientTest, DoesNotRetryOtherErrors) {
  int calls = 0;
  absl::Status status = RetryTransient(
      "test",
      [&] {
        ++calls;
        return absl::FailedPreconditionError("stale epoch");
      },
      [] { return false; });
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(calls, 1);
}

TEST(RetryTransientTest, GivesUpWhenAsked) {
  int calls = 0;
  absl::Status status = RetryTransient(
      "test",
      [&] {
        ++calls;
        return absl::UnavailableError("down");
      },
      [&] { return calls >= 2; });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace expsvc::worker
