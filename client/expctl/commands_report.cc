// report: a sweep's results as a paper-style table (rows of parameter
// combinations, mean ± std over repetitions); the rules live in
// report_table.*, this file only fetches and prints.

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/expctl/command.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/proto_json.h"
#include "client/expctl/report_table.h"
#include "client/expctl/server_queries.h"
#include "common/status_macros.h"

namespace expsvc::expctl {
namespace {

enum class ReportFormat { kMarkdown, kCsv, kJson };

absl::StatusOr<ReportFormat> ParseReportFormat(const ParsedArgs& args) {
  std::string format = args.ValueOr("format", "markdown");
  if (format == "markdown" || format == "md") return ReportFormat::kMarkdown;
  if (format == "csv") return ReportFormat::kCsv;
  if (format == "json") return ReportFormat::kJson;
  return UsageError(absl::StrCat("--format: expected markdown, csv or json, got '", format, "'"));
}

// --rows a,b --rows c -> {a, b, c}; usage error for a name given twice.
absl::StatusOr<std::vector<std::string>> ParseNameList(const ParsedArgs& args, absl::string_view flag) {
  std::vector<std::string> names;
  for (const std::string& value : args.Values(flag)) {
    for (absl::string_view name : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      std::string trimmed(absl::StripAsciiWhitespace(name));
      if (std::find(names.begin(), names.end(), trimmed) != names.end()) {
        return UsageError(absl::StrCat("--", std::string(flag), ": '", trimmed, "' is given twice"));
      }
      names.push_back(std::move(trimmed));
    }
  }
  return names;
}

CommandResult RunReport(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(ReportFormat format, ParseReportFormat(args));
  EXPSVC_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(args.positionals()[0], "sweep id"));
  ReportOptions options;
  EXPSVC_ASSIGN_OR_RETURN(options.row_params, ParseNameList(args, "rows"));
  EXPSVC_ASSIGN_OR_RETURN(options.column_keys, ParseNameList(args, "columns"));

  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  // QueryMetrics answers an unknown sweep with no rows; GetSweep says NOT_FOUND.
  EXPSVC_ASSIGN_OR_RETURN(v1::Sweep sweep, FetchSweep(*connection, sweep_id));

  v1::QueryMetricsRequest request;
  request.set_sweep_id(sweep_id);
  request.set_shape(v1::METRICS_SHAPE_TABLE);
  request.set_aggregate(v1::METRICS_AGGREGATE_LAST);  // the highest step of each key
  v1::QueryMetricsResponse response;
  EXPSVC_RETURN_IF_ERROR(
      connection->Call(connection->metrics(), &v1::MetricsService::Stub::QueryMetrics, request, &response));

  // Evaluation jobs often leave out the axes of the training they depend on;
  // they take them from their parents so both land in one row.
  JobQuery query;
  query.sweep_id = sweep_id;
  EXPSVC_ASSIGN_OR_RETURN(JobPage page, ListJobsPaged(*connection, query));
  std::map<int64_t, std::vector<int64_t>> parents;
  std::map<int64_t, nlohmann::json> params;
  for (const v1::Job& job : page.jobs) {
    parents[job.id()] = std::vector<int64_t>(job.parent_ids().begin(), job.parent_ids().end());
    params[job.id()] = nlohmann::json::parse(job.params_json(), nullptr, /*allow_exceptions=*/false);
  }
  std::vector<ReportJob> jobs = ReportJobsFromMetrics(response);
  InheritParentParams(jobs, parents, params);
  absl::StatusOr<ReportTable> table = BuildReportTable(jobs, options);
  if (!table.ok()) {
    if (IsUsageError(table.status())) return table.status();
    return absl::Status(table.status().code(),
                        absl::StrCat("sweep ", sweep_id, " (", sweep.name(), "): ", table.status().message()));
  }

  std::ostream& out = context.out();
  switch (format) {
    case ReportFormat::kMarkdown: out << RenderReportMarkdown(*table); break;
    case ReportFormat::kCsv: out << RenderReportCsv(*table); break;
    case ReportFormat::kJson: {
      nlohmann::json json = ReportTableToJson(*table);
      json["sweep_id"] = sweep_id;
      json["sweep_name"] = sweep.name();
      out << DumpJson(json) << "\n";
      break;
    }
  }
  return kExitOk;
}

}  // namespace

std::vector<Command> ReportCommands() {
  std::vector<Command> commands;
  commands.push_back({{.name = "report",
                       .summary = "A sweep's results as a paper-style table: mean ± std over repetitions.",
                       .synopsis = "report SWEEP [--rows a,b] [--columns key1,key2] "
                                   "[--format markdown|csv|json]",
                       .details = "One row per combination of the row parameters; jobs that share it (other\n"
                                  "seeds) are repetitions: each cell is mean ± sample std over the row's jobs\n"
                                  "with that metric (last step of each key), n is the number of repetitions.\n"
                                  "Default rows: representation and data_fraction when they vary, attention\n"
                                  "when present. Default columns: Params, ms/note, Loss (test_loss, else\n"
                                  "eval_loss), F1 note, F1 pianoroll, GS, CS, PRS; those no job has are left\n"
                                  "out. Rows: attention in paper order, note before event, data_fraction\n"
                                  "descending, other values ascending.\n\n"
                                  "examples:\n"
                                  "  expctl report 12\n"
                                  "  expctl report 12 --rows attention,data_fraction --format csv > table.csv\n"
                                  "  expctl report 12 --columns test_loss,self_similarity_lag4,self_similarity_lag8\n",
                       .flags = {{.name = "rows",
                                  .takes_value = true,
                                  .repeatable = true,
                                  .value_name = "a,b",
                                  .help = "the parameters that make a row, in this order"},
                                 {.name = "columns",
                                  .takes_value = true,
                                  .repeatable = true,
                                  .value_name = "key1,key2",
                                  .help = "these metric keys instead of the default columns"},
                                 {.name = "format",
                                  .takes_value = true,
                                  .value_name = "markdown|csv|json",
                                  .help = "output format (default markdown)"}},
                       .min_positionals = 1,
                       .max_positionals = 1},
                      RunReport});
  return commands;
}

}  // namespace expsvc::expctl
