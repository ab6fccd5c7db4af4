#include <algorithm>
#include <thread>

#include "google/protobuf/util/message_differencer.h"
#include "server/grpc/auth_context.h"
#include "server/grpc/services.h"

namespace expsvc::server {
namespace {
constexpr std::initializer_list<Role> kUsers = {Role::kUser};
}  // namespace

grpc::Status SweepServiceImpl::SubmitSweep(grpc::ServerContext* context, const v1::SubmitSweepRequest* request,
                                           v1::SubmitSweepResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers,
                        [&] { return AssignTo(deps_.scheduler->SubmitSweep(*request), response); });
}

grpc::Status SweepServiceImpl::GetSweep(grpc::ServerContext* context, const v1::GetSweepRequest* request,
                                        v1::GetSweepResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers, [&] {
    return AssignTo(deps_.scheduler->GetSweep(request->sweep_id()), response->mutable_sweep());
  });
}

grpc::Status SweepServiceImpl::ListSweeps(grpc::ServerContext* context, const v1::ListSweepsRequest* request,
                                          v1::ListSweepsResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers,
                        [&] { return AssignTo(deps_.scheduler->ListSweeps(*request), response); });
}

grpc::Status SweepServiceImpl::CancelSweep(grpc::ServerContext* context, const v1::CancelSweepRequest* request,
                                           v1::CancelSweepResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers,
                        [&] { return AssignTo(deps_.scheduler->CancelSweep(*request), response); });
}

grpc::Status SweepServiceImpl::WatchSweep(grpc::ServerContext* context, const v1::WatchSweepRequest* request,
                                          grpc::ServerWriter<v1::WatchSweepResponse>* writer) {
  return AuthorizedCall(context, *deps_.authenticator, kUsers, [&]() -> absl::Status {
    const auto interval = std::chrono::milliseconds(
        request->poll_interval_ms() > 0 ? std::clamp(request->poll_interval_ms(), 50, 10000) : 500);
    std::optional<v1::StateCounts> last_sent;
    while (!context->IsCancelled()) {
      auto sweep = deps_.scheduler->GetSweep(request->sweep_id());
      if (!sweep.ok()) return sweep.status();
      const bool changed =
          !last_sent.has_value() || !google::protobuf::util::MessageDifferencer::Equals(*last_sent, sweep->counts());
      if (changed) {
        last_sent = sweep->counts();
        v1::WatchSweepResponse update;
        sweep->clear_spec_yaml();
        *update.mutable_sweep() = *sweep;
        if (!writer->Write(update)) return absl::OkStatus();  // the client left
      }
      if (sweep->state() != "running") return absl::OkStatus();
      // Short naps, so a client that left (or a shutdown) frees the thread soon.
      for (auto slept = std::chrono::milliseconds(0); slept < interval && !context->IsCancelled();
           slept += std::chrono::milliseconds(50)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace expsvc::server
