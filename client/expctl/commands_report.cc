// report: a sweep's results as a paper-style table (rows of parameter
// combinations, mean ± std over repetitions), or, for the SAE study, layer x
// checkpoint tables; the rules live in report_table.* and sae_report.*, this
// file only fetches, picks the report and prints.

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/expctl/command.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/params.h"
#include "client/expctl/proto_json.h"
#include "client/expctl/report_table.h"
#include "client/expctl/sae_report.h"
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

// The SAE study's report: when asked (--sae), or by default for a sweep with
// analyze_sae jobs and no job of the paper table (no attention,
// representation or data_fraction), unless --rows or --columns ask for it.
bool WantsSaeReport(const ParsedArgs& args, const std::vector<v1::Job>& jobs, const std::vector<ReportJob>& reported) {
  if (args.Has("sae")) return true;
  if (args.Has("rows") || args.Has("columns")) return false;
  const bool has_analyses =
      std::any_of(jobs.begin(), jobs.end(), [](const v1::Job& job) { return job.kind() == kAnalyzeSaeKind; });
  return has_analyses && DefaultRowParams(reported).empty();
}

CommandResult PrintSaeReport(CommandContext& context, ReportFormat format, const v1::Sweep& sweep,
                             const std::vector<v1::Job>& jobs, const std::vector<ReportJob>& reported) {
  const ParsedArgs& args = context.args();
  SaeReportOptions options;
  if (args.Has("layer")) {
    EXPSVC_ASSIGN_OR_RETURN(options.layer, args.IntValueOr("layer", 0));
  }
  absl::StatusOr<SaeReport> report = BuildSaeReport(SaeAnalysisJobs(jobs, reported), options);
  if (!report.ok()) {
    if (IsUsageError(report.status())) return report.status();
    return absl::Status(report.status().code(),
                        absl::StrCat("sweep ", sweep.id(), " (", sweep.name(), "): ", report.status().message()));
  }
  std::ostream& out = context.out();
  switch (format) {
    case ReportFormat::kMarkdown: out << RenderSaeReportMarkdown(*report); break;
    case ReportFormat::kCsv: out << RenderSaeReportCsv(*report); break;
    case ReportFormat::kJson: {
      nlohmann::json json = SaeReportToJson(*report);
      json["sweep_id"] = sweep.id();
      json["sweep_name"] = sweep.name();
      out << DumpJson(json) << "\n";
      break;
    }
  }
  return kExitOk;
}

CommandResult RunReport(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(ReportFormat format, ParseReportFormat(args));
  EXPSVC_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(args.positionals()[0], "sweep id"));
  ReportOptions options;
  EXPSVC_ASSIGN_OR_RETURN(options.row_params, ParseNameList(args, "rows"));
  EXPSVC_ASSIGN_OR_RETURN(options.column_keys, ParseNameList(args, "columns"));
  if (args.Has("sae") && (args.Has("rows") || args.Has("columns"))) {
    return UsageError("--sae makes its own tables; it takes no --rows or --columns");
  }

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
  std::vector<ReportJob> jobs = ReportJobsFromMetrics(response);
  if (WantsSaeReport(args, page.jobs, jobs)) return PrintSaeReport(context, format, sweep, page.jobs, jobs);
  if (args.Has("layer")) return UsageError("--layer is for the SAE report (analyze_sae jobs; see --sae)");

  InheritParentParams(jobs, page.jobs);
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
  commands.push_back(
      {{.name = "report",
        .summary = "A sweep's results as a paper-style table (mean ± std over repetitions), or SAE tables.",
        .synopsis = "report SWEEP [--rows a,b] [--columns key1,key2] [--sae] [--layer N] "
                    "[--format markdown|csv|json]",
        .details = "One row per combination of the row parameters; jobs that share it (other\n"
                   "seeds) are repetitions: each cell is mean ± sample std over the row's jobs\n"
                   "with that metric (last step of each key), n is the number of repetitions.\n"
                   "Default rows: representation and data_fraction when they vary, attention\n"
                   "when present, then event_pitch_rule when it varies. Default columns: Params, ms/note, Loss (test_loss, else\n"
                   "eval_loss), F1 note, F1 pianoroll, GS, CS, PRS; those no job has are left\n"
                   "out. Rows: attention in paper order, note before event, data_fraction\n"
                   "descending, other values ascending.\n\n"
                   "SAE study (--sae; the default for a sweep with analyze_sae jobs and no\n"
                   "attention/representation/data_fraction jobs, unless --rows or --columns):\n"
                   "per model, layer x checkpoint tables of fraction_mixed and mean_r, then the\n"
                   "fractions of Japanese / English / Mixed / dead features over checkpoints at\n"
                   "one layer (--layer N; default the middle layer). Last value of each metric;\n"
                   "\"-\" where an analysis has not reported.\n\n"
                   "examples:\n"
                   "  expctl report 12\n"
                   "  expctl report 12 --rows attention,data_fraction --format csv > table.csv\n"
                   "  expctl report 12 --columns test_loss,self_similarity_lag4,self_similarity_lag8\n"
                   "  expctl report 31 --layer 12            # an SAE sweep\n",
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
                  {.name = "sae", .help = "the SAE study's tables (analyze_sae jobs)"},
                  {.name = "layer",
                   .takes_value = true,
                   .value_name = "N",
                   .help = "SAE report: the layer of the language table (default: the middle one)"},
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
