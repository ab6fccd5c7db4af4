#include "worker/runtime/tool_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace expsvc::worker {

namespace fs = std::filesystem;

absl::StatusOr<std::string> FindProjectTool(const std::string& env_variable,
                                            const std::vector<std::string>& relative_candidates) {
  if (const char* configured = std::getenv(env_variable.c_str()); configured != nullptr && *configured != '\0') {
    if (access(configured, X_OK) != 0) {
      return absl::NotFoundError(absl::StrCat("$", env_variable, " names ", configured, ", which is not executable"));
    }
    return std::string(configured);
  }
  std::error_code error;
  const fs::path executable = fs::read_symlink("/proc/self/exe", error);
  std::vector<std::string> looked_at;
  for (const std::string& candidate : relative_candidates) {
    const fs::path path = (executable.parent_path() / candidate).lexically_normal();
    if (access(path.c_str(), X_OK) == 0) return path.string();
    looked_at.push_back(path.string());
  }
  return absl::NotFoundError(absl::StrCat("helper program not found (looked at ", absl::StrJoin(looked_at, ", "),
                                          "); build it (scripts/build) or set $", env_variable));
}

absl::Status RunToolProcess(JobContext& context, const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("no program given");
  const std::string log_path =
      absl::StrCat(context.scratch_dir(), "/tool-", fs::path(argv[0]).filename().string(), ".log");
  context.Log(absl::StrCat("running ", absl::StrJoin(argv, " ")));
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  // posix_spawn, not fork: fork runs the pthread_atfork handlers gRPC
  // installs, which can block while a long-poll call is in flight (seen: a
  // worker hung in fork). posix_spawn starts the child without them.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t child = 0;
  const int spawn_error = posix_spawn(&child, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": ", std::strerror(spawn_error)));
  }
  int status = 0;
  bool stopped = false;
  bool killed = false;
  std::chrono::steady_clock::time_point stopped_at;
  while (true) {
    const pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) {
      // Never leave a child behind.
      kill(child, SIGKILL);
      return absl::InternalError(absl::StrCat("waiting for ", argv[0], " failed: ", std::strerror(errno)));
    }
    if (!stopped && context.should_stop()) {
      kill(child, SIGTERM);
      stopped = true;
      stopped_at = std::chrono::steady_clock::now();
    }
    // A child that ignores SIGTERM gets SIGKILL after a grace period.
    if (stopped && !killed && std::chrono::steady_clock::now() - stopped_at > std::chrono::seconds(10)) {
      kill(child, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::deque<std::string> tail;
  std::ifstream log(log_path);
  for (std::string line; std::getline(log, line);) {
    context.Log(line);
    tail.push_back(line);
    if (tail.size() > 8) tail.pop_front();
  }
  if (stopped) {
    return context.shutting_down() ? absl::AbortedError("worker shutting down") : absl::CancelledError("cancelled");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how =
        WIFEXITED(status) ? absl::StrCat("exit code ", WEXITSTATUS(status)) : absl::StrCat("signal ", WTERMSIG(status));
    return absl::InternalError(
        absl::StrCat(fs::path(argv[0]).filename().string(), " failed (", how, "): ", absl::StrJoin(tail, " | ")));
  }
  return absl::OkStatus();
}

}  // namespace expsvc::worker
