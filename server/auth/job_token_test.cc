#include "server/auth/job_token.h"

#include <gtest/gtest.h>

namespace expsvc::auth {
namespace {

TEST(JobTokenTest, SignedTokenVerifiesToItsScope) {
  const std::string token = SignJobToken("key-one", {.job_id = 42, .epoch = 7});
  EXPECT_TRUE(IsJobToken(token));
  auto scope = VerifyJobToken("key-one", token);
  ASSERT_TRUE(scope.ok()) << scope.status();
  EXPECT_EQ(scope->job_id, 42);
  EXPECT_EQ(scope->epoch, 7);
}

TEST(JobTokenTest, AnotherKeyOrAlteredScopeIsRefused) {
  const std::string token = SignJobToken("key-one", {.job_id = 42, .epoch = 7});
  EXPECT_EQ(VerifyJobToken("key-two", token).status().code(), absl::StatusCode::kUnauthenticated);
  // Same signature, another epoch or job: the signature no longer matches.
  std::string other_epoch = token;
  other_epoch.replace(other_epoch.find("_7_"), 3, "_8_");
  EXPECT_EQ(VerifyJobToken("key-one", other_epoch).status().code(), absl::StatusCode::kUnauthenticated);
  std::string other_job = token;
  other_job.replace(other_job.find("42"), 2, "43");
  EXPECT_EQ(VerifyJobToken("key-one", other_job).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(JobTokenTest, MalformedTokensAreRefusedWithAReason) {
  for (const char* bad : {"expsvcjob_", "expsvcjob_1_2", "expsvcjob_x_2_ab", "expsvcjob_1_2_zz", "expsvc_abc",
                          "expsvcjob_-1_2_00", "expsvcjob_1_2_3_4"}) {
    auto scope = VerifyJobToken("key", bad);
    EXPECT_EQ(scope.status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
  EXPECT_FALSE(IsJobToken("expsvc_0123"));
}

}  // namespace
}  // namespace expsvc::auth
