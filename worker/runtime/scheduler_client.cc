#include "worker/runtime/scheduler_client.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fs/file_io.h"
#include "common/sha256.h"
#include "common/net/scheduler_target.h"
#include "common/status_macros.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace expsvc::worker {
namespace {

namespace v1 = expsvc::v1;

// gRPC and absl share the canonical code numbering.
absl::Status FromGrpc(const grpc::Status& status, absl::string_view rpc) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(rpc, ": ", status.error_message()));
}

// Streams of large artifacts need longer than a unary call.
absl::Duration TransferTimeout(int64_t size_bytes) {
  return SchedulerClient::kCallTimeout + absl::Seconds(2) * (size_bytes / (1 << 20) + 1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SchedulerClient>> SchedulerClient::Connect(
    const std::string& address, std::string token, const std::optional<std::string>& tls_ca_file) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls_ca_file.has_value()) {
    grpc::SslCredentialsOptions ssl;
    EXPSVC_ASSIGN_OR_RETURN(ssl.pem_root_certs, fs::ReadFile(*tls_ca_file));
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  // gRPC's own reconnect backoff grows to 2 minutes by default; keep it near
  // ours so a restarted scheduler is picked up within seconds. Not
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: despite its name it is the time a
  // connection attempt (TCP, TLS and HTTP/2 handshakes) may take, and at
  // 100 ms no worker could connect across a 100 ms round trip (the
  // multi-host test's latency fault found this).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetMaxReceiveMessageSize(64 << 20);
  std::vector<std::string> skipped;
  EXPSVC_ASSIGN_OR_RETURN(const std::string target, net::SchedulerTarget(address, &skipped));
  for (const std::string& line : skipped) std::fprintf(stderr, "expsvc-worker: %s; using the other replicas\n", line.c_str());
  // A list of replicas has no host name for the certificate check: the first's.
  if (tls_ca_file.has_value() && !net::SchedulerTlsName(address).empty()) {
    args.SetSslTargetNameOverride(net::SchedulerTlsName(address));
  }
  return std::make_unique<SchedulerClient>(grpc::CreateCustomChannel(target, credentials, args), std::move(token));
}

SchedulerClient::SchedulerClient(std::shared_ptr<grpc::Channel> channel, std::string token)
    : channel_(std::move(channel)),
      authorization_(absl::StrCat("Bearer ", token)),
      workers_(v1::WorkerService::NewStub(channel_)),
      artifacts_(v1::ArtifactService::NewStub(channel_)) {}

void SchedulerClient::Prepare(grpc::ClientContext& context, absl::Duration timeout) const {
  context.AddMetadata("authorization", authorization_);
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

absl::StatusOr<v1::RegisterWorkerResponse> SchedulerClient::RegisterWorker(const v1::RegisterWorkerRequest& request) {
  grpc::ClientContext context;
  Prepare(context, kCallTimeout);
  v1::RegisterWorkerResponse response;
  EXPSVC_RETURN_IF_ERROR(FromGrpc(workers_->RegisterWorker(&context, request, &response), "RegisterWorker"));
  return response;
}

absl::StatusOr<v1::LeaseJobsResponse> SchedulerClient::LeaseJobs(const v1::LeaseJobsRequest& request) {
  grpc::ClientContext context;
  Prepare(context, kCallTimeout + absl::Milliseconds(request.wait_ms()));
  v1::LeaseJobsResponse response;
  EXPSVC_RETURN_IF_ERROR(FromGrpc(workers_->LeaseJobs(&context, request, &response), "LeaseJobs"));
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> SchedulerClient::Heartbeat(const v1::HeartbeatRequest& request) {
  grpc::ClientContext context;
  Prepare(context, kCallTimeout);
  v1::HeartbeatResponse response;
  EXPSVC_RETURN_IF_ERROR(FromGrpc(workers_->Heartbeat(&context, request, &response), "Heartbeat"));
  return response;
}

absl::Status SchedulerClient::ReportMetrics(const v1::ReportMetricsRequest& request) {
  grpc::ClientContext context;
  Prepare(context, kCallTimeout);
  v1::ReportMetricsResponse response;
  return FromGrpc(workers_->ReportMetrics(&context, request, &response), "ReportMetrics");
}

absl::Status SchedulerClient::AppendLogs(const v1::AppendLogsRequest& request) {
  grpc::ClientContext context;
  Prepare(context, kCallTimeout);
  v1::AppendLogsResponse response;
  return FromGrpc(workers_->AppendLogs(&context, request, &response), "AppendLogs");
}

absl::StatusOr<v1::CompleteJobsResponse> SchedulerClient::CompleteJobs(const v1::CompleteJobsRequest& request) {
  grpc::ClientContext context;
  Prepare(context, kCallTimeout);
  v1::CompleteJobsResponse response;
  EXPSVC_RETURN_IF_ERROR(FromGrpc(workers_->CompleteJobs(&context, request, &response), "CompleteJobs"));
  return response;
}

absl::StatusOr<v1::FailJobResponse> SchedulerClient::FailJob(const v1::FailJobRequest& request,
                                                             absl::Duration timeout) {
  grpc::ClientContext context;
  Prepare(context, timeout);
  v1::FailJobResponse response;
  EXPSVC_RETURN_IF_ERROR(FromGrpc(workers_->FailJob(&context, request, &response), "FailJob"));
  return response;
}

absl::StatusOr<v1::ArtifactRef> SchedulerClient::UploadArtifact(const v1::JobLease& lease, absl::string_view name,
                                                                const std::string& local_path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(local_path, error);
  if (error) {
    return absl::NotFoundError(absl::StrCat("artifact '", name, "': cannot read ", local_path, ": ", error.message()));
  }
  EXPSVC_ASSIGN_OR_RETURN(std::string sha256, Sha256HexOfFile(local_path));
  std::ifstream in(local_path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("artifact '", name, "': cannot open ", local_path));

  grpc::ClientContext context;
  Prepare(context, TransferTimeout(static_cast<int64_t>(size)));
  v1::UploadArtifactResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadArtifactRequest>> writer = workers_->UploadArtifact(&context, &response);

  v1::UploadArtifactRequest message;
  v1::ArtifactHeader* header = message.mutable_header();
  *header->mutable_lease() = lease;
  header->set_name(std::string(name));
  header->set_size_bytes(static_cast<int64_t>(size));
  header->set_sha256(sha256);
  // A failed Write means the stream is broken; Finish() says why.
  bool stream_ok = writer->Write(message);
  std::vector<char> buffer(kChunkBytes);
  while (stream_ok && in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize got = in.gcount();
    if (got <= 0) break;
    message.Clear();
    message.set_chunk(buffer.data(), static_cast<size_t>(got));
    stream_ok = writer->Write(message);
  }
  const bool read_failed = in.bad();
  if (stream_ok) writer->WritesDone();
  if (read_failed) context.TryCancel();
  absl::Status status = FromGrpc(writer->Finish(), "UploadArtifact");
  if (read_failed) return absl::DataLossError(absl::StrCat("artifact '", name, "': error reading ", local_path));
  EXPSVC_RETURN_IF_ERROR(status);
  return response.artifact();
}

absl::Status SchedulerClient::DownloadArtifact(const v1::ArtifactRef& artifact, const std::string& local_path) {
  grpc::ClientContext context;
  Prepare(context, TransferTimeout(artifact.size_bytes()));
  v1::DownloadArtifactRequest request;
  request.set_artifact_id(artifact.id());
  std::unique_ptr<grpc::ClientReader<v1::DownloadArtifactResponse>> reader =
      artifacts_->DownloadArtifact(&context, request);

  const std::string partial_path = local_path + ".part";
  std::ofstream out(partial_path, std::ios::binary | std::ios::trunc);
  if (!out) {
    context.TryCancel();
    reader->Finish();
    return absl::InternalError(absl::StrCat("cannot write ", partial_path));
  }
  std::optional<v1::ArtifactRef> metadata;
  Sha256Hasher hasher;
  int64_t received = 0;
  v1::DownloadArtifactResponse message;
  while (reader->Read(&message)) {
    if (message.has_artifact()) {
      metadata = message.artifact();
    } else {
      hasher.Update(message.chunk());
      out.write(message.chunk().data(), static_cast<std::streamsize>(message.chunk().size()));
      received += static_cast<int64_t>(message.chunk().size());
    }
  }
  out.close();
  absl::Status status = FromGrpc(reader->Finish(), "DownloadArtifact");
  auto fail = [&](absl::Status error) {
    std::error_code ignored;
    std::filesystem::remove(partial_path, ignored);
    return error;
  };
  if (!status.ok()) return fail(status);
  if (!out) return fail(absl::InternalError(absl::StrCat("error writing ", partial_path)));

  const std::string what = absl::StrCat("artifact ", artifact.id(), " ('", artifact.name(), "')");
  const std::string sha256 = hasher.FinishHex();
  const std::string& expected_sha256 =
      metadata.has_value() && !metadata->sha256().empty() ? metadata->sha256() : artifact.sha256();
  if (!expected_sha256.empty() && sha256 != expected_sha256) {
    return fail(
        absl::DataLossError(absl::StrCat(what, ": sha256 mismatch: got ", sha256, ", expected ", expected_sha256)));
  }
  const int64_t expected_size = metadata.has_value() ? metadata->size_bytes() : artifact.size_bytes();
  if (received != expected_size) {
    return fail(absl::DataLossError(absl::StrCat(what, ": got ", received, " bytes, expected ", expected_size)));
  }
  std::error_code error;
  std::filesystem::rename(partial_path, local_path, error);
  if (error) return fail(absl::InternalError(absl::StrCat("cannot rename to ", local_path, ": ", error.message())));
  return absl::OkStatus();
}

}  // namespace expsvc::worker
