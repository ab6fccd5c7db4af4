#include "server/grpc/scheduler_server.h"

#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "server/storage/migrator.h"
#include "server/storage/network_timeouts.h"

namespace expsvc::server {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) return grpc::InsecureServerCredentials();
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls_cert and --tls_key");
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  EXPSVC_ASSIGN_OR_RETURN(pair.cert_chain, fs::ReadFile(options.tls_cert_file));
  EXPSVC_ASSIGN_OR_RETURN(pair.private_key, fs::ReadFile(options.tls_key_file));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SchedulerServer>> SchedulerServer::Start(const ServerOptions& options) {
  if (options.database.empty()) return absl::InvalidArgumentError("no database given (--db or EXPSVC_DB)");
  EXPSVC_ASSIGN_OR_RETURN(auto report, storage::ApplyMigrations(options.database, options.migrations_dir));
  std::fprintf(stderr, "expsvc-scheduler: schema ok (%d migrations applied now, %d before)\n", report.applied_now,
               report.already_applied);
  std::unique_ptr<SchedulerServer> server(new SchedulerServer());
  EXPSVC_ASSIGN_OR_RETURN(server->store_, storage::PostgresStore::Open(options.database, options.pool_size));
  server->artifacts_ = std::make_unique<scheduler::ArtifactStore>(options.artifact_root);
  EXPSVC_RETURN_IF_ERROR(server->artifacts_->Initialize());
  server->scheduler_ =
      std::make_unique<scheduler::Scheduler>(server->store_.get(), server->artifacts_.get(), options.scheduler);
  server->authenticator_ = std::make_unique<auth::TokenAuthenticator>(
      server->store_.get(), std::chrono::milliseconds(options.token_cache_ms));
  EXPSVC_RETURN_IF_ERROR(server->authenticator_->LoadJobTokenKey());
  ServiceDeps deps{server->scheduler_.get(), server->authenticator_.get()};
  server->sweeps_ = std::make_unique<SweepServiceImpl>(deps);
  server->jobs_ = std::make_unique<JobServiceImpl>(deps);
  server->workers_ = std::make_unique<WorkerServiceImpl>(deps);
  server->metrics_ = std::make_unique<MetricsServiceImpl>(deps);
  server->artifact_service_ = std::make_unique<ArtifactServiceImpl>(deps);
  server->ratings_ = std::make_unique<RatingServiceImpl>(deps);

  EXPSVC_ASSIGN_OR_RETURN(auto credentials, Credentials(options));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, credentials, &server->port_);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(server->sweeps_.get());
  builder.RegisterService(server->jobs_.get());
  builder.RegisterService(server->workers_.get());
  builder.RegisterService(server->metrics_.get());
  builder.RegisterService(server->artifact_service_.get());
  builder.RegisterService(server->ratings_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address));
  }
  server->scheduler_->Start();
  scheduler::Scheduler* scheduler = server->scheduler_.get();
  // The same network time limits as the store's: a LISTEN on a host cut off
  // is noticed and reopened by keepalives, not after TCP's minutes.
  EXPSVC_ASSIGN_OR_RETURN(std::string listen_database, storage::WithNetworkTimeouts(options.database));
  server->work_listener_ = std::make_unique<scheduler::WorkListener>(
      std::move(listen_database), [scheduler] { scheduler->WakeLeaseWaiters(); });
  server->work_listener_->Start();
  return server;
}

void SchedulerServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (work_listener_ != nullptr) work_listener_->Stop();
  scheduler_->Stop();
  // Long-polling leases return within their poll interval; give them a moment.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

SchedulerServer::~SchedulerServer() {
  Shutdown();
}

}  // namespace expsvc::server
