#include "client/expctl/server_queries.h"

#include <algorithm>

#include "common/status_macros.h"

namespace expsvc::expctl {
namespace {

constexpr int64_t kJobsPerPage = 500;

}  // namespace

absl::StatusOr<v1::Sweep> FetchSweep(Connection& connection, int64_t sweep_id) {
  v1::GetSweepRequest request;
  request.set_sweep_id(sweep_id);
  v1::GetSweepResponse response;
  EXPSVC_RETURN_IF_ERROR(connection.Call(connection.sweeps(), &v1::SweepService::Stub::GetSweep, request, &response));
  return response.sweep();
}

absl::StatusOr<v1::Job> FetchJob(Connection& connection, int64_t job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::GetJobResponse response;
  EXPSVC_RETURN_IF_ERROR(connection.Call(connection.jobs(), &v1::JobService::Stub::GetJob, request, &response));
  return response.job();
}

absl::StatusOr<JobPage> ListJobsPaged(Connection& connection, const JobQuery& query) {
  JobPage page;
  int64_t after_id = 0;
  while (true) {
    const int64_t remaining = query.limit > 0 ? query.limit - static_cast<int64_t>(page.jobs.size()) : kJobsPerPage;
    if (remaining <= 0) break;
    // Ask for one more than needed on the last page to learn whether
    // anything was left out.
    const int64_t wanted = std::min(kJobsPerPage, query.limit > 0 ? remaining + 1 : kJobsPerPage);

    v1::ListJobsRequest request;
    request.set_sweep_id(query.sweep_id);
    for (v1::JobState state : query.states) request.add_states(state);
    request.set_kind(query.kind);
    request.set_params_filter_json(query.params_filter_json);
    request.set_limit(static_cast<int32_t>(wanted));
    request.set_after_id(after_id);
    v1::ListJobsResponse response;
    EXPSVC_RETURN_IF_ERROR(connection.Call(connection.jobs(), &v1::JobService::Stub::ListJobs, request, &response));

    for (const v1::Job& job : response.jobs()) {
      if (query.limit > 0 && static_cast<int64_t>(page.jobs.size()) >= query.limit) {
        page.truncated = true;
        break;
      }
      page.jobs.push_back(job);
      after_id = std::max(after_id, job.id());
    }
    // Only an empty page ends the listing: a server may cap the page size
    // below what was asked, so a short page proves nothing.
    if (page.truncated || response.jobs_size() == 0) break;
  }
  return page;
}

}  // namespace expsvc::expctl
