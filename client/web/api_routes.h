#pragma once
// The dashboard's JSON API under /api/, every route read-only but one (a
// listening-test rating, passed on to the scheduler). Errors are
// JSON {"error": "..."} with 400 (bad id or query parameter), 401 (token),
// 404 (no such sweep, job, artifact or route) or 500 (the database failed);
// a handler never lets an exception out. Records are the JSON of
// `expctl --output json` (client/expctl/proto_json.h).

#include <cstdint>
#include <functional>
#include <string>

#include <httplib.h>

#include "absl/status/status.h"
#include "expsvc/v1/ratings.pb.h"
#include "server/storage/postgres_store.h"

namespace expsvc::web {

struct ApiContext {
  storage::PostgresStore* store = nullptr;
  // Where the scheduler keeps artifact files (its --artifact_root).
  std::string artifact_root;
  // A worker not seen for this long is offline (the scheduler's lease TTL).
  int64_t worker_offline_after_ms = 30000;
  // Checks the request's credentials; OK when none are needed.
  std::function<absl::Status(const httplib::Request&)> authorize;
  // Stores a listening-test rating through the scheduler's RatingService
  // (the dashboard's own role cannot write); unset: ratings are off.
  std::function<absl::StatusOr<expsvc::v1::Rating>(const httplib::Request&, const expsvc::v1::Rating&)>
      submit_rating;
};

// `context` must outlive the server. Also registers the music study's
// (music_routes.h) and the SAE study's (sae_routes.h) routes.
void RegisterApiRoutes(httplib::Server& server, const ApiContext& context);

// absl status -> HTTP status.
int HttpStatusOf(const absl::Status& status);

}  // namespace expsvc::web
