#pragma once
// The channel to the scheduler: address, TLS, the bearer token on every
// call, per-call deadlines, and the translation of a finished call's
// grpc::Status into an absl::Status carrying expctl's exit code.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "client/expctl/args.h"
#include "expsvc/v1/artifacts.grpc.pb.h"
#include "expsvc/v1/jobs.grpc.pb.h"
#include "expsvc/v1/metrics.grpc.pb.h"
#include "expsvc/v1/ratings.grpc.pb.h"
#include "expsvc/v1/sweeps.grpc.pb.h"
#include "expsvc/v1/workers.grpc.pb.h"

namespace expsvc::expctl {

inline constexpr char kDefaultAddress[] = "127.0.0.1:50051";
inline constexpr double kDefaultTimeoutSeconds = 30.0;

struct ConnectionOptions {
  std::string address = kDefaultAddress;
  // Sent as "authorization: Bearer <token>"; empty sends no header.
  std::string token;
  // PEM file of the CA that signed the server's certificate; empty means
  // plaintext.
  std::string tls_ca_file;
  // Deadline of each unary call, and how long a stream waits to connect.
  double timeout_seconds = kDefaultTimeoutSeconds;
};

// Environment lookup, injectable for tests; returns nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;

// Flags (--addr, --token, --tls-ca, --timeout) win over EXPSVC_ADDR,
// EXPSVC_TOKEN, EXPSVC_TLS_CA; usage error for a bad --timeout.
absl::StatusOr<ConnectionOptions> ResolveConnectionOptions(const ParsedArgs& args, const EnvLookup& env);

class Connection {
 public:
  // Creates the channel (it connects lazily, on the first call). Reading
  // the CA file is the only thing that can fail here: a usage error.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ConnectionOptions& options);

  // For one unary call: the deadline and the authorization header.
  std::unique_ptr<grpc::ClientContext> UnaryContext() const;
  // For a stream that may run for hours (watch, download): authorization
  // only. Call WaitUntilConnected() first so an unreachable server still
  // fails within the timeout.
  std::unique_ptr<grpc::ClientContext> StreamContext() const;
  absl::Status WaitUntilConnected();

  // OK stays OK. UNAVAILABLE, and DEADLINE_EXCEEDED while the channel
  // never got connected, mean "cannot connect" (exit 3); anything else the
  // server said is a refused operation (exit 1).
  absl::Status Check(const grpc::Status& status) const;

  // One unary call with UnaryContext():
  //   connection.Call(connection.sweeps(), &v1::SweepService::Stub::GetSweep,
  //                   request, &response);
  template <typename Stub, typename Request, typename Response>
  absl::Status Call(Stub& stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) const {
    std::unique_ptr<grpc::ClientContext> context = UnaryContext();
    return Check((stub.*method)(context.get(), request, response));
  }

  const ConnectionOptions& options() const { return options_; }
  v1::SweepService::Stub& sweeps() { return *sweeps_; }
  v1::JobService::Stub& jobs() { return *jobs_; }
  v1::WorkerService::Stub& workers() { return *workers_; }
  v1::MetricsService::Stub& metrics() { return *metrics_; }
  v1::ArtifactService::Stub& artifacts() { return *artifacts_; }
  v1::RatingService::Stub& ratings() { return *ratings_; }

 private:
  Connection(ConnectionOptions options, std::shared_ptr<grpc::Channel> channel);
  std::chrono::system_clock::time_point Deadline() const;
  void AddAuthorization(grpc::ClientContext& context) const;

  ConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SweepService::Stub> sweeps_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
  std::unique_ptr<v1::MetricsService::Stub> metrics_;
  std::unique_ptr<v1::ArtifactService::Stub> artifacts_;
  std::unique_ptr<v1::RatingService::Stub> ratings_;
};

}  // namespace expsvc::expctl
