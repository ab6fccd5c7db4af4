#include "server/testing/postgres_cluster.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace expsvc::testing {
namespace fs = std::filesystem;

int RunShell(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

int FindFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

namespace {
// Debian keeps initdb and pg_ctl out of PATH.
std::string FindPostgresBinDir() {
  for (const char* candidate : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                                "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/14/bin"}) {
    if (fs::exists(fs::path(candidate) / "initdb")) return candidate;
  }
  return "";
}
}  // namespace

absl::Status PostgresCluster::RunAsOwner(const std::string& command) const {
  const std::string full = as_postgres_user_ ? absl::StrCat("runuser -u postgres -- ", command) : command;
  const int status = RunShell(absl::StrCat(full, " > ", directory_, "/command.log 2>&1"));
  if (status != 0) {
    return absl::InternalError(
        absl::StrCat("'", command, "' failed with status ", status, "; see ", directory_, "/command.log"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(bool durable) {
  std::unique_ptr<PostgresCluster> cluster(new PostgresCluster());
  cluster->bin_dir_ = FindPostgresBinDir();
  if (cluster->bin_dir_.empty()) {
    return absl::FailedPreconditionError("PostgreSQL server binaries not found (apt-get install postgresql)");
  }
  char pattern[] = "/tmp/expsvc-pg-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return absl::InternalError("mkdtemp failed");
  cluster->directory_ = pattern;
  cluster->as_postgres_user_ = ::geteuid() == 0;
  if (cluster->as_postgres_user_) RunShell(absl::StrCat("chown postgres ", cluster->directory_));
  cluster->port_ = FindFreePort();
  const std::string data = absl::StrCat(cluster->directory_, "/data");
  absl::Status status = cluster->RunAsOwner(absl::StrCat(cluster->bin_dir_, "/initdb -D ", data,
                                                         " -A trust -U postgres -E UTF8", durable ? "" : " --no-sync"));
  if (!status.ok()) return status;
  // Throwaway clusters trade durability for speed; production keeps fsync.
  status = cluster->RunAsOwner(absl::StrCat(cluster->bin_dir_, "/pg_ctl -D ", data, " -w -l ", cluster->directory_,
                                            "/server.log -o \"-p ", cluster->port_, " -k ", cluster->directory_,
                                            " -c listen_addresses=127.0.0.1 -c max_connections=200",
                                            durable ? "" : " -c fsync=off", "\" start"));
  if (!status.ok()) return status;
  return cluster;
}

absl::Status PostgresCluster::Restart(bool immediate) {
  const std::string data = absl::StrCat(directory_, "/data");
  return RunAsOwner(absl::StrCat(bin_dir_, "/pg_ctl -D ", data, " -w -m ", immediate ? "immediate" : "fast", " restart"));
}

PostgresCluster::~PostgresCluster() {
  if (directory_.empty()) return;
  (void)RunAsOwner(absl::StrCat(bin_dir_, "/pg_ctl -D ", directory_, "/data -w -m immediate stop"));
  const char* keep = std::getenv("EXPSVC_TEST_KEEP_PG");
  if (keep == nullptr || std::string(keep) != "1") {
    std::error_code ignored;
    fs::remove_all(directory_, ignored);
  }
}

std::string PostgresCluster::ConnectionString(const std::string& name) const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres dbname=", name);
}

absl::StatusOr<std::string> PostgresCluster::CreateDatabase(const std::string& name) {
  const int status =
      RunShell(absl::StrCat("psql -q -h 127.0.0.1 -p ", port_, " -U postgres -d postgres -c 'CREATE DATABASE \"", name,
                            "\"' > /dev/null 2>&1"));
  if (status != 0) return absl::InternalError(absl::StrCat("CREATE DATABASE ", name, " failed"));
  return ConnectionString(name);
}

}  // namespace expsvc::testing
