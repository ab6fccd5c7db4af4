#include "client/web/route_support.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/web/request_params.h"
#include "common/status_macros.h"

namespace expsvc::web {

std::optional<std::string> Query(const httplib::Request& request, const char* name) {
  if (!request.has_param(name)) return std::nullopt;
  return request.get_param_value(name);
}

void SendError(httplib::Response& response, const absl::Status& status) {
  response.status = HttpStatusOf(status);
  response.set_content(nlohmann::json{{"error", std::string(status.message())}}.dump(), "application/json");
}

httplib::Server::Handler GuardedRoute(const ApiContext& context,
                                      std::function<absl::Status(const httplib::Request&, httplib::Response&)> body) {
  return [&context, body = std::move(body)](const httplib::Request& request, httplib::Response& response) {
    try {
      absl::Status status = context.authorize ? context.authorize(request) : absl::OkStatus();
      if (status.ok()) status = body(request, response);
      if (!status.ok()) SendError(response, status);
    } catch (const std::exception& error) {
      SendError(response, absl::InternalError(absl::StrCat("internal error: ", error.what())));
    }
  };
}

httplib::Server::Handler JsonRoute(const ApiContext& context, JsonHandler handler) {
  return GuardedRoute(context, [handler = std::move(handler)](const httplib::Request& request,
                                                              httplib::Response& response) -> absl::Status {
    EXPSVC_ASSIGN_OR_RETURN(nlohmann::json body, handler(request));
    response.set_header("Cache-Control", "no-store");
    response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    return absl::OkStatus();
  });
}

absl::StatusOr<expsvc::v1::Sweep> FindSweep(const ApiContext& context, const std::string& id_text) {
  EXPSVC_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(id_text, "sweep id"));
  return context.store->GetSweep(sweep_id);
}

absl::StatusOr<ArtifactFile> OpenArtifactFile(const ApiContext& context, int64_t artifact_id) {
  EXPSVC_ASSIGN_OR_RETURN(storage::StoredArtifact artifact, context.store->GetArtifact(artifact_id));
  if (context.artifact_root.empty()) {
    return absl::NotFoundError("artifact files are off: the dashboard runs without --artifact_root");
  }
  namespace fs = std::filesystem;
  const fs::path root = fs::weakly_canonical(context.artifact_root);
  const fs::path path = fs::weakly_canonical(artifact.storage_path);
  auto [root_end, unused] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  if (root_end != root.end()) {
    return absl::NotFoundError(absl::StrCat("artifact ", artifact_id, " is stored outside the artifact root"));
  }
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    return absl::NotFoundError(absl::StrCat("artifact ", artifact_id, ": its file is missing on the server"));
  }
  return ArtifactFile{std::move(artifact), path};
}

absl::StatusOr<ArtifactFile> OpenJobArtifact(const ApiContext& context, int64_t job_id, const std::string& name) {
  EXPSVC_ASSIGN_OR_RETURN(auto artifacts, context.store->ListArtifacts(0, job_id));
  for (const auto& artifact : artifacts) {
    if (artifact.name() == name) return OpenArtifactFile(context, artifact.id());
  }
  return absl::NotFoundError(absl::StrCat("job ", job_id, " has no artifact '", name, "'"));
}

absl::StatusOr<std::vector<expsvc::v1::Job>> AllJobsOf(const ApiContext& context, int64_t sweep_id,
                                                       const std::string& kind) {
  std::vector<expsvc::v1::Job> all;
  storage::JobFilter filter;
  filter.sweep_id = sweep_id;
  filter.kind = kind;
  filter.limit = 5000;
  while (true) {
    EXPSVC_ASSIGN_OR_RETURN(auto page, context.store->ListJobs(filter));
    all.insert(all.end(), page.begin(), page.end());
    if (static_cast<int32_t>(page.size()) < filter.limit) return all;
    filter.after_id = page.back().id();
  }
}

}  // namespace expsvc::web
