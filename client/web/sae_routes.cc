#include "client/web/sae_routes.h"

#include <algorithm>
#include <list>
#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "client/expctl/report_table.h"
#include "client/expctl/sae_report.h"
#include "client/web/request_params.h"
#include "client/web/route_support.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"

namespace expsvc::web {
namespace {

using nlohmann::json;

constexpr char kFeaturesName[] = "features.json";
// Parsed features.json files kept in memory: one of 32,768 latents is tens
// of MB of text (several times that parsed), so a page turn should not parse
// it again, but only a few stay: at most 4, and while their files total at
// most 128 MB (the newest is always kept).
constexpr size_t kCachedFeatureFiles = 4;
constexpr uintmax_t kCachedFeatureBytes = 128u << 20;

// The last parsed features.json files, by artifact id and checksum (a
// re-run analysis replaces the file under the same id).
class FeatureFileCache {
 public:
  absl::StatusOr<std::shared_ptr<const json>> Load(const ArtifactFile& file) {
    const std::string key = absl::StrCat(file.artifact.ref.id(), ":", file.artifact.ref.sha256());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->key != key) continue;
        entries_.splice(entries_.begin(), entries_, it);
        return it->document;
      }
    }
    // One parse at a time: two page requests for a file not yet cached
    // parse it once, not twice side by side.
    std::lock_guard<std::mutex> parsing(parse_mutex_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& entry : entries_) {
        if (entry.key == key) return entry.document;
      }
    }
    EXPSVC_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(file.path));
    const uintmax_t bytes = text.size();
    auto parsed = std::make_shared<json>(json::parse(text, nullptr, /*allow_exceptions=*/false));
    text.clear();
    text.shrink_to_fit();
    if (!parsed->is_object() || !(*parsed)["features"].is_array()) {
      return absl::DataLossError(absl::StrCat("artifact ", file.artifact.ref.id(),
                                              " is not a features.json of an SAE analysis (no 'features' list)"));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_front({key, parsed, bytes});
    uintmax_t total = 0;
    for (const auto& entry : entries_) total += entry.bytes;
    while (entries_.size() > 1 && (entries_.size() > kCachedFeatureFiles || total > kCachedFeatureBytes)) {
      total -= entries_.back().bytes;
      entries_.pop_back();
    }
    return std::shared_ptr<const json>(parsed);
  }

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const json> document;
    uintmax_t bytes = 0;
  };
  std::mutex parse_mutex_;
  std::mutex mutex_;
  std::list<Entry> entries_;
};

absl::StatusOr<json> SaeOfSweep(const ApiContext& context, const expsvc::v1::Sweep& sweep,
                                const httplib::Request& request) {
  expctl::SaeReportOptions options;
  if (request.has_param("layer")) {
    EXPSVC_ASSIGN_OR_RETURN(int64_t layer, IntParam(Query(request, "layer"), "layer", 0, 0, 1 << 20));
    options.layer = layer;
  }
  EXPSVC_ASSIGN_OR_RETURN(auto jobs, AllJobsOf(context, sweep.id(), expctl::kAnalyzeSaeKind));
  if (jobs.empty()) {
    return absl::NotFoundError(absl::StrCat("sweep ", sweep.id(), " has no analyze_sae jobs (the SAE study's analyses)"));
  }
  expsvc::v1::QueryMetricsRequest query;
  query.set_sweep_id(sweep.id());
  query.set_shape(expsvc::v1::METRICS_SHAPE_TABLE);
  query.set_aggregate(expsvc::v1::METRICS_AGGREGATE_LAST);
  query.set_params_filter_json("{}");
  for (const std::string& key : expctl::SaeMetricKeys()) query.add_keys(key);
  EXPSVC_ASSIGN_OR_RETURN(auto last, context.store->QueryMetrics(query));
  const std::vector<expctl::ReportJob> analyses =
      expctl::SaeAnalysisJobs(jobs, expctl::ReportJobsFromMetrics(last));
  absl::StatusOr<expctl::SaeReport> report = expctl::BuildSaeReport(analyses, options);
  if (!report.ok()) {
    // A --layer no model has is the caller's mistake; the rest (no analysis
    // with a layer and checkpoint) is what the sweep holds.
    if (report.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::NotFoundError(absl::StrCat("sweep ", sweep.id(), ": ", report.status().message()));
    }
    return absl::InvalidArgumentError(report.status().message());
  }
  json result = expctl::SaeReportToJson(*report);
  // Each cell's first analysis job with a features.json, for the browser.
  EXPSVC_ASSIGN_OR_RETURN(auto artifacts, context.store->ListArtifacts(sweep.id(), 0));
  std::map<int64_t, int64_t> features_of_job;
  for (const auto& artifact : artifacts) {
    if (artifact.name() == kFeaturesName) features_of_job[artifact.job_id()] = artifact.id();
  }
  // Each site's analysis, by the report's own reading of the params (once,
  // not per cell): the first with a features.json, else the first.
  std::map<expctl::SaeSite, int64_t> analysis_at;
  for (const expctl::ReportJob& job : analyses) {
    const std::optional<expctl::SaeSite> site = expctl::SaeSiteOf(job.params);
    if (!site.has_value()) continue;
    auto [found, inserted] = analysis_at.emplace(*site, job.job_id);
    if (!inserted && !features_of_job.count(found->second) && features_of_job.count(job.job_id)) {
      found->second = job.job_id;
    }
  }
  for (size_t m = 0; m < report->models.size(); ++m) {
    const expctl::SaeModelReport& model = report->models[m];
    json cells = json::array();
    for (int64_t layer : model.layers) {
      json row = json::array();
      for (int64_t checkpoint : model.checkpoints) {
        auto analysis = analysis_at.find({model.model, layer, checkpoint});
        if (analysis == analysis_at.end()) {
          row.push_back(nullptr);
          continue;
        }
        auto features = features_of_job.find(analysis->second);
        row.push_back({{"job_id", analysis->second},
                       {"features_artifact_id", features == features_of_job.end() ? json(nullptr) : json(features->second)}});
      }
      cells.push_back(row);
    }
    result["models"][m]["analyses"] = cells;
  }
  result["sweep_id"] = sweep.id();
  result["metrics"] = expctl::SaeMetricKeys();
  return result;
}

// The value a feature sorts by; NaN-free (missing sorts last).
double SortValue(const json& feature, const std::string& key) {
  const json& value = feature.contains(key) ? feature[key] : json();
  return value.is_number() ? value.get<double>() : -std::numeric_limits<double>::infinity();
}

absl::StatusOr<json> FeaturesOfJob(const ApiContext& context, FeatureFileCache& cache, int64_t job_id,
                                   const httplib::Request& request) {
  static const std::vector<std::string> kClasses = {"any", "live", "japanese", "english", "mixed", "dead"};
  static const std::vector<std::string> kSorts = {"id", "r", "mean_span", "count"};
  EXPSVC_ASSIGN_OR_RETURN(std::string wanted, ChoiceParam(Query(request, "class"), "class", kClasses, "live"));
  EXPSVC_ASSIGN_OR_RETURN(std::string sort, ChoiceParam(Query(request, "sort"), "sort", kSorts, "count"));
  EXPSVC_ASSIGN_OR_RETURN(std::string order,
                          ChoiceParam(Query(request, "order"), "order", {"asc", "desc"}, sort == "id" ? "asc" : "desc"));
  EXPSVC_ASSIGN_OR_RETURN(int64_t offset, IntParam(Query(request, "offset"), "offset", 0, 0, INT32_MAX));
  EXPSVC_ASSIGN_OR_RETURN(int64_t limit, IntParam(Query(request, "limit"), "limit", 50, 1, 500));
  EXPSVC_ASSIGN_OR_RETURN(int64_t min_count, IntParam(Query(request, "min_count"), "min_count", 0, 0, INT64_MAX));
  EXPSVC_ASSIGN_OR_RETURN(auto job, context.store->GetJob(job_id));
  EXPSVC_ASSIGN_OR_RETURN(ArtifactFile file, OpenJobArtifact(context, job_id, kFeaturesName));
  EXPSVC_ASSIGN_OR_RETURN(std::shared_ptr<const json> document, cache.Load(file));
  const json& features = (*document)["features"];

  std::vector<const json*> kept;
  for (const json& feature : features) {
    const std::string cls = feature.value("class", "");
    if (wanted == "live" ? cls == "dead" : (wanted != "any" && cls != wanted)) continue;
    if (feature.value("count", int64_t{0}) < min_count) continue;
    kept.push_back(&feature);
  }
  std::stable_sort(kept.begin(), kept.end(), [&](const json* a, const json* b) {
    const double x = SortValue(*a, sort), y = SortValue(*b, sort);
    return order == "asc" ? x < y : x > y;
  });
  json page = json::array();
  for (size_t i = static_cast<size_t>(offset); i < kept.size() && page.size() < static_cast<size_t>(limit); ++i) {
    page.push_back(*kept[i]);
  }
  json result = {{"job_id", job_id},
                 {"params", json::parse(job.params_json(), nullptr, false)},
                 {"artifact_id", file.artifact.ref.id()},
                 {"total", kept.size()},
                 {"offset", offset},
                 {"limit", limit},
                 {"features", page}};
  for (const char* field : {"rule", "threshold", "similarity_threshold", "summary"}) {
    if (document->contains(field)) result[field] = (*document)[field];
  }
  return result;
}

}  // namespace

void RegisterSaeRoutes(httplib::Server& server, const ApiContext& context) {
  auto cache = std::make_shared<FeatureFileCache>();
  server.Get(R"(/api/sweeps/([^/]+)/sae)",
             JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(auto sweep, FindSweep(context, request.matches[1]));
               return SaeOfSweep(context, sweep, request);
             }));
  server.Get(R"(/api/jobs/([^/]+)/features)",
             JsonRoute(context, [&context, cache](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(int64_t job_id, ParseId(request.matches[1], "job id"));
               return FeaturesOfJob(context, *cache, job_id, request);
             }));
}

}  // namespace expsvc::web
