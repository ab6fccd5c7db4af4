#include "client/web/api_routes.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/expctl/metrics_view.h"
#include "client/expctl/proto_json.h"
#include "client/web/music_routes.h"
#include "client/web/report_view.h"
#include "client/web/request_params.h"
#include "client/web/route_support.h"
#include "client/web/sae_routes.h"
#include "common/job_state_names.h"
#include "common/status_macros.h"

namespace expsvc::web {
namespace {

using nlohmann::json;

constexpr int kMaxBuckets = 4000;

// The sweep's metrics pivoted as `expctl metrics` does (query parameters
// keys, agg, all_params): what the JSON table and the CSV both show.
absl::StatusOr<expctl::MetricsView> MetricsViewOf(const ApiContext& context, const httplib::Request& request,
                                                  int64_t sweep_id) {
  static const std::map<std::string, expsvc::v1::MetricsAggregate> kAggregates = {
      {"last", expsvc::v1::METRICS_AGGREGATE_LAST},
      {"min", expsvc::v1::METRICS_AGGREGATE_MIN},
      {"max", expsvc::v1::METRICS_AGGREGATE_MAX},
      {"mean", expsvc::v1::METRICS_AGGREGATE_MEAN}};
  static const std::vector<std::string> kAggregateNames = {"last", "min", "max", "mean"};
  EXPSVC_ASSIGN_OR_RETURN(std::string aggregate, ChoiceParam(Query(request, "agg"), "agg", kAggregateNames, "last"));
  const std::vector<std::string> keys = ListParam(Query(request, "keys"));
  expsvc::v1::QueryMetricsRequest query;
  query.set_sweep_id(sweep_id);
  for (const std::string& key : keys) query.add_keys(key);
  query.set_shape(expsvc::v1::METRICS_SHAPE_TABLE);
  query.set_aggregate(kAggregates.at(aggregate));
  query.set_params_filter_json("{}");
  EXPSVC_ASSIGN_OR_RETURN(expsvc::v1::QueryMetricsResponse table, context.store->QueryMetrics(query));
  const bool all_params = Query(request, "all_params").value_or("0") == "1";
  return expctl::BuildMetricsView(table, {.all_params = all_params, .keys = keys});
}

absl::StatusOr<expctl::ReportTable> ReportTableOrNotFound(const ApiContext& context, const expsvc::v1::Sweep& sweep,
                                                          const std::vector<expsvc::v1::Job>& jobs) {
  absl::StatusOr<expctl::ReportTable> table = SweepReportTable(context, sweep.id(), jobs);
  if (table.ok() || table.status().code() != absl::StatusCode::kFailedPrecondition) return table;
  return absl::NotFoundError(absl::StrCat("sweep ", sweep.id(), " has no report table: ", table.status().message()));
}

// A job state by its one spelling (common/job_state_names.h).
absl::StatusOr<std::string> StateParam(const std::string& name) {
  if (JobStateFromName(name).has_value()) return name;
  std::vector<std::string> names;
  for (int state = expsvc::v1::JOB_STATE_WAITING; state <= expsvc::v1::JOB_STATE_CANCELLED; ++state) {
    names.emplace_back(JobStateName(static_cast<expsvc::v1::JobState>(state)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("query parameter 'state': expected one of ", absl::StrJoin(names, ", "), ", got '", name, "'"));
}

}  // namespace

int HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    // A stored file the dashboard cannot read as what it claims to be (a
    // corrupt MIDI or features.json): the request was fine, the data is not.
    case absl::StatusCode::kDataLoss: return 422;
    case absl::StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

void RegisterApiRoutes(httplib::Server& server, const ApiContext& context) {
  // Liveness for probes (Kubernetes, load balancers): no token, no database.
  server.Get("/api/health", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(R"({"ok":true})", "application/json");
  });

  server.Get("/api/sweeps", JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(int64_t limit, IntParam(Query(request, "limit"), "limit", 100, 1, 1000));
               EXPSVC_ASSIGN_OR_RETURN(auto sweeps, context.store->ListSweeps(static_cast<int32_t>(limit)));
               json list = json::array();
               for (const auto& sweep : sweeps) list.push_back(expctl::SweepToJson(sweep));
               return json{{"sweeps", list}};
             }));

  server.Get(R"(/api/sweeps/([^/]+))",
             JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(auto sweep, FindSweep(context, request.matches[1]));
               json result = expctl::SweepToJson(sweep);
               result["spec_yaml"] = sweep.spec_yaml();
               return result;
             }));

  server.Get(R"(/api/sweeps/([^/]+)/jobs)",
             JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(auto sweep, FindSweep(context, request.matches[1]));
               storage::JobFilter filter;
               filter.sweep_id = sweep.id();
               for (const std::string& state : ListParam(Query(request, "state"))) {
                 EXPSVC_ASSIGN_OR_RETURN(std::string checked, StateParam(state));
                 filter.states.push_back(checked);
               }
               filter.kind = Query(request, "kind").value_or("");
               EXPSVC_ASSIGN_OR_RETURN(int64_t limit, IntParam(Query(request, "limit"), "limit", 500, 1, 5000));
               EXPSVC_ASSIGN_OR_RETURN(int64_t after,
                                       IntParam(Query(request, "after"), "after", 0, 0, INT64_MAX));
               filter.limit = static_cast<int32_t>(limit);
               filter.after_id = after;
               EXPSVC_ASSIGN_OR_RETURN(auto jobs, context.store->ListJobs(filter));
               json list = json::array();
               for (const auto& job : jobs) list.push_back(expctl::JobToJson(job));
               json next = static_cast<int64_t>(jobs.size()) == limit ? json(jobs.back().id()) : json(nullptr);
               return json{{"jobs", list}, {"next_after", next}};
             }));

  server.Get(R"(/api/sweeps/([^/]+)/metrics)",
             JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(auto sweep, FindSweep(context, request.matches[1]));
               EXPSVC_ASSIGN_OR_RETURN(expctl::MetricsView view, MetricsViewOf(context, request, sweep.id()));
               json result = expctl::MetricsViewToJson(view);
               return json{{"keys", view.key_columns}, {"param_columns", view.param_columns}, {"rows", result}};
             }));

  server.Get(R"(/api/sweeps/([^/]+)/metrics\.csv)",
             GuardedRoute(context, [&context](const httplib::Request& request,
                                              httplib::Response& response) -> absl::Status {
               EXPSVC_ASSIGN_OR_RETURN(auto sweep, FindSweep(context, request.matches[1]));
               EXPSVC_ASSIGN_OR_RETURN(expctl::MetricsView view, MetricsViewOf(context, request, sweep.id()));
               response.set_header("Content-Disposition",
                                   absl::StrCat("attachment; filename=\"sweep-", sweep.id(), ".csv\""));
               response.set_content(expctl::RenderMetricsCsv(view), "text/csv");
               return absl::OkStatus();
             }));

  // The paper-style table of `expctl report`, as JSON and CSV; 404 with the
  // reason for a sweep whose jobs report none of its columns.
  server.Get(R"(/api/sweeps/([^/]+)/report)",
             JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(auto sweep, FindSweep(context, request.matches[1]));
               EXPSVC_ASSIGN_OR_RETURN(auto jobs, AllJobsOf(context, sweep.id()));
               absl::StatusOr<expctl::ReportTable> table = ReportTableOrNotFound(context, sweep, jobs);
               // if_any=1: a sweep without the table is an answer, not an
               // error (the sweep page asks every sweep).
               if (!table.ok() && table.status().code() == absl::StatusCode::kNotFound &&
                   Query(request, "if_any").value_or("0") == "1") {
                 return json{{"rows", nullptr}, {"reason", std::string(table.status().message())}};
               }
               EXPSVC_RETURN_IF_ERROR(table.status());
               return expctl::ReportTableToJson(*table);
             }));
  server.Get(R"(/api/sweeps/([^/]+)/report\.csv)",
             GuardedRoute(context, [&context](const httplib::Request& request,
                                              httplib::Response& response) -> absl::Status {
               EXPSVC_ASSIGN_OR_RETURN(auto sweep, FindSweep(context, request.matches[1]));
               EXPSVC_ASSIGN_OR_RETURN(auto jobs, AllJobsOf(context, sweep.id()));
               EXPSVC_ASSIGN_OR_RETURN(expctl::ReportTable table, ReportTableOrNotFound(context, sweep, jobs));
               response.set_header("Content-Disposition",
                                   absl::StrCat("attachment; filename=\"sweep-", sweep.id(), "-report.csv\""));
               response.set_content(expctl::RenderReportCsv(table), "text/csv");
               return absl::OkStatus();
             }));

  server.Get(R"(/api/sweeps/([^/]+)/series)",
             JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(auto sweep, FindSweep(context, request.matches[1]));
               const std::optional<std::string> key = Query(request, "key");
               if (!key.has_value() || key->empty()) {
                 return absl::InvalidArgumentError("query parameter 'key' is required (the metric to draw)");
               }
               EXPSVC_ASSIGN_OR_RETURN(int64_t buckets,
                                       IntParam(Query(request, "buckets"), "buckets", 1000, 1, kMaxBuckets));
               storage::SeriesRequest query{.sweep_id = sweep.id(), .key = *key, .buckets = static_cast<int32_t>(buckets)};
               query.group_param = Query(request, "group").value_or("");
               EXPSVC_ASSIGN_OR_RETURN(storage::SeriesAnswer answer, context.store->SweepSeries(query));
               json jobs = json::array();
               for (const auto& one : answer.jobs) {
                 jobs.push_back({{"job_id", one.job_id},
                                 {"buckets", one.buckets},
                                 {"steps", one.steps},
                                 {"min", one.min},
                                 {"max", one.max},
                                 {"points", one.points}});
               }
               json groups = json::array();
               for (const auto& one : answer.groups) {
                 groups.push_back({{"value", one.value},
                                   {"jobs", one.jobs},
                                   {"buckets", one.buckets},
                                   {"steps", one.steps},
                                   {"min", one.min},
                                   {"max", one.max},
                                   {"mean", one.mean},
                                   {"points", one.points}});
               }
               const bool empty = answer.jobs_with_key == 0;
               return json{{"key", *key},
                           {"buckets", buckets},
                           {"first_step", empty ? json(nullptr) : json(answer.first_step)},
                           {"end_step", empty ? json(nullptr) : json(answer.end_step)},
                           {"width", answer.width},
                           {"jobs_with_key", answer.jobs_with_key},
                           {"grouped", answer.grouped},
                           {"group", query.group_param},
                           {"series", jobs},
                           {"groups", groups}};
             }));

  server.Get(R"(/api/jobs/([^/]+))", JsonRoute(context, [&context](const httplib::Request& request)
                                                              -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(int64_t job_id, ParseId(request.matches[1], "job id"));
               EXPSVC_ASSIGN_OR_RETURN(auto job, context.store->GetJob(job_id));
               EXPSVC_ASSIGN_OR_RETURN(auto children, context.store->ChildJobIds(job_id));
               json result = expctl::JobToJson(job);
               result["child_ids"] = children;
               return result;
             }));

  server.Get(R"(/api/jobs/([^/]+)/logs)",
             JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(int64_t job_id, ParseId(request.matches[1], "job id"));
               EXPSVC_RETURN_IF_ERROR(context.store->GetJob(job_id).status());
               EXPSVC_ASSIGN_OR_RETURN(int64_t after, IntParam(Query(request, "after"), "after", 0, 0, INT64_MAX));
               EXPSVC_ASSIGN_OR_RETURN(int64_t limit, IntParam(Query(request, "limit"), "limit", 1000, 1, 10000));
               EXPSVC_ASSIGN_OR_RETURN(auto lines, context.store->GetLogs(job_id, after, static_cast<int32_t>(limit)));
               json list = json::array();
               for (const auto& line : lines) list.push_back({{"seq", line.seq()}, {"attempt", line.attempt()}, {"time_ms", line.time_ms()}, {"line", line.line()}});
               return json{{"lines", list}};
             }));

  server.Get(R"(/api/jobs/([^/]+)/artifacts)",
             JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(int64_t job_id, ParseId(request.matches[1], "job id"));
               EXPSVC_RETURN_IF_ERROR(context.store->GetJob(job_id).status());
               EXPSVC_ASSIGN_OR_RETURN(auto artifacts, context.store->ListArtifacts(0, job_id));
               json list = json::array();
               for (const auto& artifact : artifacts) list.push_back(expctl::ArtifactToJson(artifact));
               return json{{"artifacts", list}};
             }));

  server.Get(R"(/api/artifacts/([^/]+)/download)",
             GuardedRoute(context, [&context](const httplib::Request& request,
                                              httplib::Response& response) -> absl::Status {
               EXPSVC_ASSIGN_OR_RETURN(int64_t id, ParseId(request.matches[1], "artifact id"));
               EXPSVC_ASSIGN_OR_RETURN(ArtifactFile found, OpenArtifactFile(context, id));
               const storage::StoredArtifact& artifact = found.artifact;
               auto file = std::make_shared<std::ifstream>(found.path, std::ios::binary);
               if (!*file) return absl::NotFoundError(absl::StrCat("artifact ", id, ": its file cannot be read"));
               const std::string name = artifact.ref.name();
               response.set_header("Content-Disposition", absl::StrCat("attachment; filename=\"", name, "\""));
               response.set_header("X-Expsvc-Sha256", artifact.ref.sha256());
               const std::string type = name.ends_with(".mid") || name.ends_with(".midi") ? "audio/midi"
                                        : name.ends_with(".json")                        ? "application/json"
                                                                                          : "application/octet-stream";
               response.set_content_provider(
                   static_cast<size_t>(artifact.ref.size_bytes()), type,
                   [file](size_t offset, size_t length, httplib::DataSink& sink) {
                     std::vector<char> buffer(std::min<size_t>(length, 1 << 20));
                     file->seekg(static_cast<std::streamoff>(offset));
                     file->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
                     const std::streamsize got = file->gcount();
                     if (got <= 0) return false;
                     sink.write(buffer.data(), static_cast<size_t>(got));
                     return true;
                   });
               return absl::OkStatus();
             }));

  server.Get("/api/workers", JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               const bool all = Query(request, "all").value_or("0") == "1";
               EXPSVC_ASSIGN_OR_RETURN(auto workers, context.store->ListWorkers(context.worker_offline_after_ms, all));
               // Who holds which lease: the running jobs, by worker.
               storage::JobFilter running;
               running.states = {"running"};
               running.limit = 10000;
               EXPSVC_ASSIGN_OR_RETURN(auto jobs, context.store->ListJobs(running));
               std::map<std::string, json> leases;
               for (const auto& job : jobs) {
                 leases[job.worker_id()].push_back({{"job_id", job.id()},
                                                    {"sweep_id", job.sweep_id()},
                                                    {"kind", job.kind()},
                                                    {"lease_epoch", job.lease_epoch()},
                                                    {"started_at_ms", job.started_at_ms()}});
               }
               json list = json::array();
               for (const auto& worker : workers) {
                 json entry = expctl::WorkerToJson(worker);
                 auto held = leases.find(worker.worker_id());
                 entry["leases"] = held == leases.end() ? json::array() : held->second;
                 list.push_back(std::move(entry));
               }
               return json{{"workers", list}};
             }));

  RegisterMusicRoutes(server, context);
  RegisterSaeRoutes(server, context);

  // Anything else under /api/ is a 404 in JSON (not the front end's page).
  server.Get(R"(/api/.*)", [](const httplib::Request& request, httplib::Response& response) {
    SendError(response, absl::NotFoundError(absl::StrCat("no such API route: ", request.path)));
  });
}

}  // namespace expsvc::web
