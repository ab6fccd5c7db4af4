// metrics: QueryMetrics as a pivoted table, CSV or JSON, or raw series.

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/expctl/command.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/metrics_view.h"
#include "client/expctl/params.h"
#include "client/expctl/proto_json.h"
#include "client/expctl/table.h"
#include "common/status_macros.h"

namespace expsvc::expctl {
namespace {

enum class MetricsFormat { kTable, kCsv, kJson };

absl::StatusOr<MetricsFormat> ParseMetricsFormat(const ParsedArgs& args) {
  std::string format = args.ValueOr("format", "table");
  if (format == "table") return MetricsFormat::kTable;
  if (format == "csv") return MetricsFormat::kCsv;
  if (format == "json") return MetricsFormat::kJson;
  return UsageError(absl::StrCat("--format: expected table, csv or json, got '", format, "'"));
}

absl::StatusOr<v1::MetricsAggregate> ParseAggregate(const ParsedArgs& args) {
  std::string aggregate = args.ValueOr("agg", "last");
  if (aggregate == "last") return v1::METRICS_AGGREGATE_LAST;
  if (aggregate == "min") return v1::METRICS_AGGREGATE_MIN;
  if (aggregate == "max") return v1::METRICS_AGGREGATE_MAX;
  if (aggregate == "mean") return v1::METRICS_AGGREGATE_MEAN;
  return UsageError(absl::StrCat("--agg: expected last, min, max or mean, got '", aggregate, "'"));
}

// --keys a,b --keys c -> {a, b, c}, in the order given.
std::vector<std::string> ParseKeys(const std::vector<std::string>& values) {
  std::vector<std::string> keys;
  for (const std::string& value : values) {
    for (absl::string_view key : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      keys.emplace_back(key);
    }
  }
  return keys;
}

CommandResult RunMetrics(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(MetricsFormat format, ParseMetricsFormat(args));
  EXPSVC_ASSIGN_OR_RETURN(v1::MetricsAggregate aggregate, ParseAggregate(args));
  const bool series = args.Has("series");

  v1::QueryMetricsRequest request;
  if (!args.positionals().empty()) {
    EXPSVC_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(args.positionals()[0], "sweep id"));
    request.set_sweep_id(sweep_id);
  }
  for (const std::string& job_text : args.Values("job")) {
    EXPSVC_ASSIGN_OR_RETURN(int64_t job_id, ParseId(job_text, "job id"));
    request.add_job_ids(job_id);
  }
  if (request.sweep_id() == 0 && request.job_ids().empty()) {
    return UsageError("metrics: give a SWEEP or --job ID");
  }
  std::vector<std::string> keys = ParseKeys(args.Values("keys"));
  for (const std::string& key : keys) request.add_keys(key);
  EXPSVC_ASSIGN_OR_RETURN(std::string params_filter, ParamFilterJson(args.Values("param")));
  request.set_params_filter_json(params_filter);
  request.set_shape(series ? v1::METRICS_SHAPE_SERIES : v1::METRICS_SHAPE_TABLE);
  request.set_aggregate(aggregate);

  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  v1::QueryMetricsResponse response;
  EXPSVC_RETURN_IF_ERROR(
      connection->Call(connection->metrics(), &v1::MetricsService::Stub::QueryMetrics, request, &response));

  std::ostream& out = context.out();
  if (series) {
    switch (format) {
      case MetricsFormat::kTable:
        if (response.series().empty()) {
          out << "no metrics match\n";
        } else {
          out << RenderSeriesTable(response, context.output_width());
        }
        break;
      case MetricsFormat::kCsv: out << RenderSeriesCsv(response); break;
      case MetricsFormat::kJson: out << DumpJson(SeriesToJson(response)) << "\n"; break;
    }
    return kExitOk;
  }

  MetricsView view = BuildMetricsView(response, MetricsViewOptions{.all_params = args.Has("all-params"), .keys = keys});
  switch (format) {
    case MetricsFormat::kTable:
      if (view.rows.empty()) {
        out << "no metrics match\n";
      } else {
        out << RenderMetricsTable(view, context.output_width());
      }
      break;
    case MetricsFormat::kCsv: out << RenderMetricsCsv(view); break;
    case MetricsFormat::kJson: out << DumpJson(MetricsViewToJson(view)) << "\n"; break;
  }
  return kExitOk;
}

}  // namespace

std::vector<Command> MetricsCommands() {
  std::vector<Command> commands;
  commands.push_back({{.name = "metrics",
                       .summary = "Query metrics: one row per job, parameters as columns, then the keys.",
                       .synopsis = "metrics SWEEP [--keys a,b] [--agg last|min|max|mean] [--param k=v ...]\n"
                                   "              [--format table|csv|json] [--series] [--job ID] "
                                   "[--all-params]",
                       .details = "By default only the parameters that differ between the rows are shown.\n"
                                  "Table cells have up to 6 significant digits; csv and json keep full\n"
                                  "precision.\n\n"
                                  "examples:\n"
                                  "  expctl metrics 12 --keys loss,accuracy --agg min\n"
                                  "  expctl metrics 12 --param lr=0.01 --format csv > results.csv\n"
                                  "  expctl metrics 12 --job 345 --series --keys loss\n",
                       .flags = {{.name = "keys",
                                  .takes_value = true,
                                  .repeatable = true,
                                  .value_name = "a,b",
                                  .help = "only these metric keys, in this order"},
                                 {.name = "agg",
                                  .takes_value = true,
                                  .value_name = "last|min|max|mean",
                                  .help = "how a series becomes one value (default last)"},
                                 {.name = "param",
                                  .takes_value = true,
                                  .repeatable = true,
                                  .value_name = "k=v",
                                  .help = "only jobs whose params contain k=v"},
                                 {.name = "format",
                                  .takes_value = true,
                                  .value_name = "table|csv|json",
                                  .help = "output format (default table)"},
                                 {.name = "series", .help = "every (job, key, step, value) point instead"},
                                 {.name = "job",
                                  .takes_value = true,
                                  .repeatable = true,
                                  .value_name = "ID",
                                  .help = "only this job (SWEEP may then be omitted)"},
                                 {.name = "all-params", .help = "show every parameter, not only varying ones"}},
                       .min_positionals = 0,
                       .max_positionals = 1},
                      RunMetrics});
  return commands;
}

}  // namespace expsvc::expctl
