// expsvc-scheduler: the gRPC scheduler.
//   expsvc-scheduler [serve] --db=... [--listen=127.0.0.1:50051] [--artifact_root=DIR]
//   expsvc-scheduler migrate --db=...
//   expsvc-scheduler create-token --db=... --role=user|worker|admin --name=NAME
//   expsvc-scheduler revoke-token --db=... --name=NAME

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <semaphore>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "server/auth/role.h"
#include "server/auth/token_authenticator.h"
#include "server/grpc/scheduler_server.h"
#include "server/storage/migrator.h"

namespace {
std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}
}  // namespace

ABSL_FLAG(std::string, db, EnvOr("EXPSVC_DB", ""), "libpq connection string (env EXPSVC_DB)");
ABSL_FLAG(std::string, listen, EnvOr("EXPSVC_LISTEN", "127.0.0.1:50051"), "address:port to listen on");
ABSL_FLAG(std::string, artifact_root, EnvOr("EXPSVC_ARTIFACT_ROOT", "artifacts"), "folder for artifact files");
ABSL_FLAG(std::string, migrations_dir, EnvOr("EXPSVC_MIGRATIONS_DIR", EXPSVC_DEFAULT_MIGRATIONS_DIR),
          "folder of NNNN_name.up.sql files");
ABSL_FLAG(int, pool_size, 8, "database connections");
ABSL_FLAG(int64_t, lease_ttl_ms, 30000, "lease time-to-live; workers heartbeat at a third of it");
ABSL_FLAG(int64_t, lease_grace_ms, 0,
          "after start-up or a database outage, running leases get this long to be renewed before the rescuer "
          "may take them (0: lease_ttl_ms)");
ABSL_FLAG(int64_t, retry_backoff_ms, 1000, "first retry delay; doubles per attempt");
ABSL_FLAG(int64_t, retry_backoff_max_ms, 60000, "longest retry delay");
ABSL_FLAG(int64_t, max_sweep_jobs, 100000, "largest sweep accepted, in jobs");
ABSL_FLAG(int32_t, max_lease_batch, 32,
          "concurrent lease and completion requests share one transaction (one commit), up to this many; 1: each alone");
ABSL_FLAG(std::string, tls_cert, EnvOr("EXPSVC_TLS_CERT", ""), "PEM certificate chain (enables TLS with --tls_key)");
ABSL_FLAG(std::string, tls_key, EnvOr("EXPSVC_TLS_KEY", ""), "PEM private key");
ABSL_FLAG(std::string, role, "user", "create-token: admin, user or worker");
ABSL_FLAG(std::string, name, "", "create-token: who the token is for; revoke-token: whose tokens to revoke");
ABSL_FLAG(int64_t, unrecorded_file_age_s, 600,
          "at start-up, files under the artifact root that no record points at are removed once untouched this long");
ABSL_FLAG(int64_t, token_cache_ms, 10000,
          "how long a token's role is cached; a revoked token is refused everywhere within this time");

namespace {

std::binary_semaphore shutdown_signal{0};

void OnSignal(int) {
  shutdown_signal.release();
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "expsvc-scheduler: %s\n", status.ToString().c_str());
  return 1;
}

int Serve() {
  expsvc::server::ServerOptions options;
  options.database = absl::GetFlag(FLAGS_db);
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.artifact_root = absl::GetFlag(FLAGS_artifact_root);
  options.migrations_dir = absl::GetFlag(FLAGS_migrations_dir);
  options.pool_size = absl::GetFlag(FLAGS_pool_size);
  options.token_cache_ms = absl::GetFlag(FLAGS_token_cache_ms);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.scheduler.lease_ttl_ms = absl::GetFlag(FLAGS_lease_ttl_ms);
  options.scheduler.lease_grace_ms = absl::GetFlag(FLAGS_lease_grace_ms);
  options.scheduler.unrecorded_file_age_s = absl::GetFlag(FLAGS_unrecorded_file_age_s);
  options.scheduler.retry_backoff_base_ms = absl::GetFlag(FLAGS_retry_backoff_ms);
  options.scheduler.retry_backoff_max_ms = absl::GetFlag(FLAGS_retry_backoff_max_ms);
  options.scheduler.max_sweep_jobs = absl::GetFlag(FLAGS_max_sweep_jobs);
  options.scheduler.max_lease_batch = absl::GetFlag(FLAGS_max_lease_batch);
  if (options.scheduler.lease_ttl_ms < 100) return Fail(absl::InvalidArgumentError("--lease_ttl_ms must be >= 100"));
  auto server = expsvc::server::SchedulerServer::Start(options);
  if (!server.ok()) return Fail(server.status());
  std::fprintf(stderr, "expsvc-scheduler: listening on port %d (artifacts in %s)\n", (*server)->port(),
               options.artifact_root.c_str());
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  shutdown_signal.acquire();
  std::fprintf(stderr, "expsvc-scheduler: shutting down\n");
  (*server)->Shutdown();
  return 0;
}

int Migrate() {
  auto report = expsvc::storage::ApplyMigrations(absl::GetFlag(FLAGS_db), absl::GetFlag(FLAGS_migrations_dir));
  if (!report.ok()) return Fail(report.status());
  std::printf("migrations: %d applied now, %d already applied\n", report->applied_now, report->already_applied);
  return 0;
}

int CreateToken() {
  auto role = expsvc::auth::ParseRole(absl::GetFlag(FLAGS_role));
  if (!role.ok()) return Fail(role.status());
  const std::string name = absl::GetFlag(FLAGS_name);
  if (name.empty()) return Fail(absl::InvalidArgumentError("create-token needs --name"));
  auto migrated = expsvc::storage::ApplyMigrations(absl::GetFlag(FLAGS_db), absl::GetFlag(FLAGS_migrations_dir));
  if (!migrated.ok()) return Fail(migrated.status());
  auto store = expsvc::storage::PostgresStore::Open(absl::GetFlag(FLAGS_db), 1);
  if (!store.ok()) return Fail(store.status());
  expsvc::auth::TokenAuthenticator authenticator(store->get());
  auto token = authenticator.CreateToken(name, *role);
  if (!token.ok()) return Fail(token.status());
  std::printf("%s\n", token->c_str());
  return 0;
}

}  // namespace

int RevokeToken() {
  const std::string name = absl::GetFlag(FLAGS_name);
  if (name.empty()) return Fail(absl::InvalidArgumentError("revoke-token needs --name"));
  auto store = expsvc::storage::PostgresStore::Open(absl::GetFlag(FLAGS_db), 1);
  if (!store.ok()) return Fail(store.status());
  auto revoked = (*store)->RevokeTokens(name);
  if (!revoked.ok()) return Fail(revoked.status());
  if (*revoked == 0) return Fail(absl::NotFoundError(absl::StrCat("no live token is named '", name, "'")));
  // Schedulers cache a token's role for --token_cache_ms.
  std::printf("revoked %lld token(s) named '%s'; refused everywhere within %lld ms\n", static_cast<long long>(*revoked),
              name.c_str(), static_cast<long long>(absl::GetFlag(FLAGS_token_cache_ms)));
  return 0;
}

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the expsvc scheduler\n  expsvc-scheduler [serve|migrate|create-token|revoke-token] --db=CONNINFO [flags]");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  const std::string command = positional.size() > 1 ? positional[1] : "serve";
  if (positional.size() > 2) {
    std::fprintf(stderr, "expsvc-scheduler: unexpected argument '%s'\n", positional[2]);
    return 2;
  }
  if (command == "serve") return Serve();
  if (command == "migrate") return Migrate();
  if (command == "create-token") return CreateToken();
  if (command == "revoke-token") return RevokeToken();
  std::fprintf(stderr, "expsvc-scheduler: unknown command '%s' (serve, migrate, create-token, revoke-token)\n",
               command.c_str());
  return 2;
}
