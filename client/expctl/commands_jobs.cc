// ls jobs, logs, retry: the commands about individual jobs.

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/expctl/command.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/format.h"
#include "client/expctl/job_state.h"
#include "client/expctl/params.h"
#include "client/expctl/proto_json.h"
#include "client/expctl/server_queries.h"
#include "client/expctl/table.h"
#include "common/status_macros.h"

namespace expsvc::expctl {
namespace {

constexpr int64_t kDefaultJobLimit = 200;
constexpr int32_t kLogLinesPerPage = 1000;
constexpr auto kFollowPollInterval = std::chrono::seconds(1);

// --state accepts repeats and commas: --state failed,cancelled.
absl::StatusOr<std::vector<v1::JobState>> ParseStateFilter(const std::vector<std::string>& values) {
  std::vector<v1::JobState> states;
  for (const std::string& value : values) {
    for (absl::string_view name : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      std::optional<v1::JobState> state = ParseJobState(name);
      if (!state.has_value()) {
        return UsageError(absl::StrCat("--state: unknown state '", name,
                                       "' (waiting, queued, running, succeeded, failed, cancelled)"));
      }
      states.push_back(*state);
    }
  }
  return states;
}

CommandResult RunListJobs(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  std::optional<std::string> sweep_text = args.Value("sweep");
  if (!sweep_text.has_value()) return UsageError("ls jobs: --sweep ID is required");

  JobQuery query;
  EXPSVC_ASSIGN_OR_RETURN(query.sweep_id, ParseId(*sweep_text, "sweep id"));
  EXPSVC_ASSIGN_OR_RETURN(query.states, ParseStateFilter(args.Values("state")));
  query.kind = args.ValueOr("kind", "");
  EXPSVC_ASSIGN_OR_RETURN(query.params_filter_json, ParamFilterJson(args.Values("param")));
  EXPSVC_ASSIGN_OR_RETURN(query.limit, args.IntValueOr("limit", kDefaultJobLimit));
  if (query.limit < 0) return UsageError("--limit: expected 0 (all) or more");

  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  EXPSVC_ASSIGN_OR_RETURN(JobPage page, ListJobsPaged(*connection, query));

  if (format == OutputFormat::kJson) {
    nlohmann::json list = nlohmann::json::array();
    for (const v1::Job& job : page.jobs) list.push_back(JobToJson(job));
    context.out() << DumpJson(list) << "\n";
  } else if (page.jobs.empty()) {
    context.out() << "no jobs match\n";
  } else {
    Table table({{"ID", Align::kRight},
                 {"STAGE"},
                 {"KIND"},
                 {"STATE"},
                 {"ATTEMPT", Align::kRight},
                 {"PARAMS", Align::kLeft, true},
                 {"ERROR", Align::kLeft, true}});
    for (const v1::Job& job : page.jobs) {
      table.AddRow({absl::StrCat(job.id()), job.stage(), job.kind(), JobStateName(job.state()),
                    absl::StrCat(job.attempt(), "/", job.max_attempts()),
                    FormatParamsInline(ParseParamsJson(job.params_json())), job.error()});
    }
    context.out() << table.Render(context.output_width());
  }
  if (page.truncated) {
    context.err() << "expctl: showing the first " << page.jobs.size() << " jobs; --limit 0 lists them all\n";
  }
  return kExitOk;
}

// Prints every line after `*after_seq`, page by page, and advances it.
absl::Status PrintNewLogLines(Connection& connection, int64_t job_id, bool with_timestamps, int64_t* after_seq,
                              int32_t* last_attempt, std::ostream& out) {
  while (true) {
    v1::GetJobLogsRequest request;
    request.set_job_id(job_id);
    request.set_after_seq(*after_seq);
    request.set_limit(kLogLinesPerPage);
    v1::GetJobLogsResponse response;
    EXPSVC_RETURN_IF_ERROR(connection.Call(connection.jobs(), &v1::JobService::Stub::GetJobLogs, request, &response));
    if (response.lines_size() == 0) return absl::OkStatus();
    for (const v1::LogLine& line : response.lines()) {
      // Mark where a retry starts, so two attempts' output is not read as one.
      if (*last_attempt != 0 && line.attempt() != *last_attempt) {
        out << "=== attempt " << line.attempt() << " ===\n";
      }
      *last_attempt = line.attempt();
      if (with_timestamps) out << FormatTimestamp(line.time_ms()) << "  ";
      out << line.line();
      if (line.line().empty() || line.line().back() != '\n') out << '\n';
      *after_seq = std::max(*after_seq, line.seq());
    }
    out.flush();
  }
}

CommandResult RunLogs(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(int64_t job_id, ParseId(args.positionals()[0], "job id"));
  const bool follow = args.Has("follow");
  const bool with_timestamps = args.Has("timestamps");
  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());

  int64_t after_seq = 0;
  int32_t last_attempt = 0;
  if (!follow) {
    EXPSVC_RETURN_IF_ERROR(
        PrintNewLogLines(*connection, job_id, with_timestamps, &after_seq, &last_attempt, context.out()));
    return kExitOk;
  }
  while (true) {
    // Read the state before the lines: when it is already terminal, the
    // lines fetched next are the job's last ones.
    EXPSVC_ASSIGN_OR_RETURN(v1::Job job, FetchJob(*connection, job_id));
    EXPSVC_RETURN_IF_ERROR(
        PrintNewLogLines(*connection, job_id, with_timestamps, &after_seq, &last_attempt, context.out()));
    if (IsTerminalJobState(job.state())) {
      context.err() << "expctl: job " << job_id << " " << JobStateName(job.state()) << (job.error().empty() ? "" : ": ")
                    << job.error() << "\n";
      return kExitOk;
    }
    std::this_thread::sleep_for(kFollowPollInterval);
  }
}

CommandResult RunRetry(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  v1::RetryJobRequest request;
  const std::string sweep = args.Value("sweep").value_or("");
  const std::string stage = args.Value("stage").value_or("");
  if (sweep.empty() == args.positionals().empty()) {
    return absl::InvalidArgumentError("retry takes a JOB id or --sweep N (not both)");
  }
  if (!stage.empty() && sweep.empty()) return absl::InvalidArgumentError("--stage needs --sweep");
  if (sweep.empty()) {
    EXPSVC_ASSIGN_OR_RETURN(int64_t job_id, ParseId(args.positionals()[0], "job id"));
    request.set_job_id(job_id);
  } else {
    EXPSVC_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(sweep, "sweep id"));
    request.set_sweep_id(sweep_id);
    request.set_stage(stage);
  }
  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  v1::RetryJobResponse response;
  EXPSVC_RETURN_IF_ERROR(connection->Call(connection->jobs(), &v1::JobService::Stub::RetryJob, request, &response));
  if (format == OutputFormat::kJson) {
    context.out() << DumpJson({{"requeued_jobs", response.requeued_jobs()}}) << "\n";
  } else if (request.job_id() != 0) {
    context.out() << "requeued " << Plural(response.requeued_jobs(), "job") << " (job " << request.job_id()
                  << ", its group's failed members and the descendants they had cancelled)\n";
  } else {
    context.out() << "requeued " << Plural(response.requeued_jobs(), "job") << " (the failed and cancelled jobs of sweep "
                  << request.sweep_id() << (stage.empty() ? "" : absl::StrCat(", stage ", stage))
                  << ", and their descendants)\n";
  }
  return kExitOk;
}

}  // namespace

std::vector<Command> JobCommands() {
  std::vector<Command> commands;
  commands.push_back(
      {{.name = "ls jobs",
        .summary = "List a sweep's jobs, filtered by state, kind and parameters.",
        .synopsis = "ls jobs --sweep ID [--state S] [--kind K] [--param k=v ...] [--limit N]",
        .details = "--param values are typed: lr=0.1 matches the number, model=tiny the string,\n"
                   "flag=true the boolean; quote to force a string: 'seed=\"1\"'.\n\n"
                   "examples:\n"
                   "  expctl ls jobs --sweep 12 --state failed\n"
                   "  expctl ls jobs --sweep 12 --kind train --param lr=0.01 --limit 0\n",
        .flags =
            {{.name = "sweep", .takes_value = true, .value_name = "ID", .help = "the sweep (required)"},
             {.name = "state",
              .takes_value = true,
              .repeatable = true,
              .value_name = "S[,S]",
              .help = "waiting|queued|running|succeeded|failed|cancelled"},
             {.name = "kind", .takes_value = true, .value_name = "K", .help = "only jobs of this kind"},
             {.name = "param",
              .takes_value = true,
              .repeatable = true,
              .value_name = "k=v",
              .help = "only jobs whose params contain k=v"},
             {.name = "limit", .takes_value = true, .value_name = "N", .help = "at most N jobs (default 200; 0: all)"},
             OutputFlag()}},
       RunListJobs});
  commands.push_back(
      {{.name = "logs",
        .summary = "Print a job's log lines; --follow keeps polling until it finishes.",
        .synopsis = "logs JOB [--follow] [--timestamps]",
        .flags = {{.name = "follow", .short_name = 'f', .help = "poll every second until the job has finished"},
                  {.name = "timestamps", .short_name = 't', .help = "prefix each line with its time"}},
        .min_positionals = 1,
        .max_positionals = 1},
       RunLogs});
  commands.push_back({{.name = "retry",
                       .summary = "Requeue a failed or cancelled job with its group, or a sweep's (stage's) failures; "
                                  "the descendants they had cancelled requeue too.",
                       .synopsis = "retry JOB | retry --sweep N [--stage NAME] [--output text|json]",
                       .flags = {OutputFlag(),
                                 {.name = "sweep",
                                  .takes_value = true,
                                  .value_name = "N",
                                  .help = "retry every failed or cancelled job of sweep N"},
                                 {.name = "stage",
                                  .takes_value = true,
                                  .value_name = "NAME",
                                  .help = "with --sweep: only this stage's failures"}},
                       .min_positionals = 0,
                       .max_positionals = 1},
                      RunRetry});
  return commands;
}

}  // namespace expsvc::expctl
