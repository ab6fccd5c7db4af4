#pragma once
// A program run in its own session (so its whole process tree is one process
// group), with its standard output and error read line by line while it
// runs. Asked to stop, the group gets SIGTERM, then SIGKILL after a grace
// period; when the program itself exits, whatever it left running in its
// group is killed too. A descendant that starts a session of its own leaves
// the group and is not tracked (a cgroup per job would be needed).

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace expsvc::worker {

struct ChildSpec {
  // argv[0] is looked up in PATH (of `env`) when it has no '/'.
  std::vector<std::string> argv;
  // The whole environment, "NAME=value" each.
  std::vector<std::string> env;
  std::string working_dir;
  std::chrono::milliseconds grace{10000};
  // Lines longer than this are cut (the rest of the line is dropped).
  size_t max_line_bytes = 64 * 1024;
};

struct ChildCallbacks {
  std::function<void(std::string_view line)> on_stdout_line;
  std::function<void(std::string_view line)> on_stderr_line;
  // Polled about every 100 ms; true starts the SIGTERM/SIGKILL sequence once.
  std::function<bool()> should_stop;
  // Called once, just before the SIGTERM.
  std::function<void()> on_stopping;
};

struct ChildExit {
  // Exit code, or -1 when a signal ended it (then `signal` says which).
  int exit_code = -1;
  int signal = 0;
  // The stop sequence ran (should_stop turned true).
  bool stopped = false;
  // The group had to be SIGKILLed after the grace period.
  bool killed_after_grace = false;
  std::string Describe() const;
};

// Runs to the end. An error only when the program could not be started
// (NOT_FOUND, FAILED_PRECONDITION; UNAVAILABLE when out of processes or
// memory) or waited for; a failing program is a ChildExit with its code.
// Stopping: SIGTERM to the group, then SIGKILL once `grace` has passed, even
// if the program itself already exited (its children keep their grace).
absl::StatusOr<ChildExit> RunChild(const ChildSpec& spec, const ChildCallbacks& callbacks);

// SIGKILLs the process group of every program RunChild is running now.
// Async-signal-safe: the worker calls it before exiting without draining, so
// no program outlives it.
void KillAllChildGroups();

}  // namespace expsvc::worker
