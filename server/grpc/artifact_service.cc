#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/grpc/auth_context.h"
#include "server/grpc/services.h"

namespace expsvc::server {
namespace {
// Workers download their parents' outputs and their own checkpoints.
constexpr std::initializer_list<Role> kReaders = {Role::kUser, Role::kWorker};
constexpr size_t kChunkBytes = 1 << 20;
}  // namespace

grpc::Status ArtifactServiceImpl::ListArtifacts(grpc::ServerContext* context, const v1::ListArtifactsRequest* request,
                                                v1::ListArtifactsResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kReaders,
                        [&] { return AssignTo(deps_.scheduler->ListArtifacts(*request), response); });
}

grpc::Status ArtifactServiceImpl::DownloadArtifact(grpc::ServerContext* context,
                                                   const v1::DownloadArtifactRequest* request,
                                                   grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) {
  return AuthorizedCall(context, *deps_.authenticator, kReaders, [&]() -> absl::Status {
    auto artifact = deps_.scheduler->GetArtifact(request->artifact_id());
    if (!artifact.ok()) return artifact.status();
    std::ifstream in(artifact->storage_path, std::ios::binary);
    if (!in) {
      return absl::DataLossError(absl::StrCat("artifact ", request->artifact_id(), " is recorded but its file ",
                                              artifact->storage_path, " is missing"));
    }
    v1::DownloadArtifactResponse message;
    *message.mutable_artifact() = artifact->ref;
    if (!writer->Write(message)) return absl::OkStatus();
    std::vector<char> buffer(kChunkBytes);
    while (in && !context->IsCancelled()) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      if (in.gcount() <= 0) break;
      message.set_chunk(buffer.data(), static_cast<size_t>(in.gcount()));
      if (!writer->Write(message)) break;
    }
    return absl::OkStatus();
  });
}

}  // namespace expsvc::server
