#include "worker/command/command_job.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/kinds/command_kinds.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "worker/runtime/child_process.h"
#include "worker/command/metric_lines.h"
#include "worker/command/placeholders.h"

extern char** environ;

namespace expsvc::worker {
namespace {

namespace fs = std::filesystem;

constexpr size_t kStderrTailLines = 8;

std::string EnvName(const std::string& param) {
  std::string name = "EXPSVC_PARAM_";
  for (char c : param) name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? std::toupper(c) : '_');
  return name;
}

// The child's CUDA_VISIBLE_DEVICES. The worker numbers its GPUs as CUDA does
// inside its own CUDA_VISIBLE_DEVICES (0.. over that list, as under Slurm's
// --gres), so each index is mapped back to the entry it stands for (an
// index, a UUID or a MIG id); without one the indices are the machine's.
std::string VisibleDevicesFor(const std::vector<int>& gpus, const char* worker_visible) {
  if (worker_visible == nullptr || *worker_visible == '\0') return absl::StrJoin(gpus, ",");
  const std::vector<std::string> entries = absl::StrSplit(worker_visible, ',', absl::SkipWhitespace());
  std::vector<std::string> mapped;
  for (int gpu : gpus) {
    if (gpu >= 0 && gpu < static_cast<int>(entries.size())) mapped.push_back(entries[static_cast<size_t>(gpu)]);
  }
  return absl::StrJoin(mapped, ",");
}

// The worker's environment without anything of expsvc's own (above all its
// token) or the GPU list, then the job's variables.
std::vector<std::string> ChildEnvironment(const CommandJobOptions& options,
                                          const std::map<std::string, std::string>& job_vars) {
  std::vector<std::string> env;
  std::string python_path;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view variable(*entry);
    if (variable.rfind("EXPSVC_", 0) == 0 || variable.rfind("CUDA_VISIBLE_DEVICES=", 0) == 0) continue;
    if (variable.rfind("PYTHONPATH=", 0) == 0) {
      python_path = std::string(variable.substr(11));
      continue;
    }
    env.emplace_back(variable);
  }
  if (!options.python_path.empty()) {
    python_path = python_path.empty() ? options.python_path : absl::StrCat(options.python_path, ":", python_path);
  }
  if (!python_path.empty()) env.push_back(absl::StrCat("PYTHONPATH=", python_path));
  for (const auto& [name, value] : job_vars) env.push_back(absl::StrCat(name, "=", value));
  return env;
}

// Own artifacts of earlier attempts go back into outputs/.
absl::StatusOr<int> RestoreOutputs(JobContext& context, const fs::path& outputs) {
  int restored = 0;
  for (const expsvc::v1::ArtifactRef& artifact : context.leased_job().own_artifacts()) {
    EXPSVC_ASSIGN_OR_RETURN(std::string local, context.FetchArtifact(artifact));
    std::error_code error;
    fs::copy_file(local, outputs / artifact.name(), fs::copy_options::overwrite_existing, error);
    if (error) {
      return absl::InternalError(
          absl::StrCat("restoring ", artifact.name(), " into ", outputs.string(), ": ", error.message()));
    }
    ++restored;
  }
  return restored;
}

// Files directly in outputs/ become artifacts; those identical to what an
// earlier attempt stored are not sent again.
absl::Status UploadOutputs(JobContext& context, const fs::path& outputs) {
  std::map<std::string, std::string> earlier_sha;
  for (const expsvc::v1::ArtifactRef& artifact : context.leased_job().own_artifacts()) {
    earlier_sha[artifact.name()] = artifact.sha256();
  }
  std::error_code error;
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(outputs, error)) {
    if (entry.is_directory(error)) {
      context.Log(absl::StrCat("outputs/", entry.path().filename().string(),
                               "/ is a folder: only files directly in outputs/ become artifacts (pack it into one)"));
      continue;
    }
    if (entry.is_symlink(error) || !entry.is_regular_file(error)) continue;
    files.push_back(entry.path());
  }
  if (error) return absl::InternalError(absl::StrCat("listing ", outputs.string(), ": ", error.message()));
  std::sort(files.begin(), files.end());
  int uploaded = 0;
  for (const fs::path& file : files) {
    const std::string name = file.filename().string();
    if (auto earlier = earlier_sha.find(name); earlier != earlier_sha.end()) {
      auto sha = Sha256HexOfFile(file.string());
      if (sha.ok() && *sha == earlier->second) continue;
    }
    auto stored = context.UploadArtifact(name, file.string());
    if (!stored.ok()) {
      // A name the scheduler refuses is the program's mistake: say so and go on.
      if (absl::IsInvalidArgument(stored.status())) {
        context.Log(absl::StrCat("outputs/", name, " not stored: ", stored.status().message()));
        continue;
      }
      return stored.status();
    }
    ++uploaded;
  }
  if (uploaded > 0) context.Log(absl::StrCat("stored ", uploaded, " file(s) of outputs/ as artifacts"));
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterCommandJob(JobKindRegistry& registry, CommandJobOptions options) {
  return registry.Register("command", [options = std::move(options)](JobContext& context) {
    return RunCommandJob(context, options);
  });
}

absl::Status RunCommandJob(JobContext& context, const CommandJobOptions& options) {
  EXPSVC_ASSIGN_OR_RETURN(kinds::CommandParams params, kinds::CommandParams::FromJson(context.params()));
  if (params.command.empty() || params.command.front().empty()) {
    return absl::InvalidArgumentError("parameter 'command' is empty: name the program to run");
  }
  std::vector<std::string> argv;
  for (const std::string& argument : params.command) {
    EXPSVC_ASSIGN_OR_RETURN(std::string filled, SubstitutePlaceholders(argument, context.params()));
    argv.push_back(std::move(filled));
  }

  if (context.leased_job().job_token().empty()) {
    // Without it the program's client could not report anything.
    return absl::FailedPreconditionError(
        "the scheduler sent no job token with the lease (is it older than this worker?)");
  }
  const fs::path scratch(context.scratch_dir());
  const fs::path outputs = scratch / "outputs";
  const fs::path stop_file = scratch / "expsvc-stop";
  const fs::path params_file = scratch / "params.json";
  std::error_code error;
  fs::create_directories(outputs, error);
  if (error) return absl::InternalError(absl::StrCat("creating ", outputs.string(), ": ", error.message()));
  EXPSVC_ASSIGN_OR_RETURN(int restored, RestoreOutputs(context, outputs));
  if (restored > 0) context.Log(absl::StrCat("restored ", restored, " file(s) of earlier attempts into outputs/"));
  {
    std::ofstream out(params_file);
    out << context.params().dump(2) << "\n";
    if (!out) return absl::InternalError(absl::StrCat("writing ", params_file.string()));
  }

  const expsvc::v1::LeasedJob& leased = context.leased_job();
  std::map<std::string, std::string> vars = {
      {"EXPSVC_ADDR", options.scheduler_address},
      {"EXPSVC_JOB_TOKEN", leased.job_token()},
      {"EXPSVC_JOB_ID", absl::StrCat(context.job_id())},
      {"EXPSVC_SWEEP_ID", absl::StrCat(leased.job().sweep_id())},
      {"EXPSVC_ATTEMPT", absl::StrCat(context.attempt())},
      {"EXPSVC_LEASE_EPOCH", absl::StrCat(leased.epoch())},
      {"EXPSVC_OUTPUTS_DIR", outputs.string()},
      {"EXPSVC_STOP_FILE", stop_file.string()},
      {"EXPSVC_PARAMS_FILE", params_file.string()},
      {"CUDA_VISIBLE_DEVICES", VisibleDevicesFor(context.assigned_gpus(), std::getenv("CUDA_VISIBLE_DEVICES"))},
      {"PYTHONUNBUFFERED", "1"},
  };
  if (!options.tls_ca_file.empty()) vars["EXPSVC_TLS_CA"] = options.tls_ca_file;
  for (const auto& [name, value] : context.params().items()) {
    if (name != "command" && !value.is_null()) vars[EnvName(name)] = ParamText(value);
  }

  ChildSpec spec;
  spec.argv = argv;
  spec.env = ChildEnvironment(options, vars);
  spec.working_dir = scratch.string();
  spec.grace = std::chrono::milliseconds(static_cast<int64_t>(params.grace_seconds * 1000));

  std::deque<std::string> stderr_tail;
  int64_t metric_lines = 0;
  ChildCallbacks callbacks;
  callbacks.on_stdout_line = [&](std::string_view line) {
    if (auto points = ParseMetricLine(line)) {
      for (const PrintedMetric& point : *points) context.ReportMetric(point.key, point.step, point.value);
      ++metric_lines;
      return;
    }
    context.Log(line);
  };
  callbacks.on_stderr_line = [&](std::string_view line) {
    context.Log(absl::StrCat("[stderr] ", std::string(line)));
    stderr_tail.emplace_back(line);
    if (stderr_tail.size() > kStderrTailLines) stderr_tail.pop_front();
  };
  callbacks.should_stop = [&] { return context.should_stop(); };
  callbacks.on_stopping = [&] {
    std::ofstream(stop_file) << (context.shutting_down() ? "drain\n" : "cancel\n");
    context.Log(absl::StrCat("stopping the program: SIGTERM to its process group, SIGKILL after ",
                             params.grace_seconds, " s"));
  };

  context.Log(absl::StrCat("running: ", absl::StrJoin(argv, " ")));
  EXPSVC_ASSIGN_OR_RETURN(ChildExit exit, RunChild(spec, callbacks));
  context.Log(absl::StrCat("program ended: ", exit.Describe(), exit.killed_after_grace ? " (after SIGKILL)" : "",
                           "; ", metric_lines, " metric line(s) read"));

  // A cancelled job (or one whose lease is gone) stores nothing more.
  const bool cancelled = exit.stopped && !context.shutting_down();
  absl::Status stored = cancelled ? absl::OkStatus() : UploadOutputs(context, outputs);
  if (exit.stopped) {
    if (!stored.ok()) context.Log(absl::StrCat("storing outputs/ failed: ", stored.ToString()));
    return context.shutting_down() ? absl::AbortedError("worker shutting down")
                                   : absl::CancelledError("cancelled, or the lease was lost");
  }
  if (exit.exit_code == 0) return stored;
  // The program's own failure is the reason, even when storing its outputs failed too.
  if (!stored.ok()) context.Log(absl::StrCat("storing outputs/ failed: ", stored.ToString()));
  std::string reason = absl::StrCat(fs::path(argv[0]).filename().string(), " failed (", exit.Describe(), ")");
  if (!stderr_tail.empty()) absl::StrAppend(&reason, ": ", absl::StrJoin(stderr_tail, " | "));
  return absl::UnknownError(reason);
}

}  // namespace expsvc::worker
