#pragma once
// What every dashboard route shares: the guard (authorize, absl::Status to a
// JSON error, exception to 500), JSON answers, query parameters, and opening
// an artifact's file only from under the artifact root.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <httplib.h>

#include "absl/status/statusor.h"
#include "client/web/api_routes.h"
#include "expsvc/v1/sweeps.pb.h"
#include "nlohmann/json.hpp"

namespace expsvc::web {

using JsonHandler = std::function<absl::StatusOr<nlohmann::json>(const httplib::Request&)>;

std::optional<std::string> Query(const httplib::Request& request, const char* name);

void SendError(httplib::Response& response, const absl::Status& status);

// Authorizes, then runs `body`; a status it returns becomes the JSON error,
// and an exception a 500 with its text.
httplib::Server::Handler GuardedRoute(const ApiContext& context,
                                      std::function<absl::Status(const httplib::Request&, httplib::Response&)> body);

// A route answering the JSON its handler returns (never cached).
httplib::Server::Handler JsonRoute(const ApiContext& context, JsonHandler handler);

absl::StatusOr<expsvc::v1::Sweep> FindSweep(const ApiContext& context, const std::string& id_text);

struct ArtifactFile {
  storage::StoredArtifact artifact;
  std::filesystem::path path;
};

// The record and its file, which must lie under the artifact root and
// exist: NOT_FOUND otherwise (downloads are off without a root).
absl::StatusOr<ArtifactFile> OpenArtifactFile(const ApiContext& context, int64_t artifact_id);

// A job's artifact by name, via OpenArtifactFile.
absl::StatusOr<ArtifactFile> OpenJobArtifact(const ApiContext& context, int64_t job_id, const std::string& name);

// Every job of a sweep (all pages).
absl::StatusOr<std::vector<expsvc::v1::Job>> AllJobsOf(const ApiContext& context, int64_t sweep_id,
                                                       const std::string& kind = "");

}  // namespace expsvc::web
