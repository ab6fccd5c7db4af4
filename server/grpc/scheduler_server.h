#pragma once
// Owns the pieces of a running scheduler: store, artifact folder, scheduler
// logic, the gRPC services and the server (with the standard health service).

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "server/auth/token_authenticator.h"
#include "server/grpc/services.h"
#include "server/scheduler/scheduler.h"
#include "server/scheduler/work_listener.h"

namespace expsvc::server {

struct ServerOptions {
  std::string listen_address = "127.0.0.1:50051";
  std::string database = "";  // libpq connection string
  std::string artifact_root = "artifacts";
  std::string migrations_dir;
  int pool_size = 8;
  // How long a token's role is cached: a revoked token works at most this long.
  int64_t token_cache_ms = 10000;
  // Optional TLS: both files, PEM.
  std::string tls_cert_file;
  std::string tls_key_file;
  scheduler::SchedulerOptions scheduler;
};

class SchedulerServer {
 public:
  // Applies migrations, opens the pool, starts listening and the rescuer.
  static absl::StatusOr<std::unique_ptr<SchedulerServer>> Start(const ServerOptions& options);
  ~SchedulerServer();

  int port() const { return port_; }
  // For benchmarks and tests that look inside.
  scheduler::Scheduler& scheduler() { return *scheduler_; }
  const scheduler::WorkListener& work_listener() const { return *work_listener_; }
  void Wait() { server_->Wait(); }
  void Shutdown();

 private:
  SchedulerServer() = default;

  std::unique_ptr<storage::PostgresStore> store_;
  std::unique_ptr<scheduler::ArtifactStore> artifacts_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  // Wakes the scheduler's long-polls on work announced by other replicas.
  std::unique_ptr<scheduler::WorkListener> work_listener_;
  std::unique_ptr<auth::TokenAuthenticator> authenticator_;
  std::unique_ptr<SweepServiceImpl> sweeps_;
  std::unique_ptr<JobServiceImpl> jobs_;
  std::unique_ptr<WorkerServiceImpl> workers_;
  std::unique_ptr<MetricsServiceImpl> metrics_;
  std::unique_ptr<ArtifactServiceImpl> artifact_service_;
  std::unique_ptr<RatingServiceImpl> ratings_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace expsvc::server
