#include "client/web/dashboard_server.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "server/auth/job_token.h"
#include "server/auth/token_authenticator.h"

namespace expsvc::web {
namespace {

std::string BearerToken(const httplib::Request& request) {
  const std::string header = request.get_header_value("Authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  return header.rfind(kPrefix, 0) == 0 ? header.substr(kPrefix.size()) : "";
}

// Sends a rating to the scheduler with the browser's token, else ours.
absl::StatusOr<expsvc::v1::Rating> SubmitRatingVia(expctl::Connection& scheduler, const std::string& fallback_token,
                                                   const httplib::Request& request, const expsvc::v1::Rating& rating) {
  std::string token = BearerToken(request);
  if (token.empty()) token = fallback_token;
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "a rating needs a user token (the dashboard has none for the scheduler: start it with "
        "--scheduler_token_file, or send Authorization: Bearer <token>)");
  }
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(scheduler.options().timeout_seconds * 1000)));
  call.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  expsvc::v1::SubmitRatingRequest message;
  *message.mutable_rating() = rating;
  expsvc::v1::SubmitRatingResponse response;
  const grpc::Status status = scheduler.ratings().SubmitRating(&call, message, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("the scheduler did not store the rating: ",
                                     status.error_message().empty() ? absl::StrCat("gRPC status ", status.error_code())
                                                                    : status.error_message()));
  }
  return response.rating();
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

namespace {
// The host part of a Host header: "127.0.0.1:8080" -> "127.0.0.1", "[::1]:80" -> "::1".
std::string HostOfHeader(const std::string& header) {
  if (!header.empty() && header.front() == '[') {
    const size_t close = header.find(']');
    return close == std::string::npos ? header : header.substr(1, close - 1);
  }
  return header.substr(0, header.find(':'));
}
}  // namespace

absl::StatusOr<std::unique_ptr<DashboardServer>> DashboardServer::Start(const DashboardOptions& options) {
  if (options.database.empty()) {
    return absl::InvalidArgumentError("no database given (--db: the read-only role's connection string)");
  }
  std::unique_ptr<DashboardServer> server(new DashboardServer());
  // Belt and braces: even a mis-granted role cannot write through us.
  EXPSVC_ASSIGN_OR_RETURN(server->store_,
                          storage::PostgresStore::Open(absl::StrCat(options.database,
                                                                    " options='-c default_transaction_read_only=on'"),
                                                       options.pool_size));
  EXPSVC_ASSIGN_OR_RETURN(storage::WriteAccess access, server->store_->CurrentRoleWriteAccess());
  if (access.superuser) {
    return absl::FailedPreconditionError(
        "the dashboard's database role is a superuser; connect as the read-only role expsvc_reader "
        "(created by the scheduler's migrations), e.g. user=expsvc_reader in --db");
  }
  if (!access.writable_tables.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("the dashboard's database role may write tables (",
                                                      absl::StrJoin(access.writable_tables, ", "),
                                                      "); connect as the read-only role expsvc_reader"));
  }

  server->requires_token_ = !IsLoopbackHost(options.host);
  server->context_.store = server->store_.get();
  server->context_.artifact_root = options.artifact_root;
  server->context_.worker_offline_after_ms = options.worker_offline_after_ms;
  if (!server->requires_token_) {
    // A loopback dashboard trusts its callers, so it answers only requests
    // addressed to a loopback name: a web page that rebinds its own domain
    // to 127.0.0.1, or a reverse proxy passing its public name, is refused
    // (a proxied dashboard must listen beyond loopback and ask for tokens).
    server->context_.authorize = [](const httplib::Request& request) -> absl::Status {
      const std::string host = HostOfHeader(request.get_header_value("Host"));
      if (host.empty() || IsLoopbackHost(host)) return absl::OkStatus();
      return absl::PermissionDeniedError(absl::StrCat(
          "this dashboard listens on loopback and answers only requests for 127.0.0.1 or localhost, not '", host,
          "'; behind a proxy, start it with --listen on a non-loopback address (it then asks for user tokens)"));
    };
  }
  if (server->requires_token_) {
    // The scheduler's own token check, with its short cache: not a database
    // round trip per API call.
    server->tokens_ = std::make_unique<auth::TokenAuthenticator>(server->store_.get());
    auth::TokenAuthenticator* tokens = server->tokens_.get();
    server->context_.authorize = [tokens](const httplib::Request& request) -> absl::Status {
      const std::string token = BearerToken(request);
      if (token.empty()) return absl::UnauthenticatedError("this dashboard needs a user token: Authorization: Bearer <token>");
      // Checked first: verifying one would need the signing key, which this role may not read.
      if (auth::IsJobToken(token)) return absl::PermissionDeniedError("a job token cannot read the dashboard");
      EXPSVC_ASSIGN_OR_RETURN(auth::Role role, tokens->Authenticate(token));
      if (role == auth::Role::kWorker) return absl::PermissionDeniedError("a worker token cannot read the dashboard");
      return absl::OkStatus();
    };
  }
  if (!options.scheduler_address.empty()) {
    expctl::ConnectionOptions connection;
    connection.address = options.scheduler_address;
    connection.tls_ca_file = options.scheduler_tls_ca_file;
    connection.timeout_seconds = 10;
    EXPSVC_ASSIGN_OR_RETURN(std::unique_ptr<expctl::Connection> opened, expctl::Connection::Open(connection));
    server->scheduler_ = std::move(opened);
    server->context_.submit_rating = [scheduler = server->scheduler_, token = options.scheduler_token](
                                         const httplib::Request& request, const expsvc::v1::Rating& rating) {
      return SubmitRatingVia(*scheduler, token, request, rating);
    };
  }
  RegisterApiRoutes(server->http_, server->context_);
  if (!options.static_dir.empty()) {
    if (!std::filesystem::is_directory(options.static_dir)) {
      return absl::NotFoundError(absl::StrCat("--static_dir ", options.static_dir, " is not a folder (build the front end)"));
    }
    server->http_.set_mount_point("/", options.static_dir);
  }
  server->http_.set_payload_max_length(1 << 20);
  if (options.port == 0) {
    server->port_ = server->http_.bind_to_any_port(options.host);
  } else {
    server->port_ = server->http_.bind_to_port(options.host, options.port) ? options.port : -1;
  }
  if (server->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.host, ":", options.port));
  }
  DashboardServer* raw = server.get();
  server->thread_ = std::thread([raw] { raw->http_.listen_after_bind(); });
  // stop() before the listen loop runs would be lost (httplib checks
  // is_running): return only once it runs.
  for (int i = 0; i < 1000 && !server->http_.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return server;
}

void DashboardServer::Wait() {
  if (thread_.joinable()) thread_.join();
}

void DashboardServer::Stop() {
  http_.stop();
  Wait();
}

DashboardServer::~DashboardServer() {
  Stop();
}

}  // namespace expsvc::web
