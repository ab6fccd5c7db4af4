#pragma once
// Reads that several commands share: one sweep, one job, and job lists
// paged through ListJobs with keyset pagination.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/expctl/connection.h"

namespace expsvc::expctl {

absl::StatusOr<v1::Sweep> FetchSweep(Connection& connection, int64_t sweep_id);
absl::StatusOr<v1::Job> FetchJob(Connection& connection, int64_t job_id);

struct JobQuery {
  int64_t sweep_id = 0;
  std::vector<v1::JobState> states;
  std::string kind;
  std::string params_filter_json;
  // At most this many jobs; 0 means all of them.
  int64_t limit = 0;
};

struct JobPage {
  std::vector<v1::Job> jobs;
  // True when the limit stopped the listing with jobs possibly left.
  bool truncated = false;
};

// Pages through ListJobs (after_id = the last id seen) until `limit` jobs
// or the end.
absl::StatusOr<JobPage> ListJobsPaged(Connection& connection, const JobQuery& query);

}  // namespace expsvc::expctl
