#pragma once
// A throwaway PostgreSQL cluster for tests: initdb in a temporary folder (as
// the postgres user when running as root, since PostgreSQL refuses root), a
// free port on 127.0.0.1, stopped and deleted when the object goes away.
// Set EXPSVC_TEST_KEEP_PG=1 to keep the folder for a post-mortem.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace expsvc::testing {

class PostgresCluster {
 public:
  // durable=false turns fsync off (tests); benchmarks keep PostgreSQL's defaults.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(bool durable = false);
  ~PostgresCluster();

  // Creates a database and returns its libpq connection string.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);
  // Connection string of database `name` (which must exist).
  std::string ConnectionString(const std::string& name) const;
  int port() const { return port_; }
  // Stops and restarts the server (data kept), to test reconnects.
  // immediate: no clean shutdown (connections cut, crash recovery at start),
  // as a crash or a killed container does.
  absl::Status Restart(bool immediate = false);

 private:
  PostgresCluster() = default;
  absl::Status RunAsOwner(const std::string& command) const;

  std::string directory_;
  std::string bin_dir_;
  int port_ = 0;
  bool as_postgres_user_ = false;
};

// Runs a shell command; returns its exit status (or -1).
int RunShell(const std::string& command);
// A TCP port nobody listens on right now.
int FindFreePort();

}  // namespace expsvc::testing
