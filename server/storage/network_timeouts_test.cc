#include "server/storage/network_timeouts.h"

#include <libpq-fe.h>
#include <stdlib.h>

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace expsvc::storage {
namespace {

// What libpq itself reads back from a conninfo: keyword -> value.
std::map<std::string, std::string> Parsed(const std::string& conninfo) {
  std::map<std::string, std::string> values;
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  EXPECT_NE(options, nullptr) << (error != nullptr ? error : "");
  if (options == nullptr) return values;
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr) values[option->keyword] = option->val;
  }
  PQconninfoFree(options);
  return values;
}

TEST(NetworkTimeoutsTest, AddsEveryLimitToAKeywordConninfo) {
  unsetenv("PGCONNECT_TIMEOUT");
  auto result = WithNetworkTimeouts("host=db.example port=5433 dbname=expsvc");
  ASSERT_TRUE(result.ok()) << result.status();
  auto values = Parsed(*result);
  EXPECT_EQ(values["host"], "db.example");
  EXPECT_EQ(values["port"], "5433");
  EXPECT_EQ(values["dbname"], "expsvc");
  EXPECT_EQ(values["connect_timeout"], "5");
  EXPECT_EQ(values["tcp_user_timeout"], "5000");
  EXPECT_EQ(values["keepalives"], "1");
  EXPECT_EQ(values["keepalives_idle"], "5");
  EXPECT_EQ(values["keepalives_interval"], "2");
  EXPECT_EQ(values["keepalives_count"], "3");
}

TEST(NetworkTimeoutsTest, KeepsWhatTheUserSetAndReadsUris) {
  unsetenv("PGCONNECT_TIMEOUT");
  auto result = WithNetworkTimeouts("postgresql://alice@db.example:6000/results?connect_timeout=30&tcp_user_timeout=0");
  ASSERT_TRUE(result.ok()) << result.status();
  auto values = Parsed(*result);
  EXPECT_EQ(values["user"], "alice");
  EXPECT_EQ(values["host"], "db.example");
  EXPECT_EQ(values["port"], "6000");
  EXPECT_EQ(values["dbname"], "results");
  EXPECT_EQ(values["connect_timeout"], "30");
  EXPECT_EQ(values["tcp_user_timeout"], "0");
  EXPECT_EQ(values["keepalives_count"], "3");
  // Applying it twice changes nothing libpq reads.
  EXPECT_EQ(Parsed(*WithNetworkTimeouts(*result)), values);
}

TEST(NetworkTimeoutsTest, QuotesValuesSoTheyReadBackExactly) {
  const std::string password = "it's a \\secret\\ with spaces";
  auto result = WithNetworkTimeouts("host=h password='it\\'s a \\\\secret\\\\ with spaces'");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Parsed(*result)["password"], password);
}

TEST(NetworkTimeoutsTest, LeavesConnectTimeoutToPgConnectTimeout) {
  setenv("PGCONNECT_TIMEOUT", "17", 1);
  auto result = WithNetworkTimeouts("host=h");
  unsetenv("PGCONNECT_TIMEOUT");
  ASSERT_TRUE(result.ok()) << result.status();
  auto values = Parsed(*result);
  EXPECT_EQ(values.count("connect_timeout"), 0u);
  EXPECT_EQ(values["tcp_user_timeout"], "5000");
}

TEST(NetworkTimeoutsTest, NamesWhatLibpqCannotParse) {
  auto unknown = WithNetworkTimeouts("host=h colour=blue");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("colour"), std::string::npos) << unknown.status();
  auto unterminated = WithNetworkTimeouts("host='h");
  ASSERT_FALSE(unterminated.ok());
  EXPECT_NE(unterminated.status().message().find("cannot be parsed"), std::string::npos) << unterminated.status();
}

}  // namespace
}  // namespace expsvc::storage
