#pragma once
// expsvc-dashboard: the JSON API (api_routes.h) and the built front end,
// served by cpp-httplib, reading PostgreSQL through a role that cannot write.
//
// It refuses to start when its database role is a superuser or may write
// any table, and every connection also runs with
// default_transaction_read_only. Bound to a loopback address it answers
// anyone on this machine; bound elsewhere, every API call needs a user (or
// admin) token, the same tokens as expctl's.

#include <memory>
#include <string>
#include <thread>

#include <httplib.h>

#include "absl/status/statusor.h"
#include "client/expctl/connection.h"
#include "client/web/api_routes.h"
#include "server/auth/token_authenticator.h"
#include "server/storage/postgres_store.h"

namespace expsvc::web {

struct DashboardOptions {
  // libpq connection string of the read-only role (expsvc_reader).
  std::string database;
  std::string host = "127.0.0.1";
  // 0 picks a free port.
  int port = 8080;
  std::string artifact_root;
  // The built front end (client/web/frontend/dist); empty: API only.
  std::string static_dir;
  int64_t worker_offline_after_ms = 30000;
  int pool_size = 4;
  // The scheduler that stores listening-test ratings; empty: ratings are off.
  std::string scheduler_address;
  // The user token a rating is sent with when the browser sent none (a
  // loopback dashboard asks for none); a token the browser sends wins.
  std::string scheduler_token;
  // PEM of the CA that signed the scheduler's certificate; empty: plaintext.
  std::string scheduler_tls_ca_file;
};

class DashboardServer {
 public:
  static absl::StatusOr<std::unique_ptr<DashboardServer>> Start(const DashboardOptions& options);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  int port() const { return port_; }
  bool requires_token() const { return requires_token_; }
  // Stops serving and joins the server's thread; call from one thread.
  void Stop();

 private:
  DashboardServer() = default;
  void Wait();

  std::unique_ptr<storage::PostgresStore> store_;
  std::unique_ptr<auth::TokenAuthenticator> tokens_;
  std::shared_ptr<expctl::Connection> scheduler_;
  ApiContext context_;
  httplib::Server http_;
  std::thread thread_;
  int port_ = 0;
  bool requires_token_ = false;
};

// Loopback addresses: 127.0.0.0/8, ::1, localhost.
bool IsLoopbackHost(const std::string& host);

}  // namespace expsvc::web
