#include "server/grpc/auth_context.h"
#include "server/grpc/services.h"

namespace expsvc::server {
namespace {
// Listeners are users (the dashboard forwards their token, or its own user
// token on a loopback dashboard); workers have no business here.
constexpr std::initializer_list<Role> kRaters = {Role::kUser};
}  // namespace

grpc::Status RatingServiceImpl::SubmitRating(grpc::ServerContext* context, const v1::SubmitRatingRequest* request,
                                             v1::SubmitRatingResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kRaters, [&]() -> absl::Status {
    auto stored = deps_.scheduler->SubmitRating(request->rating());
    if (!stored.ok()) return stored.status();
    *response->mutable_rating() = std::move(*stored);
    return absl::OkStatus();
  });
}

grpc::Status RatingServiceImpl::ListRatings(grpc::ServerContext* context, const v1::ListRatingsRequest* request,
                                            v1::ListRatingsResponse* response) {
  return AuthorizedCall(context, *deps_.authenticator, kRaters,
                        [&] { return AssignTo(deps_.scheduler->ListRatings(*request), response); });
}

}  // namespace expsvc::server
