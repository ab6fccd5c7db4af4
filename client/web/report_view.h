#pragma once
// A sweep's paper-style table, as `expctl report` builds it (client/expctl/
// report_table.h), from the summaries' last values and the jobs' params
// (an evaluation inherits the axes of the training it depends on).

#include <vector>

#include "absl/status/statusor.h"
#include "client/expctl/report_table.h"
#include "client/web/api_routes.h"
#include "expsvc/v1/jobs.pb.h"

namespace expsvc::web {

// FAILED_PRECONDITION when no job has a column of the table (the message
// lists the keys they do report).
absl::StatusOr<expctl::ReportTable> SweepReportTable(const ApiContext& context, int64_t sweep_id,
                                                     const std::vector<expsvc::v1::Job>& jobs);

}  // namespace expsvc::web
