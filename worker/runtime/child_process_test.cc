#include "worker/runtime/child_process.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace expsvc::worker {
namespace {

ChildSpec Shell(const std::string& script) {
  ChildSpec spec;
  spec.argv = {"sh", "-c", script};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.grace = std::chrono::milliseconds(500);
  return spec;
}

// Running, not a zombie waiting for a parent (in a container, PID 1 may never reap).
bool Alive(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return false;
  const size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

TEST(ChildProcessTest, ReadsBothStreamsLineByLineAndTheExitCode) {
  std::vector<std::string> out, err;
  ChildCallbacks callbacks;
  callbacks.on_stdout_line = [&](std::string_view line) { out.emplace_back(line); };
  callbacks.on_stderr_line = [&](std::string_view line) { err.emplace_back(line); };
  auto exit = RunChild(Shell("echo one; echo two >&2; printf 'three'; exit 3"), callbacks);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_FALSE(exit->stopped);
  EXPECT_EQ(out, (std::vector<std::string>{"one", "three"}));
  EXPECT_EQ(err, (std::vector<std::string>{"two"}));
}

TEST(ChildProcessTest, EnvironmentAndWorkingFolderAreTheSpecs) {
  const std::string dir = ::testing::TempDir();
  ChildSpec spec = Shell("echo \"$ONLY_THIS\" \"${HOME:-unset}\"; pwd");
  spec.env.push_back("ONLY_THIS=yes");
  spec.working_dir = dir;
  std::vector<std::string> out;
  ChildCallbacks callbacks;
  callbacks.on_stdout_line = [&](std::string_view line) { out.emplace_back(line); };
  auto exit = RunChild(spec, callbacks);
  ASSERT_TRUE(exit.ok()) << exit.status();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "yes unset");
  EXPECT_EQ(std::filesystem::canonical(out[1]), std::filesystem::canonical(dir));
}

TEST(ChildProcessTest, UnknownProgramIsNotFound) {
  ChildSpec spec;
  spec.argv = {"no-such-program-expsvc"};
  spec.env = {"PATH=/usr/bin:/bin"};
  EXPECT_EQ(RunChild(spec, {}).status().code(), absl::StatusCode::kNotFound);
}

// A program that ignores SIGTERM and has a child of its own: stopping ends
// both, the grandchild included.
TEST(ChildProcessTest, StopKillsTheWholeTreeAfterTheGracePeriod) {
  const std::string pid_file = absl::StrCat(::testing::TempDir(), "/grandchild-", ::getpid());
  std::atomic<bool> stop{false};
  ChildCallbacks callbacks;
  bool stopping_called = false;
  callbacks.should_stop = [&] { return stop.load(); };
  callbacks.on_stopping = [&] { stopping_called = true; };
  std::vector<std::string> out;
  callbacks.on_stdout_line = [&](std::string_view line) {
    out.emplace_back(line);
    stop = true;
  };
  auto exit = RunChild(
      Shell(absl::StrCat("trap '' TERM; sleep 300 & echo $! > ", pid_file, "; echo started; while :; do sleep 1; done")),
      callbacks);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->stopped);
  EXPECT_TRUE(exit->killed_after_grace);
  EXPECT_TRUE(stopping_called);
  EXPECT_EQ(exit->signal, SIGKILL);
  pid_t grandchild = 0;
  std::ifstream(pid_file) >> grandchild;
  ASSERT_GT(grandchild, 0);
  // Reaped by init shortly after the kill.
  for (int i = 0; i < 50 && Alive(grandchild); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(Alive(grandchild));
}

// A shell wrapper dies on SIGTERM at once; the program under it keeps its
// grace period to finish what it was saving.
TEST(ChildProcessTest, AWrappersChildrenKeepTheirGraceAfterItExits) {
  std::atomic<bool> stop{false};
  std::vector<std::string> out;
  ChildCallbacks callbacks;
  callbacks.should_stop = [&] { return stop.load(); };
  callbacks.on_stdout_line = [&](std::string_view line) {
    out.emplace_back(line);
    if (line == "ready") stop = true;
  };
  ChildSpec spec = Shell(
      "sh -c 'trap \"sleep 0.3; echo saved; exit 0\" TERM; echo ready; while :; do sleep 0.05; done'; echo never");
  spec.grace = std::chrono::milliseconds(5000);
  auto exit = RunChild(spec, callbacks);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->stopped);
  EXPECT_FALSE(exit->killed_after_grace);
  EXPECT_EQ(out, (std::vector<std::string>{"ready", "saved"}));
}

TEST(ChildProcessTest, WhatTheProgramLeftRunningEndsWithIt) {
  const std::string pid_file = absl::StrCat(::testing::TempDir(), "/leftover-", ::getpid());
  auto exit = RunChild(Shell(absl::StrCat("sleep 300 & echo $! > ", pid_file, "; exit 0")), {});
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 0);
  pid_t leftover = 0;
  std::ifstream(pid_file) >> leftover;
  ASSERT_GT(leftover, 0);
  for (int i = 0; i < 50 && Alive(leftover); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(Alive(leftover));
}

}  // namespace
}  // namespace expsvc::worker
