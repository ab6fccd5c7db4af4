#include "worker/runtime/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace expsvc::worker {
namespace {

using Clock = std::chrono::steady_clock;

// Splits a pipe's bytes into lines for a callback.
class LineReader {
 public:
  LineReader(int fd, size_t max_line, std::function<void(std::string_view)> sink)
      : fd_(fd), max_line_(max_line), sink_(std::move(sink)) {}
  ~LineReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  bool open() const { return fd_ >= 0; }

  // Reads what is there; closes on end of file.
  void ReadAvailable() {
    char buffer[16384];
    const ssize_t n = ::read(fd_, buffer, sizeof(buffer));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      Close();
      return;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] == '\n') {
        Emit();
      } else if (partial_.size() < max_line_) {
        partial_.push_back(buffer[i]);
      }
    }
  }
  void Close() {
    if (!partial_.empty()) Emit();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  void Emit() {
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    if (sink_) sink_(partial_);
    partial_.clear();
  }
  int fd_;
  size_t max_line_;
  std::function<void(std::string_view)> sink_;
  std::string partial_;
};

// The process groups of programs running now, for KillAllChildGroups (read
// from a signal handler: a fixed array of atomics, no locks).
std::atomic<pid_t> g_live_groups[256];

class LiveGroup {
 public:
  explicit LiveGroup(pid_t pgid) {
    for (std::atomic<pid_t>& group : g_live_groups) {
      pid_t empty = 0;
      if (group.compare_exchange_strong(empty, pgid)) {
        slot_ = &group;
        return;
      }
    }
  }
  ~LiveGroup() {
    if (slot_ != nullptr) slot_->store(0);
  }

 private:
  std::atomic<pid_t>* slot_ = nullptr;
};

}  // namespace

std::string ChildExit::Describe() const {
  if (exit_code >= 0) return absl::StrCat("exit code ", exit_code);
  return absl::StrCat("killed by signal ", signal, " (", strsignal(signal), ")");
}

absl::StatusOr<ChildExit> RunChild(const ChildSpec& spec, const ChildCallbacks& callbacks) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("no program given");
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<char*> args, envp;
  for (const std::string& arg : spec.argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  for (const std::string& entry : spec.env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  // posix_spawn, not fork (see tool_process.cc: gRPC's atfork handlers). A new
  // session makes the child the leader of its own process group.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (!spec.working_dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.working_dir.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  // A bare program name is looked up in the child's PATH (posix_spawnp would
  // search the worker's).
  std::string program = spec.argv[0];
  if (program.find('/') == std::string::npos) {
    std::string path = "/usr/local/bin:/usr/bin:/bin";
    for (const std::string& entry : spec.env) {
      if (entry.rfind("PATH=", 0) == 0) path = entry.substr(5);
    }
    std::string found;
    size_t begin = 0;
    while (begin <= path.size()) {
      size_t end = path.find(':', begin);
      if (end == std::string::npos) end = path.size();
      const std::string dir = path.substr(begin, end - begin);
      const std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", program);
      if (::access(candidate.c_str(), X_OK) == 0) {
        found = candidate;
        break;
      }
      begin = end + 1;
    }
    if (found.empty()) {
      posix_spawn_file_actions_destroy(&actions);
      posix_spawnattr_destroy(&attributes);
      for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
      return absl::NotFoundError(absl::StrCat("program '", program, "' not found in PATH (", path, ")"));
    }
    program = found;
  }
  pid_t child = 0;
  const int spawn_error = posix_spawn(&child, program.c_str(), &actions, &attributes, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawn_error != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    const std::string message = absl::StrCat("cannot start ", program, ": ", std::strerror(spawn_error));
    // Out of processes or memory may pass; a program that cannot run will not.
    if (spawn_error == EAGAIN || spawn_error == ENOMEM) return absl::UnavailableError(message);
    return absl::FailedPreconditionError(message);
  }
  LiveGroup live(child);

  LineReader out(out_pipe[0], spec.max_line_bytes, callbacks.on_stdout_line);
  LineReader err(err_pipe[0], spec.max_line_bytes, callbacks.on_stderr_line);
  ChildExit result;
  bool exited = false;
  Clock::time_point stop_at, exited_at;
  while (true) {
    pollfd fds[2];
    int count = 0;
    for (LineReader* reader : {&out, &err}) {
      if (reader->open()) fds[count++] = {reader->fd(), POLLIN, 0};
    }
    if (count == 0 && exited) break;
    if (count > 0) {
      const int ready = ::poll(fds, count, 100);
      if (ready > 0) {
        for (int i = 0; i < count; ++i) {
          if (fds[i].revents == 0) continue;
          (fds[i].fd == out.fd() ? out : err).ReadAvailable();
        }
      }
    } else {
      ::usleep(100 * 1000);
    }
    if (!exited) {
      // WNOWAIT: the program stays a zombie until the end, so its pid, which
      // is the group's id, cannot be reused while the group is signalled.
      siginfo_t info = {};
      const int waited = ::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOHANG | WNOWAIT);
      if (waited == 0 && info.si_pid == child) {
        exited = true;
        exited_at = Clock::now();
        if (info.si_code == CLD_EXITED) {
          result.exit_code = info.si_status;
        } else {
          result.signal = info.si_status;
        }
        // Not stopping: what it left running goes with it now. Stopping: the
        // rest of the group keeps its grace period (a shell wrapper exits on
        // SIGTERM at once; the program under it may still be saving).
        if (!result.stopped) ::kill(-child, SIGKILL);
      } else if (waited < 0 && errno != EINTR) {
        ::kill(-child, SIGKILL);
        ::waitpid(child, nullptr, 0);
        return absl::InternalError(absl::StrCat("waiting for ", program, " failed: ", std::strerror(errno)));
      }
    }
    if (!exited && !result.stopped && callbacks.should_stop && callbacks.should_stop()) {
      result.stopped = true;
      if (callbacks.on_stopping) callbacks.on_stopping();
      ::kill(-child, SIGTERM);
      stop_at = Clock::now();
    }
    if (result.stopped && !result.killed_after_grace && Clock::now() - stop_at >= spec.grace) {
      ::kill(-child, SIGKILL);
      result.killed_after_grace = true;
    }
    // A process that left the group (its own setsid) may hold the pipes:
    // stop reading a while after the program and its group are done.
    const bool group_done = !result.stopped || result.killed_after_grace;
    if (exited && group_done && Clock::now() - exited_at > std::chrono::seconds(2)) {
      out.Close();
      err.Close();
      break;
    }
  }
  // Whatever is left of the group (a stopped program's children that closed
  // their pipes), then the zombie.
  ::kill(-child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  return result;
}

void KillAllChildGroups() {
  for (std::atomic<pid_t>& group : g_live_groups) {
    const pid_t pgid = group.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
}

}  // namespace expsvc::worker
