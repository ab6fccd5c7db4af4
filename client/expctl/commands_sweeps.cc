// submit, ls, status, cancel: the commands about whole sweeps.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/expctl/command.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/format.h"
#include "client/expctl/job_state.h"
#include "client/expctl/params.h"
#include "client/expctl/proto_json.h"
#include "client/expctl/server_queries.h"
#include "client/expctl/table.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "common/sweep/sweep_spec.h"

namespace expsvc::expctl {
namespace {

constexpr size_t kDryRunSampleSize = 5;

// Reads the sweep file, or stdin for "-". Unreadable -> usage error (exit 2).
absl::StatusOr<std::string> ReadSweepFile(const std::string& path) {
  std::ostringstream content;
  if (path == "-") {
    content << std::cin.rdbuf();
    return content.str();
  }
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return UsageError(absl::StrCat("cannot read sweep file '", path, "': it is a directory"));
  }
  absl::StatusOr<std::string> text = fs::ReadFile(path);
  if (!text.ok()) return UsageError(absl::StrCat("cannot read sweep file '", path, "': ", text.status().message()));
  return ReplaceSweepDir(*std::move(text), std::filesystem::absolute(path, error).parent_path().lexically_normal().string());
}

// The jobs shown by --dry-run: the first job of each stage (so every stage
// is represented), then evenly spaced ones, in plan order.
std::vector<size_t> PickSampleJobs(const SweepPlan& plan) {
  std::vector<size_t> picked;
  std::map<std::string, bool> stage_seen;
  for (size_t i = 0; i < plan.jobs.size() && picked.size() < kDryRunSampleSize; ++i) {
    if (!stage_seen[plan.jobs[i].stage]) {
      stage_seen[plan.jobs[i].stage] = true;
      picked.push_back(i);
    }
  }
  const size_t total = plan.jobs.size();
  const size_t wanted = std::min(kDryRunSampleSize, total);
  for (size_t k = 0; k < wanted && picked.size() < wanted; ++k) {
    const size_t start = k * total / wanted;
    for (size_t offset = 0; offset < total; ++offset) {
      const size_t probe = (start + offset) % total;
      if (std::find(picked.begin(), picked.end(), probe) == picked.end()) {
        picked.push_back(probe);
        break;
      }
    }
  }
  std::sort(picked.begin(), picked.end());
  return picked;
}

// Per stage, the parameters whose value differs between its jobs: the grid
// and zip axes, which say more about a sample job than the defaults do.
std::map<std::string, std::set<std::string>> VaryingParamsByStage(const SweepPlan& plan) {
  std::map<std::string, const nlohmann::json*> first_params;
  std::map<std::string, std::set<std::string>> varying;
  for (const PlannedJob& job : plan.jobs) {
    auto [first, inserted] = first_params.emplace(job.stage, &job.params);
    varying[job.stage];
    if (inserted || !job.params.is_object()) continue;
    const nlohmann::json& reference = *first->second;
    for (auto it = job.params.begin(); it != job.params.end(); ++it) {
      if (!reference.contains(it.key()) || reference[it.key()] != it.value()) {
        varying[job.stage].insert(it.key());
      }
    }
    for (auto it = reference.begin(); it != reference.end(); ++it) {
      if (!job.params.contains(it.key())) varying[job.stage].insert(it.key());
    }
  }
  return varying;
}

// "lr=0.1 seed=2 | steps=10 ...": the varying parameters first.
std::string FormatParamsVaryingFirst(const nlohmann::json& params, const std::set<std::string>& varying) {
  if (!params.is_object() || varying.empty()) return FormatParamsInline(params);
  nlohmann::json leading = nlohmann::json::object();
  nlohmann::json rest = nlohmann::json::object();
  for (auto it = params.begin(); it != params.end(); ++it) {
    (varying.count(it.key()) > 0 ? leading : rest)[it.key()] = it.value();
  }
  if (rest.empty()) return FormatParamsInline(leading);
  return absl::StrCat(FormatParamsInline(leading), " | ", FormatParamsInline(rest));
}

// Jobs per kind, in the order kinds first appear in the stages.
std::vector<std::pair<std::string, int64_t>> JobsPerKind(const SweepPlan& plan) {
  std::vector<std::pair<std::string, int64_t>> per_kind;
  for (const StageSummary& stage : plan.stages) {
    auto it =
        std::find_if(per_kind.begin(), per_kind.end(), [&](const auto& entry) { return entry.first == stage.kind; });
    if (it == per_kind.end()) {
      per_kind.emplace_back(stage.kind, stage.jobs);
    } else {
      it->second += stage.jobs;
    }
  }
  return per_kind;
}

void PrintDryRunJson(const SweepPlan& plan, const std::string& file, std::ostream& out) {
  nlohmann::json stages = nlohmann::json::array();
  for (const StageSummary& stage : plan.stages) {
    stages.push_back({{"name", stage.name}, {"kind", stage.kind}, {"jobs", stage.jobs}, {"groups", stage.groups}});
  }
  nlohmann::json kinds = nlohmann::json::array();
  for (const auto& [kind, jobs] : JobsPerKind(plan)) {
    kinds.push_back({{"kind", kind}, {"jobs", jobs}});
  }
  nlohmann::json sample = nlohmann::json::array();
  for (size_t index : PickSampleJobs(plan)) {
    const PlannedJob& job = plan.jobs[index];
    sample.push_back({{"index", index},
                      {"stage", job.stage},
                      {"kind", job.kind},
                      {"params", job.params},
                      {"group_key", job.group_key},
                      {"parents", job.parents.size()},
                      {"priority", job.priority},
                      {"max_attempts", job.max_attempts},
                      {"resources",
                       {{"cpu_cores", job.resources.cpu_cores},
                        {"memory_mb", job.resources.memory_mb},
                        {"gpus", job.resources.gpus},
                        {"gpu_memory_gb", job.resources.gpu_memory_gb}}}});
  }
  nlohmann::json report = {{"dry_run", true},       {"name", plan.name}, {"file", file},   {"jobs", plan.jobs.size()},
                           {"groups", plan.groups}, {"stages", stages},  {"kinds", kinds}, {"sample", sample}};
  out << DumpJson(report) << "\n";
}

void PrintDryRunText(const SweepPlan& plan, const std::string& file, int width, std::ostream& out) {
  out << "dry run of sweep '" << plan.name << "' from " << file << " (nothing submitted)\n";
  out << Plural(static_cast<int64_t>(plan.jobs.size()), "job") << " in "
      << Plural(static_cast<int64_t>(plan.stages.size()), "stage") << ", " << Plural(plan.groups, "group") << "\n\n";

  Table stages({{"STAGE"}, {"KIND"}, {"JOBS", Align::kRight}, {"GROUPS", Align::kRight}});
  for (const StageSummary& stage : plan.stages) {
    stages.AddRow({stage.name, stage.kind, absl::StrCat(stage.jobs), absl::StrCat(stage.groups)});
  }
  out << stages.Render(width) << "\n";

  Table kinds({{"KIND"}, {"JOBS", Align::kRight}});
  for (const auto& [kind, jobs] : JobsPerKind(plan)) kinds.AddRow({kind, absl::StrCat(jobs)});
  out << kinds.Render(width) << "\n";

  std::vector<size_t> sample_indices = PickSampleJobs(plan);
  const std::map<std::string, std::set<std::string>> varying = VaryingParamsByStage(plan);
  out << "sample (" << sample_indices.size() << " of " << plan.jobs.size() << " jobs):\n";
  Table sample({{"#", Align::kRight},
                {"STAGE"},
                {"KIND"},
                {"GROUP", Align::kLeft, true},
                {"PARENTS", Align::kRight},
                {"PARAMS", Align::kLeft, true}});
  for (size_t index : sample_indices) {
    const PlannedJob& job = plan.jobs[index];
    sample.AddRow({absl::StrCat(index), job.stage, job.kind, job.group_key.empty() ? "-" : job.group_key,
                   absl::StrCat(job.parents.size()), FormatParamsVaryingFirst(job.params, varying.at(job.stage))});
  }
  out << sample.Render(width);
}

CommandResult RunSubmit(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  const std::string& path = args.positionals()[0];
  const std::string file_name = path == "-" ? "<stdin>" : path;
  EXPSVC_ASSIGN_OR_RETURN(std::string spec_yaml, ReadSweepFile(path));
  EXPSVC_RETURN_IF_ERROR(CheckSweepTextIsUtf8(spec_yaml, file_name));

  if (args.Has("dry-run")) {
    EXPSVC_ASSIGN_OR_RETURN(SweepPlan plan, ParseSweep(spec_yaml, file_name));
    if (format == OutputFormat::kJson) {
      PrintDryRunJson(plan, file_name, context.out());
    } else {
      PrintDryRunText(plan, file_name, context.output_width(), context.out());
    }
    return kExitOk;
  }

  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  v1::SubmitSweepRequest request;
  request.set_spec_yaml(spec_yaml);
  request.set_file_name(file_name);
  request.set_idempotency_key(args.ValueOr("key", ""));
  v1::SubmitSweepResponse response;
  EXPSVC_RETURN_IF_ERROR(
      connection->Call(connection->sweeps(), &v1::SweepService::Stub::SubmitSweep, request, &response));
  const v1::Sweep& sweep = response.sweep();
  int64_t planned_jobs = 0;
  for (const v1::StagePlan& stage : response.stages()) planned_jobs += stage.jobs();
  const int64_t jobs = std::max(sweep.counts().total(), planned_jobs);

  if (format == OutputFormat::kJson) {
    nlohmann::json stages = nlohmann::json::array();
    for (const v1::StagePlan& stage : response.stages()) {
      stages.push_back(
          {{"name", stage.stage()}, {"kind", stage.kind()}, {"jobs", stage.jobs()}, {"groups", stage.groups()}});
    }
    context.out() << DumpJson({{"sweep_id", sweep.id()},
                               {"name", sweep.name()},
                               {"jobs", jobs},
                               {"groups", sweep.groups()},
                               {"already_existed", response.already_existed()},
                               {"idempotency_key", request.idempotency_key()},
                               {"stages", stages}})
                  << "\n";
    return kExitOk;
  }
  // Scripts read the first two words ("sweep 12"): keep them first.
  if (response.already_existed()) {
    context.out() << "sweep " << sweep.id() << " already exists (idempotency key " << request.idempotency_key()
                  << ")\n";
  } else {
    context.out() << "sweep " << sweep.id() << " submitted: " << Plural(jobs, "job") << " in "
                  << Plural(response.stages_size(), "stage") << "\n";
  }
  return kExitOk;
}

CommandResult RunListSweeps(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  EXPSVC_ASSIGN_OR_RETURN(int64_t limit, args.IntValueOr("limit", 50));
  if (limit < 0) return UsageError("--limit: expected 0 (server's maximum) or more");
  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  v1::ListSweepsRequest request;
  request.set_limit(static_cast<int32_t>(std::min<int64_t>(limit, INT32_MAX)));
  v1::ListSweepsResponse response;
  EXPSVC_RETURN_IF_ERROR(
      connection->Call(connection->sweeps(), &v1::SweepService::Stub::ListSweeps, request, &response));
  std::vector<v1::Sweep> sweeps(response.sweeps().begin(), response.sweeps().end());
  std::sort(sweeps.begin(), sweeps.end(), [](const v1::Sweep& a, const v1::Sweep& b) { return a.id() > b.id(); });

  if (format == OutputFormat::kJson) {
    nlohmann::json list = nlohmann::json::array();
    for (const v1::Sweep& sweep : sweeps) list.push_back(SweepToJson(sweep));
    context.out() << DumpJson(list) << "\n";
    return kExitOk;
  }
  if (sweeps.empty()) {
    context.out() << "no sweeps\n";
    return kExitOk;
  }
  Table table({{"ID", Align::kRight},
               {"NAME", Align::kLeft, true},
               {"STATE"},
               {"JOBS", Align::kRight},
               {"OK", Align::kRight},
               {"FAIL", Align::kRight},
               {"CANCEL", Align::kRight},
               {"RUN", Align::kRight},
               {"QUEUE", Align::kRight},
               {"CREATED"}});
  const int64_t now = NowMs();
  for (const v1::Sweep& sweep : sweeps) {
    const v1::StateCounts& counts = sweep.counts();
    table.AddRow({absl::StrCat(sweep.id()), sweep.name(), sweep.state(), absl::StrCat(counts.total()),
                  absl::StrCat(counts.succeeded()), absl::StrCat(counts.failed()), absl::StrCat(counts.cancelled()),
                  absl::StrCat(counts.running()), absl::StrCat(counts.queued() + counts.waiting()),
                  FormatAgo(sweep.created_at_ms(), now)});
  }
  context.out() << table.Render(context.output_width());
  return kExitOk;
}

CommandResult RunStatus(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  EXPSVC_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(args.positionals()[0], "sweep id"));
  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  EXPSVC_ASSIGN_OR_RETURN(v1::Sweep sweep, FetchSweep(*connection, sweep_id));

  if (format == OutputFormat::kJson) {
    nlohmann::json report = SweepToJson(sweep);
    if (args.Has("spec")) report["spec_yaml"] = sweep.spec_yaml();
    context.out() << DumpJson(report) << "\n";
    return kExitOk;
  }
  std::ostream& out = context.out();
  const int64_t now = NowMs();
  const int64_t end_ms = sweep.finished_at_ms() > 0 ? sweep.finished_at_ms() : now;
  const double age_seconds = static_cast<double>(now - sweep.created_at_ms()) / 1000.0;
  const double duration_seconds = static_cast<double>(end_ms - sweep.created_at_ms()) / 1000.0;
  const v1::StateCounts& counts = sweep.counts();

  out << absl::StrFormat("%-10s %d\n", "sweep", sweep.id());
  out << absl::StrFormat("%-10s %s\n", "name", sweep.name());
  out << absl::StrFormat("%-10s %s\n", "state", sweep.state());
  out << absl::StrFormat("%-10s %s (%s ago)\n", "created", FormatTimestamp(sweep.created_at_ms()),
                         FormatDuration(age_seconds));
  if (sweep.finished_at_ms() > 0) {
    out << absl::StrFormat("%-10s %s (took %s)\n", "finished", FormatTimestamp(sweep.finished_at_ms()),
                           FormatDuration(duration_seconds));
  } else {
    out << absl::StrFormat("%-10s %s\n", "age", FormatDuration(age_seconds));
  }
  if (!sweep.idempotency_key().empty()) {
    out << absl::StrFormat("%-10s %s\n", "key", sweep.idempotency_key());
  }
  out << absl::StrFormat("%-10s %d\n", "groups", sweep.groups());
  out << absl::StrFormat("%-10s %d\n", "jobs", counts.total());
  const std::pair<const char*, int64_t> per_state[] = {
      {"waiting", counts.waiting()},     {"queued", counts.queued()}, {"running", counts.running()},
      {"succeeded", counts.succeeded()}, {"failed", counts.failed()}, {"cancelled", counts.cancelled()}};
  for (const auto& [state, count] : per_state) {
    out << absl::StrFormat("  %-10s %*d\n", state, 8, count);
  }
  if (args.Has("spec")) out << "\n" << sweep.spec_yaml();
  return kExitOk;
}

CommandResult RunCancel(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  const std::string reason = args.ValueOr("reason", "cancelled with expctl");
  std::optional<std::string> job_text = args.Value("job");
  if (job_text.has_value() == !args.positionals().empty()) {
    return UsageError("cancel: give either SWEEP or --job ID");
  }
  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  int64_t cancelled = 0;
  std::string target;
  if (job_text.has_value()) {
    EXPSVC_ASSIGN_OR_RETURN(int64_t job_id, ParseId(*job_text, "job id"));
    v1::CancelJobRequest request;
    request.set_job_id(job_id);
    request.set_reason(reason);
    v1::CancelJobResponse response;
    EXPSVC_RETURN_IF_ERROR(connection->Call(connection->jobs(), &v1::JobService::Stub::CancelJob, request, &response));
    cancelled = response.cancelled_jobs();
    target = absl::StrCat("job ", job_id);
  } else {
    EXPSVC_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(args.positionals()[0], "sweep id"));
    v1::CancelSweepRequest request;
    request.set_sweep_id(sweep_id);
    request.set_reason(reason);
    v1::CancelSweepResponse response;
    EXPSVC_RETURN_IF_ERROR(
        connection->Call(connection->sweeps(), &v1::SweepService::Stub::CancelSweep, request, &response));
    cancelled = response.cancelled_jobs();
    target = absl::StrCat("sweep ", sweep_id);
  }
  if (format == OutputFormat::kJson) {
    context.out() << DumpJson({{"cancelled_jobs", cancelled}}) << "\n";
  } else {
    context.out() << "cancelled " << Plural(cancelled, "job") << " (" << target << ")\n";
  }
  return kExitOk;
}

}  // namespace

std::vector<Command> SweepCommands() {
  std::vector<Command> commands;
  commands.push_back({{.name = "submit",
                       .summary = "Submit a sweep file (or check it locally with --dry-run).",
                       .synopsis = "submit FILE [--dry-run] [--output text|json] [--key IDEMPOTENCY_KEY]",
                       .details = "FILE may be '-' for stdin. Resubmitting with the same --key returns the\n"
                                  "sweep created the first time instead of a new one. In FILE, {sweep_dir}\n"
                                  "is replaced by the file's absolute folder (for scripts beside it).\n\n"
                                  "examples:\n"
                                  "  expctl submit examples/sweeps/demo.yaml --dry-run\n"
                                  "  expctl submit sweep.yaml --key nightly-2024-05-01\n",
                       .flags = {{.name = "dry-run", .help = "parse and expand locally; submit nothing"},
                                 OutputFlag(),
                                 {.name = "key",
                                  .takes_value = true,
                                  .value_name = "IDEMPOTENCY_KEY",
                                  .help = "idempotency key (default: none)"}},
                       .min_positionals = 1,
                       .max_positionals = 1},
                      RunSubmit});
  commands.push_back({{.name = "ls",
                       .summary = "List sweeps, newest first (see also: expctl ls jobs).",
                       .synopsis = "ls [--limit N] [--output text|json]",
                       .flags = {{.name = "limit",
                                  .takes_value = true,
                                  .value_name = "N",
                                  .help = "at most N sweeps (default 50; 0: the server's maximum)"},
                                 OutputFlag()}},
                      RunListSweeps});
  commands.push_back({{.name = "status",
                       .summary = "Show one sweep: state, age, groups and jobs per state.",
                       .synopsis = "status SWEEP [--spec] [--output text|json]",
                       .flags = {{.name = "spec", .help = "also print the submitted sweep YAML"}, OutputFlag()},
                       .min_positionals = 1,
                       .max_positionals = 1},
                      RunStatus});
  commands.push_back(
      {{.name = "cancel",
        .summary = "Cancel a sweep's unfinished jobs, or one job and its descendants.",
        .synopsis = "cancel SWEEP | cancel --job ID  [--reason TEXT]",
        .flags = {{.name = "job",
                   .takes_value = true,
                   .value_name = "ID",
                   .help = "cancel this job (and the jobs depending on it)"},
                  {.name = "reason", .takes_value = true, .value_name = "TEXT", .help = "recorded as the jobs' error"},
                  OutputFlag()},
        .min_positionals = 0,
        .max_positionals = 1},
       RunCancel});
  return commands;
}

}  // namespace expsvc::expctl
