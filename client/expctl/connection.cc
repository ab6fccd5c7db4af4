#include "client/expctl/connection.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/expctl/exit_codes.h"
#include "common/fs/file_io.h"
#include "common/net/scheduler_target.h"

namespace expsvc::expctl {
namespace {

// Metric series and long job lists can exceed gRPC's 4 MiB default.
constexpr int kMaxReceiveMessageBytes = 512 * 1024 * 1024;

// A file the user named; any failure is a usage error naming it.
absl::StatusOr<std::string> ReadUserFile(const std::string& path, absl::string_view what) {
  absl::StatusOr<std::string> content = fs::ReadFile(path);
  if (!content.ok())
    return UsageError(absl::StrCat("cannot read ", what, " '", path, "': ", content.status().message()));
  return content;
}

}  // namespace

absl::StatusOr<ConnectionOptions> ResolveConnectionOptions(const ParsedArgs& args, const EnvLookup& env) {
  auto env_or = [&env](const char* name, std::string fallback) {
    const char* value = env ? env(name) : nullptr;
    return (value != nullptr && *value != '\0') ? std::string(value) : fallback;
  };
  ConnectionOptions options;
  options.address = args.ValueOr("addr", env_or("EXPSVC_ADDR", kDefaultAddress));
  options.token = args.ValueOr("token", env_or("EXPSVC_TOKEN", ""));
  options.tls_ca_file = args.ValueOr("tls-ca", env_or("EXPSVC_TLS_CA", ""));
  if (options.address.empty()) return UsageError("--addr: the address is empty");
  absl::StatusOr<double> timeout = args.DoubleValueOr("timeout", kDefaultTimeoutSeconds);
  if (!timeout.ok()) return timeout.status();
  if (!(*timeout > 0) || !std::isfinite(*timeout)) {
    return UsageError(
        absl::StrCat("--timeout: expected a positive number of seconds, got '", args.ValueOr("timeout", ""), "'"));
  }
  options.timeout_seconds = *timeout;
  return options;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const ConnectionOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_ca_file.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    absl::StatusOr<std::string> ca_pem = ReadUserFile(options.tls_ca_file, "TLS CA file");
    if (!ca_pem.ok()) return ca_pem.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *std::move(ca_pem);
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  std::vector<std::string> skipped;
  absl::StatusOr<std::string> target = net::SchedulerTarget(options.address, &skipped);
  if (!target.ok()) return target.status();
  for (const std::string& line : skipped) std::fprintf(stderr, "expctl: %s; using the other replicas\n", line.c_str());
  // A list of replicas has no host name for the certificate check: the first's.
  if (!options.tls_ca_file.empty() && !net::SchedulerTlsName(options.address).empty()) {
    channel_args.SetSslTargetNameOverride(net::SchedulerTlsName(options.address));
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(*target, credentials, channel_args);
  return std::unique_ptr<Connection>(new Connection(options, std::move(channel)));
}

Connection::Connection(ConnectionOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      sweeps_(v1::SweepService::NewStub(channel_)),
      jobs_(v1::JobService::NewStub(channel_)),
      workers_(v1::WorkerService::NewStub(channel_)),
      metrics_(v1::MetricsService::NewStub(channel_)),
      artifacts_(v1::ArtifactService::NewStub(channel_)),
      ratings_(v1::RatingService::NewStub(channel_)) {}

std::chrono::system_clock::time_point Connection::Deadline() const {
  auto timeout = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::duration<double>(options_.timeout_seconds));
  return std::chrono::system_clock::now() + timeout;
}

void Connection::AddAuthorization(grpc::ClientContext& context) const {
  if (!options_.token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  }
}

std::unique_ptr<grpc::ClientContext> Connection::UnaryContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(Deadline());
  AddAuthorization(*context);
  return context;
}

std::unique_ptr<grpc::ClientContext> Connection::StreamContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  AddAuthorization(*context);
  return context;
}

absl::Status Connection::WaitUntilConnected() {
  if (channel_->WaitForConnected(Deadline())) return absl::OkStatus();
  return WithExitCode(absl::UnavailableError(absl::StrCat("cannot connect to ", options_.address, " within ",
                                                          options_.timeout_seconds, "s")),
                      kExitUnavailable);
}

absl::Status Connection::Check(const grpc::Status& status) const {
  if (status.ok()) return absl::OkStatus();
  auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string message = status.error_message();
  if (code == absl::StatusCode::kUnavailable) {
    return WithExitCode(absl::UnavailableError(absl::StrCat(message, " (server ", options_.address, ")")),
                        kExitUnavailable);
  }
  if (code == absl::StatusCode::kDeadlineExceeded &&
      channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
    return WithExitCode(absl::DeadlineExceededError(absl::StrCat("cannot connect to ", options_.address, " within ",
                                                                 options_.timeout_seconds, "s (", message, ")")),
                        kExitUnavailable);
  }
  return absl::Status(code, message);
}

}  // namespace expsvc::expctl
