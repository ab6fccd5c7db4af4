#pragma once
// What every command gets (its parsed arguments, output streams, a lazily
// opened connection) and how commands are registered. Each commands_*.cc
// file contributes a group of commands with their specs beside their code.

#include <functional>
#include <iosfwd>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "client/expctl/args.h"
#include "client/expctl/connection.h"

namespace expsvc::expctl {

enum class OutputFormat { kText, kJson };

// --output text|json (text when absent).
absl::StatusOr<OutputFormat> ParseOutputFormat(const ParsedArgs& args);
FlagSpec OutputFlag();

class CommandContext {
 public:
  // `out_is_terminal`: `out` is the process's stdout and that is a TTY;
  // decides in-place redraws and table widths.
  CommandContext(const ParsedArgs& args, ConnectionOptions options, std::ostream& out, std::ostream& err,
                 bool out_is_terminal)
      : args_(args), options_(std::move(options)), out_(out), err_(err), out_is_terminal_(out_is_terminal) {}

  const ParsedArgs& args() const { return args_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  bool out_is_terminal() const { return out_is_terminal_; }
  // Columns to fit tables in: the terminal's current width, else 120.
  int output_width() const;

  // Opens the channel on first use, so local commands (version, submit
  // --dry-run) never need a server or a readable CA file.
  absl::StatusOr<Connection*> Connect();

 private:
  const ParsedArgs& args_;
  ConnectionOptions options_;
  std::ostream& out_;
  std::ostream& err_;
  bool out_is_terminal_;
  std::unique_ptr<Connection> connection_;
};

// The exit code when the command ran to its end (0, or 1 when `watch` saw
// the sweep fail); a failed status is printed and mapped by the caller.
using CommandResult = absl::StatusOr<int>;

struct Command {
  CommandSpec spec;
  std::function<CommandResult(CommandContext&)> run;
};

std::vector<Command> SweepCommands();     // submit, ls, status, cancel
std::vector<Command> WatchCommands();     // watch
std::vector<Command> JobCommands();       // ls jobs, logs, retry
std::vector<Command> MetricsCommands();   // metrics
std::vector<Command> ReportCommands();    // report
std::vector<Command> ArtifactCommands();  // artifacts list, artifacts get
std::vector<Command> WorkerCommands();    // workers

}  // namespace expsvc::expctl
