#include "common/net/scheduler_target.h"

#include "gtest/gtest.h"

namespace expsvc::net {
namespace {

TEST(SchedulerTargetTest, OneAddressIsUsedAsGiven) {
  EXPECT_EQ(SchedulerTarget("sched.example:50051").value(), "sched.example:50051");
  EXPECT_EQ(SchedulerTarget("127.0.0.1:50051").value(), "127.0.0.1:50051");
  EXPECT_FALSE(SchedulerTarget("").ok());
}

TEST(SchedulerTargetTest, SeveralReplicasBecomeOneAddressList) {
  EXPECT_EQ(SchedulerTarget("127.0.0.1:5001,127.0.0.2:5002").value(), "ipv4:127.0.0.1:5001,127.0.0.2:5002");
  EXPECT_EQ(SchedulerTarget("localhost:5001, 127.0.0.1:5002").value(), "ipv4:127.0.0.1:5001,127.0.0.1:5002");
  EXPECT_EQ(SchedulerTarget("[::1]:5001,[::1]:5002").value(), "ipv6:[::1]:5001,[::1]:5002");
}

TEST(SchedulerTargetTest, BadListsGetClearErrors) {
  EXPECT_NE(SchedulerTarget("127.0.0.1:5001,").status().message().find("empty entry"), std::string::npos);
  EXPECT_NE(SchedulerTarget("127.0.0.1:5001,127.0.0.1").status().message().find("host:port"), std::string::npos);
  EXPECT_NE(SchedulerTarget("127.0.0.1:x,127.0.0.1:1").status().message().find("not a number"), std::string::npos);
  EXPECT_NE(SchedulerTarget("127.0.0.1:1,[::1]:2").status().message().find("IPv4 and IPv6"), std::string::npos);
  EXPECT_FALSE(SchedulerTarget("no-such-host.invalid:1,no-such-host.invalid:2").ok());
}

TEST(SchedulerTargetTest, AReplicaThatDoesNotResolveIsLeftOutNotFatal) {
  std::vector<std::string> skipped;
  EXPECT_EQ(SchedulerTarget("no-such-host.invalid:1,127.0.0.1:2", &skipped).value(), "ipv4:127.0.0.1:2");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("no-such-host.invalid"), std::string::npos);
}

TEST(SchedulerTargetTest, ListsNameTheFirstHostForTls) {
  EXPECT_EQ(SchedulerTlsName("sched-a.example:1,sched-b.example:2"), "sched-a.example");
  EXPECT_EQ(SchedulerTlsName("[::1]:1,[::1]:2"), "::1");
  EXPECT_EQ(SchedulerTlsName("sched.example:1"), "");
}

}  // namespace
}  // namespace expsvc::net
