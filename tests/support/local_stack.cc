#include "tests/support/local_stack.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/fs/file_io.h"

extern char** environ;

namespace expsvc::testing {
namespace {

// Whatever a child process wrote, or "" when it wrote nothing.
std::string ReadLog(const std::string& path) {
  return fs::ReadFile(path).value_or("");
}

std::vector<std::string> EnvironmentWith(const std::map<std::string, std::string>& additions) {
  std::vector<std::string> entries;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string value = *entry;
    const std::string name = value.substr(0, value.find('='));
    if (additions.count(name) == 0) entries.push_back(value);
  }
  for (const auto& [name, value] : additions) entries.push_back(absl::StrCat(name, "=", value));
  return entries;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

pid_t SpawnWithOutput(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
                      const std::string& out_path, const std::string& err_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<std::string> environment = EnvironmentWith(env);
  auto arg_pointers = Pointers(argv);
  auto env_pointers = Pointers(environment);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, arg_pointers.data(), env_pointers.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

}  // namespace

bool WaitFor(const std::function<bool()>& condition, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  static int counter = 0;
  char pattern[] = "/tmp/expsvc-cmd-XXXXXX";
  const std::string base = ::mkdtemp(pattern) != nullptr ? pattern : "/tmp";
  const std::string out_path = absl::StrCat(base, "/out-", ++counter);
  const std::string err_path = absl::StrCat(base, "/err-", counter);
  CommandResult result;
  const pid_t pid = SpawnWithOutput(argv, env, out_path, err_path);
  if (pid < 0) {
    result.err = absl::StrCat("cannot start ", argv[0]);
    return result;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadLog(out_path);
  result.err = ReadLog(err_path);
  std::filesystem::remove_all(base);
  return result;
}

absl::StatusOr<std::unique_ptr<LocalStack>> LocalStack::Start(const Options& options) {
  std::unique_ptr<LocalStack> stack(new LocalStack());
  stack->options_ = options;
  const char* build_dir = std::getenv("EXPSVC_BUILD_DIR");
  if (build_dir == nullptr) return absl::FailedPreconditionError("EXPSVC_BUILD_DIR is not set (run through ctest)");
  stack->build_dir_ = build_dir;
  auto postgres = PostgresCluster::Start();
  if (!postgres.ok()) return postgres.status();
  stack->postgres_ = std::move(*postgres);
  auto conninfo = stack->postgres_->CreateDatabase("expsvc");
  if (!conninfo.ok()) return conninfo.status();
  stack->conninfo_ = *conninfo;
  char pattern[] = "/tmp/expsvc-stack-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return absl::InternalError("mkdtemp failed");
  stack->directory_ = pattern;
  for (int r = 0; r < std::max(1, options.replicas); ++r) {
    int port = FindFreePort();
    // Free now does not mean distinct from the ports already picked.
    while (std::find(stack->ports_.begin(), stack->ports_.end(), port) != stack->ports_.end()) port = FindFreePort();
    stack->ports_.push_back(port);
    stack->scheduler_pids_.push_back(-1);
  }
  const std::string scheduler = absl::StrCat(stack->build_dir_, "/server/expsvc-scheduler");
  for (auto [role, token] : {std::pair{"user", &stack->user_token_}, std::pair{"worker", &stack->worker_token_},
                             std::pair{"admin", &stack->admin_token_}}) {
    CommandResult created = RunCommand({scheduler, "create-token", absl::StrCat("--db=", stack->conninfo_),
                                        absl::StrCat("--role=", role), absl::StrCat("--name=test-", role)});
    if (created.exit_code != 0) {
      return absl::InternalError(absl::StrCat("create-token failed: ", created.err));
    }
    *token = std::string(absl::StripAsciiWhitespace(created.out));
  }
  if (absl::Status status = stack->StartScheduler(); !status.ok()) return status;
  return stack;
}

pid_t LocalStack::Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                        const std::string& log_path) {
  return SpawnWithOutput(argv, env, log_path, log_path);
}

absl::Status LocalStack::StartScheduler(const std::vector<std::string>& extra_flags) {
  for (int r = 0; r < static_cast<int>(ports_.size()); ++r) {
    if (scheduler_pids_[r] > 0) continue;
    if (absl::Status status = StartReplica(r, extra_flags); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status LocalStack::StartReplica(int replica, const std::vector<std::string>& extra_flags) {
  const int port = ports_.at(replica);
  // The first replica keeps the log name tests and people look for.
  const std::string log =
      absl::StrCat(directory_, replica == 0 ? "/scheduler.log" : absl::StrCat("/scheduler-", replica, ".log"));
  std::vector<std::string> argv = {absl::StrCat(build_dir_, "/server/expsvc-scheduler"),
                                   "serve",
                                   absl::StrCat("--db=", conninfo_),
                                   absl::StrCat("--listen=127.0.0.1:", port),
                                   absl::StrCat("--artifact_root=", directory_, "/artifacts"),
                                   absl::StrCat("--lease_ttl_ms=", options_.lease_ttl_ms),
                                   absl::StrCat("--retry_backoff_ms=", options_.retry_backoff_ms)};
  for (const auto& flag : options_.extra_scheduler_flags) argv.push_back(flag);
  for (const auto& flag : extra_flags) argv.push_back(flag);
  scheduler_pids_[replica] = Spawn(argv, {}, log);
  if (scheduler_pids_[replica] < 0) return absl::InternalError("cannot start expsvc-scheduler");
  const bool listening = WaitFor(
      [&] {
        return RunCommand({"/bin/bash", "-c", absl::StrCat("exec 3<>/dev/tcp/127.0.0.1/", port)}).exit_code == 0;
      },
      20);
  if (!listening) return absl::UnavailableError(absl::StrCat("scheduler did not start: ", ReadLog(log)));
  return absl::OkStatus();
}

void LocalStack::StopScheduler(int signal) {
  for (int r = 0; r < static_cast<int>(scheduler_pids_.size()); ++r) StopReplica(r, signal);
}

void LocalStack::StopReplica(int replica, int signal) {
  pid_t& pid = scheduler_pids_.at(replica);
  if (pid <= 0) return;
  ::kill(pid, signal);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

absl::StatusOr<int> LocalStack::StartWorker(int slots, const std::string& name) {
  const int index = static_cast<int>(worker_pids_.size());
  worker_argv_.push_back({absl::StrCat(build_dir_, "/worker/expsvc-worker"), absl::StrCat("--scheduler=", address()),
                          absl::StrCat("--name=", name), absl::StrCat("--slots=", slots),
                          absl::StrCat("--scratch_dir=", directory_, "/scratch-", index), "--lease_wait_ms=500"});
  worker_pids_.push_back(-1);
  if (absl::Status status = RestartWorker(index); !status.ok()) return status;
  return index;
}

absl::Status LocalStack::RestartWorker(int index) {
  if (worker_pids_.at(index) > 0) return absl::FailedPreconditionError("the worker is running");
  const pid_t pid = Spawn(worker_argv_.at(index), {{"EXPSVC_TOKEN", worker_token_}}, WorkerLog(index));
  if (pid < 0) return absl::InternalError("cannot start expsvc-worker");
  worker_pids_[index] = pid;
  return absl::OkStatus();
}

absl::Status LocalStack::RestartPostgres(bool immediate) {
  return postgres_->Restart(immediate);
}

void LocalStack::StopWorker(int index, int signal) {
  pid_t& pid = worker_pids_.at(index);
  if (pid <= 0) return;
  ::kill(pid, signal);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

std::string LocalStack::WorkerLog(int index) const {
  return absl::StrCat(directory_, "/worker-", index, ".log");
}

std::string LocalStack::address() const {
  std::string addresses;
  for (int r = 0; r < static_cast<int>(ports_.size()); ++r) {
    absl::StrAppend(&addresses, r == 0 ? "" : ",", replica_address(r));
  }
  return addresses;
}

std::string LocalStack::replica_address(int replica) const {
  return absl::StrCat("127.0.0.1:", ports_.at(replica));
}

CommandResult LocalStack::Expctl(const std::vector<std::string>& args, const std::string& token_override) const {
  std::vector<std::string> argv = {absl::StrCat(build_dir_, "/client/expctl")};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(
      argv, {{"EXPSVC_ADDR", address()}, {"EXPSVC_TOKEN", token_override.empty() ? user_token_ : token_override}});
}

LocalStack::~LocalStack() {
  for (size_t i = 0; i < worker_pids_.size(); ++i) StopWorker(static_cast<int>(i), SIGKILL);
  StopScheduler(SIGKILL);
  const char* keep = std::getenv("EXPSVC_TEST_KEEP_PG");
  if (!directory_.empty() && (keep == nullptr || std::string(keep) != "1")) {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
}

}  // namespace expsvc::testing
