#include "worker/runtime/job_kind_registry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace expsvc::worker {
namespace {

absl::Status Succeed(JobContext&) {
  return absl::OkStatus();
}

TEST(JobKindRegistryTest, RegistersCatalogKindsAndFindsThem) {
  JobKindRegistry registry;
  ASSERT_TRUE(registry.Register("noop", Succeed).ok());
  ASSERT_TRUE(registry.Register("sleep", Succeed).ok());
  EXPECT_NE(registry.Find("noop"), nullptr);
  EXPECT_EQ(registry.Find("train"), nullptr);
  EXPECT_THAT(registry.Kinds(), ::testing::ElementsAre("noop", "sleep"));
}

TEST(JobKindRegistryTest, RefusesDuplicates) {
  JobKindRegistry registry;
  ASSERT_TRUE(registry.Register("noop", Succeed).ok());
  absl::Status status = registry.Register("noop", Succeed);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
}

TEST(JobKindRegistryTest, RefusesKindsOutsideTheCatalog) {
  JobKindRegistry registry;
  absl::Status status = registry.Register("no_such_kind", Succeed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("no_such_kind"));
  EXPECT_TRUE(registry.Kinds().empty());
}

TEST(JobKindRegistryTest, RefusesAnEmptyFunction) {
  JobKindRegistry registry;
  EXPECT_EQ(registry.Register("noop", JobFunction()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace expsvc::worker
