#pragma once
// The dashboard's JSON API under /api/, every route read-only. Errors are
// JSON {"error": "..."} with 400 (bad id or query parameter), 401 (token),
// 404 (no such sweep, job, artifact or route) or 500 (the database failed);
// a handler never lets an exception out. Records are the JSON of
// `expctl --output json` (client/expctl/proto_json.h).

#include <cstdint>
#include <functional>
#include <string>

#include <httplib.h>

#include "absl/status/status.h"
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
};

// `context` must outlive the server.
void RegisterApiRoutes(httplib::Server& server, const ApiContext& context);

// absl status -> HTTP status.
int HttpStatusOf(const absl::Status& status);

}  // namespace expsvc::web
