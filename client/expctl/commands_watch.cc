// watch: follows a sweep's WatchSweep stream and draws its progress until
// it ends. Exit 0 when it succeeded, 1 when it failed or was cancelled.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/expctl/command.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/format.h"
#include "client/expctl/job_state.h"
#include "client/expctl/params.h"
#include "client/expctl/progress.h"
#include "client/expctl/server_queries.h"
#include "client/expctl/table.h"
#include "common/status_macros.h"

namespace expsvc::expctl {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kTerminalRedrawInterval = std::chrono::milliseconds(250);
// Without a TTY (CI logs, pipes): a line when the counts change, at most
// this often, and a keep-alive line when nothing changed for a while.
constexpr auto kPlainLineInterval = std::chrono::seconds(2);
constexpr auto kPlainKeepAliveInterval = std::chrono::seconds(30);
constexpr int kMaxReconnects = 5;
constexpr int64_t kFailedJobsShown = 10;
constexpr int kExitInterrupted = 130;

std::atomic<bool> interrupted{false};

extern "C" void OnInterrupt(int) {
  interrupted.store(true);
}

// The stream's messages, read on a background thread so the main thread
// can redraw on a timer (the rate and ETA move even when counts do not).
class SweepStreamReader {
 public:
  SweepStreamReader(Connection& connection, const v1::WatchSweepRequest& request)
      : context_(connection.StreamContext()),
        reader_(connection.sweeps().WatchSweep(context_.get(), request)),
        thread_([this] { ReadUntilEnd(); }) {}

  ~SweepStreamReader() {
    context_->TryCancel();
    thread_.join();
  }

  // Waits until a new message, the end of the stream, or `timeout`.
  // Returns the newest sweep seen (if any).
  std::optional<v1::Sweep> WaitForUpdate(Clock::duration timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [this] { return updates_ != seen_updates_ || done_; });
    seen_updates_ = updates_;
    return latest_;
  }

  bool done() {
    std::lock_guard lock(mutex_);
    return done_;
  }
  grpc::Status final_status() {
    std::lock_guard lock(mutex_);
    return final_status_;
  }
  bool received_any() {
    std::lock_guard lock(mutex_);
    return updates_ > 0;
  }

 private:
  void ReadUntilEnd() {
    v1::WatchSweepResponse response;
    while (reader_->Read(&response)) {
      std::lock_guard lock(mutex_);
      latest_ = response.sweep();
      ++updates_;
      changed_.notify_all();
    }
    grpc::Status status = reader_->Finish();
    std::lock_guard lock(mutex_);
    final_status_ = std::move(status);
    done_ = true;
    changed_.notify_all();
  }

  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchSweepResponse>> reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<v1::Sweep> latest_;
  uint64_t updates_ = 0;
  uint64_t seen_updates_ = 0;
  bool done_ = false;
  grpc::Status final_status_;
  // Last: started after everything it touches exists.
  std::thread thread_;
};

// Draws the progress line: in place on a terminal, as plain lines otherwise.
class ProgressPrinter {
 public:
  // `context` decides between in-place redraws and plain lines.
  explicit ProgressPrinter(CommandContext& context)
      : context_(context), out_(context.out()), terminal_(context.out_is_terminal()), start_(Clock::now()) {}

  void Show(const ProgressCounts& counts, bool force) {
    const Clock::time_point now = Clock::now();
    estimator_.AddSample(std::chrono::duration<double>(now - start_).count(), counts.finished());
    if (terminal_) {
      const int width = context_.output_width();
      // One column spare: a line filling the terminal wraps and breaks "\r".
      std::string line = FormatProgressLine(counts, estimator_.Rate(), width >= 100 ? 20 : 10);
      out_ << "\r\x1b[K" << TruncateToWidth(line, width - 1) << std::flush;
      drew_in_place_ = true;
      return;
    }
    const bool changed = !last_printed_.has_value() || *last_printed_ != counts;
    const auto since_last = now - last_print_time_;
    if (force ? changed : (changed && since_last >= kPlainLineInterval) || since_last >= kPlainKeepAliveInterval) {
      out_ << FormatProgressLine(counts, estimator_.Rate(), 20) << "\n" << std::flush;
      last_printed_ = counts;
      last_print_time_ = now;
    }
  }

  // Ends the in-place line so what follows starts on a fresh one.
  void Finish() {
    if (drew_in_place_) out_ << "\n" << std::flush;
    drew_in_place_ = false;
  }

  double elapsed_seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  CommandContext& context_;
  std::ostream& out_;
  bool terminal_;
  Clock::time_point start_;
  ThroughputEstimator estimator_;
  std::optional<ProgressCounts> last_printed_;
  Clock::time_point last_print_time_{};
  bool drew_in_place_ = false;
};

// Follows the stream until the sweep ends, reconnecting when the server
// goes away mid-watch (a restart, a replica behind a load balancer).
absl::StatusOr<v1::Sweep> FollowUntilEnd(Connection& connection, v1::Sweep sweep, int32_t poll_interval_ms,
                                         ProgressPrinter& printer, std::ostream& err) {
  v1::WatchSweepRequest request;
  request.set_sweep_id(sweep.id());
  request.set_poll_interval_ms(poll_interval_ms);
  int reconnects = 0;
  printer.Show(ToProgressCounts(sweep.counts()), /*force=*/true);
  while (!IsTerminalSweepState(sweep.state())) {
    grpc::Status stream_status;
    bool received_any = false;
    {
      SweepStreamReader stream(connection, request);
      while (!interrupted.load()) {
        std::optional<v1::Sweep> latest = stream.WaitForUpdate(kTerminalRedrawInterval);
        if (latest.has_value()) sweep = *latest;
        printer.Show(ToProgressCounts(sweep.counts()), /*force=*/false);
        if (IsTerminalSweepState(sweep.state()) || stream.done()) break;
      }
      stream_status = stream.final_status();
      received_any = stream.received_any();
      if (!stream.done()) stream_status = grpc::Status::OK;  // we left first
    }
    if (interrupted.load()) return absl::CancelledError("interrupted");
    if (IsTerminalSweepState(sweep.state())) break;

    if (received_any) reconnects = 0;
    if (!stream_status.ok() && stream_status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      return connection.Check(stream_status);
    }
    if (!stream_status.ok()) {
      if (++reconnects > kMaxReconnects) return connection.Check(stream_status);
      printer.Finish();
      err << "expctl: watch stream lost (" << stream_status.error_message() << "); reconnecting\n";
      std::this_thread::sleep_for(std::chrono::seconds(1 << (reconnects - 1)));
      EXPSVC_RETURN_IF_ERROR(connection.WaitUntilConnected());
    }
    if (stream_status.ok()) {
      // Ended cleanly without a final state (the server's own stream limit):
      // pause so a server that keeps doing this is not hammered.
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    EXPSVC_ASSIGN_OR_RETURN(sweep, FetchSweep(connection, sweep.id()));
  }
  printer.Show(ToProgressCounts(sweep.counts()), /*force=*/true);
  printer.Finish();
  return sweep;
}

absl::Status PrintFailedJobs(Connection& connection, const v1::Sweep& sweep, int width, std::ostream& out) {
  if (sweep.counts().failed() == 0) return absl::OkStatus();
  JobQuery query;
  query.sweep_id = sweep.id();
  query.states = {v1::JOB_STATE_FAILED};
  query.limit = kFailedJobsShown;
  EXPSVC_ASSIGN_OR_RETURN(JobPage page, ListJobsPaged(connection, query));
  out << "failed jobs";
  if (sweep.counts().failed() > static_cast<int64_t>(page.jobs.size())) {
    out << " (first " << page.jobs.size() << " of " << sweep.counts().failed() << "; expctl ls jobs --sweep "
        << sweep.id() << " --state failed --limit 0)";
  }
  out << ":\n";
  Table table({{"ID", Align::kRight},
               {"STAGE"},
               {"KIND"},
               {"ATTEMPT", Align::kRight},
               {"PARAMS", Align::kLeft, true},
               {"ERROR", Align::kLeft, true}});
  for (const v1::Job& job : page.jobs) {
    table.AddRow({absl::StrCat(job.id()), job.stage(), job.kind(), absl::StrCat(job.attempt(), "/", job.max_attempts()),
                  FormatParamsInline(ParseParamsJson(job.params_json())), job.error()});
  }
  out << table.Render(width);
  return absl::OkStatus();
}

CommandResult RunWatch(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(args.positionals()[0], "sweep id"));
  EXPSVC_ASSIGN_OR_RETURN(int64_t interval_ms, args.IntValueOr("interval", 0));
  if (interval_ms < 0 || interval_ms > 3'600'000) {
    return UsageError("--interval: expected milliseconds between 0 and 3600000");
  }
  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  // A plain call first: NOT_FOUND and connection errors surface within the
  // usual deadline, and the first line has real counts.
  EXPSVC_ASSIGN_OR_RETURN(v1::Sweep sweep, FetchSweep(*connection, sweep_id));

  interrupted.store(false);
  auto previous_handler = std::signal(SIGINT, OnInterrupt);
  ProgressPrinter printer(context);
  absl::StatusOr<v1::Sweep> final_sweep =
      FollowUntilEnd(*connection, sweep, static_cast<int32_t>(interval_ms), printer, context.err());
  printer.Finish();
  std::signal(SIGINT, previous_handler);
  if (interrupted.load()) return kExitInterrupted;
  if (!final_sweep.ok()) return final_sweep.status();

  const v1::Sweep& ended = *final_sweep;
  const int64_t end_ms = ended.finished_at_ms() > 0 ? ended.finished_at_ms() : NowMs();
  context.out() << "sweep " << ended.id() << " " << ended.state() << ": " << Plural(ended.counts().succeeded(), "job")
                << " succeeded, " << ended.counts().failed() << " failed, " << ended.counts().cancelled()
                << " cancelled in " << FormatDuration(static_cast<double>(end_ms - ended.created_at_ms()) / 1000.0)
                << "\n";
  if (absl::EqualsIgnoreCase(ended.state(), "succeeded")) return kExitOk;
  EXPSVC_RETURN_IF_ERROR(PrintFailedJobs(*connection, ended, context.output_width(), context.out()));
  return kExitFailed;
}

}  // namespace

std::vector<Command> WatchCommands() {
  std::vector<Command> commands;
  commands.push_back({{.name = "watch",
                       .summary = "Follow a sweep's progress until it ends.",
                       .synopsis = "watch SWEEP [--interval MS]",
                       .details = "On a terminal one line is redrawn in place; otherwise a line is printed\n"
                                  "when the counts change (at most every 2 s). Exit status: 0 when the sweep\n"
                                  "succeeded, 1 when it failed or was cancelled (the failed jobs are listed).\n",
                       .flags = {{.name = "interval",
                                  .takes_value = true,
                                  .value_name = "MS",
                                  .help = "how often the server checks for changes (default 500)"}},
                       .min_positionals = 1,
                       .max_positionals = 1},
                      RunWatch});
  return commands;
}

}  // namespace expsvc::expctl
