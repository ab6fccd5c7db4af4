// expsvc-worker: leases jobs from the scheduler and runs them.
//
//   expsvc-worker --scheduler=HOST:PORT --token=TOKEN [--slots=N] ...
//
// SIGTERM/SIGINT stop leasing and drain running jobs (up to
// --drain_timeout_ms); a second signal exits at once.

#include <fcntl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "worker/runtime/child_process.h"
#include "worker/command/command_job.h"
#include "worker/diagnostic/diagnostic_jobs.h"
#include "worker/lm/jobs/lm_jobs.h"
#include "worker/lm/jobs/sae_jobs.h"
#include "worker/music/jobs/train_music.h"
#include "worker/runtime/event_log.h"
#include "worker/runtime/heap_policy.h"
#include "worker/runtime/job_kind_registry.h"
#include "worker/runtime/worker.h"

namespace {

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

}  // namespace

ABSL_FLAG(std::string, scheduler, EnvOr("EXPSVC_ADDR", "127.0.0.1:50051"),
          "Scheduler address host:port, or several replicas' as host:port,host:port (fails over between them; "
          "default: $EXPSVC_ADDR, else 127.0.0.1:50051).");
// No default shown here: --help must not print a token taken from the environment.
ABSL_FLAG(std::string, token, "", "Worker token (default: $EXPSVC_TOKEN). Required.");
ABSL_FLAG(std::string, name, "", "Worker name shown in ListWorkers (default: <hostname>-<pid>).");
ABSL_FLAG(int, slots, 1, "Jobs run at once.");
ABSL_FLAG(int, cpu_cores, 0, "CPU cores to advertise (0: all of this machine's).");
ABSL_FLAG(int64_t, memory_mb, 0, "Memory to advertise in MiB (0: this machine's total).");
ABSL_FLAG(int64_t, group_memory_budget_mb, 0,
          "Memory a leased group of a group kind (train_sae, analyze_sae) may use in MiB; a group needing more "
          "runs its members in subsets (0: 90% of its GPU's memory when it has one, else --memory_mb).");
ABSL_FLAG(std::string, scratch_dir, "/tmp/expsvc-worker", "Folder for the jobs' scratch folders.");
ABSL_FLAG(int, lease_wait_ms, 2000, "LeaseJobs long-poll wait when no job is ready.");
ABSL_FLAG(std::string, tls_ca, EnvOr("EXPSVC_TLS_CA", ""),
          "CA bundle to verify the scheduler's TLS certificate (empty: no TLS).");
ABSL_FLAG(int, drain_timeout_ms, 30000, "On SIGTERM, how long running jobs get before their leases are released.");
ABSL_FLAG(int, metric_flush_ms, 500, "How often buffered metrics and logs are sent.");
ABSL_FLAG(std::vector<std::string>, gpus, {},
          "CUDA device indices this worker hands out, e.g. 0,1, or 'none' (default: every device the NVIDIA driver "
          "shows). A job asking for N GPUs gets N of them, not shared with another running job: Torch jobs run on "
          "the first, command jobs see them as CUDA_VISIBLE_DEVICES.");
ABSL_FLAG(bool, allow_command_jobs, false,
          "Run `command` jobs: any program a sweep names, as this worker's user. Off by default: whoever can submit "
          "a sweep can then run code on this machine.");
ABSL_FLAG(std::string, python_path, "",
          "Folder with the built Python client (`import expsvc`), put in front of a command job's PYTHONPATH "
          "(default: ../python beside this binary when it exists, as in a build tree).");

namespace {

int g_stop_pipe[2] = {-1, -1};
std::atomic<int> g_stop_signals{0};

extern "C" void OnStopSignal(int) {
  // Only async-signal-safe calls here: the pipe wakes the stop thread.
  if (g_stop_signals.fetch_add(1) > 0) {
    static const char kMessage[] = "expsvc-worker: second signal, exiting now\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    // No command job's program outlives the worker.
    expsvc::worker::KillAllChildGroups();
    ::_exit(1);
  }
  const char byte = 's';
  (void)!::write(g_stop_pipe[1], &byte, 1);
}

bool InstallStopSignals() {
  if (::pipe2(g_stop_pipe, O_CLOEXEC) != 0) return false;
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  return ::sigaction(SIGTERM, &action, nullptr) == 0 && ::sigaction(SIGINT, &action, nullptr) == 0;
}

// Waits for a byte on the stop pipe: 's' from a signal, 'q' when main is done.
void WatchStopPipe(expsvc::worker::Worker& worker) {
  while (true) {
    char byte = 0;
    ssize_t n = ::read(g_stop_pipe[0], &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || byte == 'q') return;
    expsvc::worker::LogEvent("stop requested (signal): no more leases, draining running jobs");
    worker.RequestStop();
  }
}

std::string DefaultName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "worker");
  return absl::StrCat(host, "-", ::getpid());
}

// build/worker/expsvc-worker -> build/python, where the build puts the client.
std::string DefaultPythonPath() {
  std::error_code error;
  const std::filesystem::path executable = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "";
  const std::filesystem::path candidate = (executable.parent_path() / "../python").lexically_normal();
  return std::filesystem::exists(candidate / "expsvc" / "__init__.py", error) ? candidate.string() : "";
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "expsvc-worker: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts (see heap_policy.h).
  const bool heap_policy = expsvc::worker::KeepLargeAllocationsInHeap();
  absl::SetProgramUsageMessage("Leases jobs from the expsvc scheduler and runs them.");
  // --help lists this file's flags (by default it looks for a file named
  // after the binary).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) { return absl::StrContains(file, "worker/main.cc"); };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);

  expsvc::worker::WorkerOptions options;
  options.scheduler_address = absl::GetFlag(FLAGS_scheduler);
  options.token = absl::GetFlag(FLAGS_token);
  if (options.token.empty()) options.token = EnvOr("EXPSVC_TOKEN", "");
  if (options.token.empty()) return Fail("a worker token is required: pass --token or set EXPSVC_TOKEN");
  options.name = absl::GetFlag(FLAGS_name).empty() ? DefaultName() : absl::GetFlag(FLAGS_name);
  options.slots = absl::GetFlag(FLAGS_slots);
  if (options.slots < 1) return Fail("--slots must be at least 1");
  if (absl::GetFlag(FLAGS_cpu_cores) > 0) options.cpu_cores = absl::GetFlag(FLAGS_cpu_cores);
  if (absl::GetFlag(FLAGS_memory_mb) > 0) options.memory_mb = absl::GetFlag(FLAGS_memory_mb);
  options.group_memory_budget_mb = absl::GetFlag(FLAGS_group_memory_budget_mb);
  options.scratch_root = absl::GetFlag(FLAGS_scratch_dir);
  options.lease_wait_ms = std::max(absl::GetFlag(FLAGS_lease_wait_ms), 0);
  if (!absl::GetFlag(FLAGS_tls_ca).empty()) options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.drain_timeout_ms = std::max(absl::GetFlag(FLAGS_drain_timeout_ms), 0);
  options.metric_flush_ms = std::max(absl::GetFlag(FLAGS_metric_flush_ms), 10);

  const std::vector<std::string> gpus = absl::GetFlag(FLAGS_gpus);
  if (gpus.size() == 1 && gpus[0] == "none") options.use_gpus = false;
  for (const std::string& index : options.use_gpus ? gpus : std::vector<std::string>{}) {
    int value = -1;
    if (!absl::SimpleAtoi(index, &value) || value < 0) return Fail(absl::StrCat("--gpus: '", index, "' is not a device index"));
    if (std::find(options.gpu_indices.begin(), options.gpu_indices.end(), value) != options.gpu_indices.end()) {
      return Fail(absl::StrCat("--gpus: device ", value, " is listed twice"));
    }
    options.gpu_indices.push_back(value);
  }

  expsvc::worker::JobKindRegistry registry;
  for (auto register_kinds : {expsvc::worker::RegisterDiagnosticJobs, expsvc::worker::RegisterMusicJobs,
                              expsvc::worker::RegisterLmJobs, expsvc::worker::RegisterSaeJobs}) {
    if (absl::Status status = register_kinds(registry); !status.ok()) return Fail(status.ToString());
  }
  if (absl::GetFlag(FLAGS_allow_command_jobs)) {
    expsvc::worker::CommandJobOptions command;
    command.scheduler_address = options.scheduler_address;
    command.tls_ca_file = options.tls_ca_file.value_or("");
    command.python_path = absl::GetFlag(FLAGS_python_path).empty() ? DefaultPythonPath() : absl::GetFlag(FLAGS_python_path);
    if (absl::Status status = expsvc::worker::RegisterCommandJob(registry, command); !status.ok()) {
      return Fail(status.ToString());
    }
    // The programs run as this user: keep them out of this process's memory
    // and /proc/<pid>/environ (where the worker token may be), and from
    // attaching a debugger to it.
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return Fail("prctl(PR_SET_DUMPABLE, 0) failed");
    expsvc::worker::LogEventF("command jobs allowed: sweeps may run any program here as uid %d (python client: %s)",
                              static_cast<int>(::getuid()), command.python_path.empty() ? "none" : command.python_path);
  }
  if (!InstallStopSignals()) return Fail("cannot install the SIGTERM/SIGINT handlers");
  if (!heap_policy) expsvc::worker::LogEvent(expsvc::worker::HeapPolicyDescription(heap_policy));

  expsvc::worker::Worker worker(options, registry);
  std::thread stop_watcher([&worker] { WatchStopPipe(worker); });
  const absl::Status status = worker.Run();
  const char quit = 'q';
  (void)!::write(g_stop_pipe[1], &quit, 1);
  stop_watcher.join();

  const int exit_code = status.ok() ? 0 : Fail(status.ToString());
  if (worker.UnfinishedJobs() > 0) {
    // Their leases were released; waiting for them would block the exit.
    // Programs of command jobs still running go first.
    expsvc::worker::KillAllChildGroups();
    std::fflush(stderr);
    std::_Exit(exit_code);
  }
  return exit_code;
}
