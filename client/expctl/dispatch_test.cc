// RunExpctl end to end without a server: command resolution, usage errors
// and their exit codes, help, local dry runs, and an unreachable address.

#include "client/expctl/dispatch.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "client/expctl/exit_codes.h"
#include "nlohmann/json.hpp"

namespace expsvc::expctl {
namespace {

struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
};

Outcome RunCli(const std::vector<std::string>& words, std::map<std::string, std::string> env = {}) {
  std::ostringstream out;
  std::ostringstream err;
  int code = RunExpctl(words, out, err, [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  return {code, out.str(), err.str()};
}

// A file in the test's temporary directory, removed at the end.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char pattern[] = "/tmp/expctl_test_XXXXXX.yaml";
    int fd = mkstemps(pattern, 5);
    path_ = pattern;
    std::ofstream(path_) << content;
    close(fd);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr char kSweepYaml[] = R"(
name: demo
stages:
  - name: train
    kind: sleep
    grid: {seconds: [0.1, 0.2], steps: [1, 2]}
  - name: check
    kind: noop
)";

TEST(DispatchTest, NoArgumentsPrintsHelpAndFails) {
  Outcome outcome = RunCli({});
  EXPECT_EQ(outcome.exit_code, kExitUsage);
  EXPECT_NE(outcome.err.find("commands:"), std::string::npos);
}

TEST(DispatchTest, HelpListsEveryCommand) {
  for (const auto& words :
       {std::vector<std::string>{"help"}, std::vector<std::string>{"--help"}, std::vector<std::string>{"-h"}}) {
    Outcome outcome = RunCli(words);
    EXPECT_EQ(outcome.exit_code, kExitOk);
    for (const char* command : {"submit", "ls jobs", "status", "watch", "metrics", "report", "logs", "cancel", "retry",
                                "workers", "artifacts list", "artifacts get", "version"}) {
      EXPECT_NE(outcome.out.find(command), std::string::npos) << command;
    }
  }
}

TEST(DispatchTest, PerCommandHelp) {
  Outcome outcome = RunCli({"ls", "jobs", "--help"});
  EXPECT_EQ(outcome.exit_code, kExitOk);
  EXPECT_NE(outcome.out.find("usage: expctl ls jobs --sweep ID"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("--param k=v"), std::string::npos);

  // Help wins over what would otherwise be a usage error.
  outcome = RunCli({"status", "-h"});
  EXPECT_EQ(outcome.exit_code, kExitOk);
  EXPECT_NE(outcome.out.find("usage: expctl status SWEEP"), std::string::npos);

  outcome = RunCli({"help", "artifacts", "get"});
  EXPECT_EQ(outcome.exit_code, kExitOk);
  EXPECT_NE(outcome.out.find("-o, --output PATH"), std::string::npos) << outcome.out;
}

TEST(DispatchTest, UsageErrorsExitTwo) {
  Outcome unknown = RunCli({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, kExitUsage);
  EXPECT_NE(unknown.err.find("unknown command 'frobnicate'"), std::string::npos) << unknown.err;

  Outcome missing = RunCli({"status"});
  EXPECT_EQ(missing.exit_code, kExitUsage);
  EXPECT_NE(missing.err.find("missing"), std::string::npos) << missing.err;

  Outcome bad_flag = RunCli({"status", "3", "--bogus"});
  EXPECT_EQ(bad_flag.exit_code, kExitUsage);
  EXPECT_NE(bad_flag.err.find("unknown flag '--bogus'"), std::string::npos) << bad_flag.err;

  Outcome no_value = RunCli({"ls", "jobs", "--sweep"});
  EXPECT_EQ(no_value.exit_code, kExitUsage);

  Outcome group = RunCli({"artifacts"});
  EXPECT_EQ(group.exit_code, kExitUsage);
  EXPECT_NE(group.err.find("list, get"), std::string::npos) << group.err;

  Outcome bad_id = RunCli({"status", "abc"});
  EXPECT_EQ(bad_id.exit_code, kExitUsage);

  Outcome bad_timeout = RunCli({"--timeout", "zero", "ls"});
  EXPECT_EQ(bad_timeout.exit_code, kExitUsage);

  Outcome no_sweep = RunCli({"ls", "jobs"});
  EXPECT_EQ(no_sweep.exit_code, kExitUsage);
  EXPECT_NE(no_sweep.err.find("--sweep"), std::string::npos);
}

TEST(DispatchTest, Version) {
  Outcome outcome = RunCli({"version"});
  EXPECT_EQ(outcome.exit_code, kExitOk);
  EXPECT_EQ(outcome.out.rfind("expctl ", 0), 0u) << outcome.out;
}

TEST(DispatchTest, UnreadableSweepFileExitsTwo) {
  Outcome outcome = RunCli({"submit", "/nonexistent/sweep.yaml", "--dry-run"});
  EXPECT_EQ(outcome.exit_code, kExitUsage);
  EXPECT_NE(outcome.err.find("/nonexistent/sweep.yaml"), std::string::npos) << outcome.err;
}

TEST(DispatchTest, UnreadableCaFileExitsTwo) {
  Outcome outcome = RunCli({"ls", "--tls-ca", "/nonexistent/ca.pem"});
  EXPECT_EQ(outcome.exit_code, kExitUsage);
  EXPECT_NE(outcome.err.find("/nonexistent/ca.pem"), std::string::npos) << outcome.err;
}

TEST(DispatchTest, DryRunJsonIsOneObject) {
  TempFile sweep(kSweepYaml);
  Outcome outcome = RunCli({"submit", sweep.path(), "--dry-run", "--output=json"});
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  nlohmann::json report = nlohmann::json::parse(outcome.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << outcome.out;
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["jobs"], 5);
  EXPECT_EQ(report["groups"], 0);
  ASSERT_EQ(report["stages"].size(), 2u);
  EXPECT_EQ(report["stages"][0]["name"], "train");
  EXPECT_EQ(report["stages"][0]["kind"], "sleep");
  EXPECT_EQ(report["stages"][0]["jobs"], 4);
  EXPECT_EQ(report["stages"][1]["jobs"], 1);
  ASSERT_EQ(report["sample"].size(), 5u);
  EXPECT_EQ(report["sample"][0]["stage"], "train");
  EXPECT_TRUE(report["sample"][0]["params"].is_object());
}

TEST(DispatchTest, DryRunText) {
  TempFile sweep(kSweepYaml);
  Outcome outcome = RunCli({"submit", "--dry-run", sweep.path()});
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_NE(outcome.out.find("5 jobs in 2 stages, 0 groups"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("sample (5 of 5 jobs)"), std::string::npos) << outcome.out;
}

TEST(DispatchTest, InvalidSweepFailsWithTheParserMessage) {
  TempFile sweep("name: bad\nstages:\n  - name: t\n    kind: trian\n");
  Outcome outcome = RunCli({"submit", sweep.path(), "--dry-run"});
  EXPECT_EQ(outcome.exit_code, kExitFailed);
  EXPECT_EQ(outcome.err.rfind("expctl: INVALID_ARGUMENT: ", 0), 0u) << outcome.err;
  EXPECT_NE(outcome.err.find("trian"), std::string::npos) << outcome.err;
}

TEST(DispatchTest, UnreachableServerExitsThree) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  Outcome outcome = RunCli({"--addr", "127.0.0.1:1", "--timeout", "5", "ls"});
  EXPECT_EQ(outcome.exit_code, kExitUnavailable) << outcome.err;
  EXPECT_NE(outcome.err.find("UNAVAILABLE"), std::string::npos) << outcome.err;

  Outcome from_env = RunCli({"status", "4"}, {{"EXPSVC_ADDR", "127.0.0.1:1"}});
  EXPECT_EQ(from_env.exit_code, kExitUnavailable) << from_env.err;
  EXPECT_NE(from_env.err.find("127.0.0.1:1"), std::string::npos) << from_env.err;
}

}  // namespace
}  // namespace expsvc::expctl
