#pragma once
// A whole stack in processes, for end-to-end tests over loopback: a
// throwaway PostgreSQL, the real expsvc-scheduler binary, any number of
// expsvc-worker processes, and expctl invocations with captured output.

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/testing/postgres_cluster.h"

namespace expsvc::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv with env additions; captures stdout and stderr.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

class LocalStack {
 public:
  struct Options {
    int64_t lease_ttl_ms = 2000;
    int64_t retry_backoff_ms = 100;
    std::vector<std::string> extra_scheduler_flags;
    // Scheduler replicas on the one database; workers and expctl get all
    // their addresses and fail over between them.
    int replicas = 1;
  };
  static absl::StatusOr<std::unique_ptr<LocalStack>> Start(const Options& options);
  ~LocalStack();

  // Starts every replica not running; extra_flags: added to the Options'
  // for this start only.
  absl::Status StartScheduler(const std::vector<std::string>& extra_flags = {});
  absl::Status StartReplica(int replica, const std::vector<std::string>& extra_flags = {});
  // Every replica, or one: SIGKILL (crash) or SIGTERM (clean stop).
  void StopScheduler(int signal);
  void StopReplica(int replica, int signal);
  // Returns the worker's index.
  absl::StatusOr<int> StartWorker(int slots, const std::string& name);
  void StopWorker(int index, int signal);
  // Starts a stopped worker again with the same settings (and scratch root).
  absl::Status RestartWorker(int index);
  // Restarts PostgreSQL under the running services (see PostgresCluster).
  absl::Status RestartPostgres(bool immediate);
  // The scheduler database, for tests that check what was stored.
  const std::string& conninfo() const { return conninfo_; }
  std::string artifact_root() const { return directory_ + "/artifacts"; }

  CommandResult Expctl(const std::vector<std::string>& args, const std::string& token_override = "") const;
  // Every replica's host:port, comma-separated (what workers and expctl get).
  std::string address() const;
  std::string replica_address(int replica) const;
  const std::string& user_token() const { return user_token_; }
  const std::string& worker_token() const { return worker_token_; }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& directory() const { return directory_; }
  std::string WorkerLog(int index) const;

 private:
  LocalStack() = default;
  pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::string& log_path);

  Options options_;
  std::unique_ptr<PostgresCluster> postgres_;
  std::string conninfo_;
  std::string directory_;
  std::string build_dir_;
  std::vector<int> ports_;
  std::vector<pid_t> scheduler_pids_;
  std::vector<pid_t> worker_pids_;
  std::vector<std::vector<std::string>> worker_argv_;
  std::string user_token_, worker_token_, admin_token_;
};

// Polls `condition` every 50 ms for up to `seconds`.
bool WaitFor(const std::function<bool()>& condition, double seconds);

}  // namespace expsvc::testing
