#include "worker/runtime/tool_process.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/runtime/child_process.h"


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
  context.Log(absl::StrCat("running ", absl::StrJoin(argv, " ")));
  ChildSpec spec;
  spec.argv = argv;
  for (char** entry = environ; *entry != nullptr; ++entry) spec.env.emplace_back(*entry);
  // A child that ignores SIGTERM gets SIGKILL after this.
  spec.grace = std::chrono::seconds(10);
  std::deque<std::string> tail;
  auto log_line = [&](std::string_view line) {
    context.Log(line);
    tail.emplace_back(line);
    if (tail.size() > 8) tail.pop_front();
  };
  ChildCallbacks callbacks;
  callbacks.on_stdout_line = log_line;
  callbacks.on_stderr_line = log_line;
  callbacks.should_stop = [&] { return context.should_stop(); };
  absl::StatusOr<ChildExit> exit = RunChild(spec, callbacks);
  if (!exit.ok()) return absl::InternalError(exit.status().message());
  if (exit->stopped) {
    return context.shutting_down() ? absl::AbortedError("worker shutting down") : absl::CancelledError("cancelled");
  }
  if (exit->exit_code != 0) {
    return absl::InternalError(absl::StrCat(fs::path(argv[0]).filename().string(), " failed (", exit->Describe(),
                                            "): ", absl::StrJoin(tail, " | ")));
  }
  return absl::OkStatus();
}

}  // namespace expsvc::worker
