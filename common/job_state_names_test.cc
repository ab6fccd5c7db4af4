#include "common/job_state_names.h"

#include "gtest/gtest.h"

namespace expsvc {
namespace {

TEST(JobStateNamesTest, EveryStateRoundTrips) {
  for (auto state : {v1::JOB_STATE_WAITING, v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED,
                     v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED}) {
    const std::string name = JobStateName(state);
    ASSERT_FALSE(name.empty()) << state;
    EXPECT_EQ(JobStateFromName(name), state) << name;
  }
  EXPECT_EQ(std::string(JobStateName(v1::JOB_STATE_SUCCEEDED)), "succeeded");
}

TEST(JobStateNamesTest, UnknownNamesAndValues) {
  EXPECT_EQ(std::string(JobStateName(v1::JOB_STATE_UNSPECIFIED)), "");
  EXPECT_EQ(JobStateFromName("Succeeded"), std::nullopt);
  EXPECT_EQ(JobStateFromName("ok"), std::nullopt);
  EXPECT_EQ(JobStateFromName(""), std::nullopt);
}

}  // namespace
}  // namespace expsvc
