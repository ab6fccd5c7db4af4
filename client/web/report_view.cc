#include "client/web/report_view.h"

#include "common/status_macros.h"

namespace expsvc::web {

absl::StatusOr<expctl::ReportTable> SweepReportTable(const ApiContext& context, int64_t sweep_id,
                                                     const std::vector<expsvc::v1::Job>& jobs) {
  expsvc::v1::QueryMetricsRequest query;
  query.set_sweep_id(sweep_id);
  query.set_shape(expsvc::v1::METRICS_SHAPE_TABLE);
  query.set_aggregate(expsvc::v1::METRICS_AGGREGATE_LAST);
  query.set_params_filter_json("{}");
  EXPSVC_ASSIGN_OR_RETURN(expsvc::v1::QueryMetricsResponse last, context.store->QueryMetrics(query));
  std::vector<expctl::ReportJob> reported = expctl::ReportJobsFromMetrics(last);
  expctl::InheritParentParams(reported, jobs);
  return expctl::BuildReportTable(reported, {});
}

}  // namespace expsvc::web
