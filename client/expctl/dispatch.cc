#include "client/expctl/dispatch.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/expctl/command.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/table.h"

#ifndef EXPSVC_VERSION
#define EXPSVC_VERSION "dev"
#endif

namespace expsvc::expctl {
namespace {

std::vector<Command> ServerCommands() {
  std::vector<Command> commands;
  for (auto group :
       {SweepCommands, JobCommands, WatchCommands, MetricsCommands, ReportCommands, ArtifactCommands, WorkerCommands}) {
    for (Command& command : group()) commands.push_back(std::move(command));
  }
  return commands;
}

std::string GeneralHelp(const std::vector<Command>& commands) {
  std::string text =
      "expctl: submit and follow sweeps of experiments on the expsvc scheduler\n\n"
      "usage: expctl [global flags] COMMAND [arguments] [flags]\n\ncommands:\n";
  size_t name_width = 0;
  for (const Command& command : commands) {
    name_width = std::max(name_width, command.spec.name.size());
  }
  for (const Command& command : commands) {
    absl::StrAppend(
        &text, absl::StrFormat("  %-*s  %s\n", static_cast<int>(name_width), command.spec.name, command.spec.summary));
  }
  absl::StrAppend(&text,
                  "\nglobal flags (before or after the command):\n"
                  "  --addr HOST:PORT  scheduler address, or replicas' as HOST:PORT,HOST:PORT (env EXPSVC_ADDR; default ",
                  kDefaultAddress,
                  ")\n"
                  "  --token TOKEN     bearer token (env EXPSVC_TOKEN)\n"
                  "  --tls-ca FILE     CA certificate; enables TLS (env EXPSVC_TLS_CA)\n"
                  "  --timeout SECONDS deadline of each call (default 30)\n\n"
                  "Run 'expctl COMMAND --help' for a command's arguments and flags.\n"
                  "Exit status: 0 success, 1 the operation failed or the server refused it,\n"
                  "2 usage error or unreadable file, 3 cannot connect to the server.\n");
  return text;
}

const Command* FindCommand(const std::vector<Command>& commands, absl::string_view name) {
  for (const Command& command : commands) {
    if (command.spec.name == name) return &command;
  }
  return nullptr;
}

// Subcommands of a group word: "artifacts" -> {"list", "get"}.
std::vector<std::string> SubcommandsOf(const std::vector<Command>& commands, absl::string_view group) {
  std::vector<std::string> subcommands;
  for (const Command& command : commands) {
    std::vector<std::string> parts = absl::StrSplit(command.spec.name, ' ');
    if (parts.size() == 2 && parts[0] == group) subcommands.push_back(parts[1]);
  }
  return subcommands;
}

// Index of the first word that is not a global flag or its value; words
// before the command may only be global flags.
std::optional<size_t> FindCommandWord(const std::vector<std::string>& words,
                                      const std::vector<FlagSpec>& global_flags) {
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word.size() < 2 || word[0] != '-') return i;
    if (word.rfind("--", 0) == 0 && word.find('=') == std::string::npos) {
      absl::string_view name = absl::string_view(word).substr(2);
      auto flag = std::find_if(global_flags.begin(), global_flags.end(),
                               [&](const FlagSpec& spec) { return spec.name == name; });
      if (flag != global_flags.end() && flag->takes_value) ++i;  // skip its value
    }
  }
  return std::nullopt;
}

struct Invocation {
  const Command* command = nullptr;
  // The words without the command name(s).
  std::vector<std::string> rest;
};

// Resolves "ls", "ls jobs", "artifacts get" ...; usage error when unknown.
absl::StatusOr<Invocation> ResolveCommand(const std::vector<Command>& commands, const std::vector<std::string>& words,
                                          size_t at) {
  Invocation invocation;
  const std::string& word = words[at];
  size_t consumed = 1;
  std::vector<std::string> subcommands = SubcommandsOf(commands, word);
  if (at + 1 < words.size() && std::find(subcommands.begin(), subcommands.end(), words[at + 1]) != subcommands.end()) {
    invocation.command = FindCommand(commands, absl::StrCat(word, " ", words[at + 1]));
    consumed = 2;
  } else {
    invocation.command = FindCommand(commands, word);
  }
  if (invocation.command == nullptr) {
    if (!subcommands.empty()) {
      return UsageError(absl::StrCat("'", word, "' needs a subcommand: ", absl::StrJoin(subcommands, ", ")));
    }
    return UsageError(absl::StrCat("unknown command '", word, "' (run 'expctl help')"));
  }
  invocation.rest = words;
  invocation.rest.erase(invocation.rest.begin() + static_cast<std::ptrdiff_t>(at),
                        invocation.rest.begin() + static_cast<std::ptrdiff_t>(at + consumed));
  return invocation;
}

}  // namespace

std::vector<FlagSpec> GlobalFlags() {
  return {
      {.name = "addr",
       .takes_value = true,
       .value_name = "HOST:PORT",
       .help = "scheduler address, or replicas' as HOST:PORT,HOST:PORT (env EXPSVC_ADDR; default 127.0.0.1:50051)"},
      {.name = "token", .takes_value = true, .value_name = "TOKEN", .help = "bearer token (env EXPSVC_TOKEN)"},
      {.name = "tls-ca",
       .takes_value = true,
       .value_name = "FILE",
       .help = "CA certificate PEM; enables TLS (env EXPSVC_TLS_CA)"},
      {.name = "timeout", .takes_value = true, .value_name = "SECONDS", .help = "deadline of each call (default 30)"},
      {.name = "help", .short_name = 'h', .help = "show this help"},
  };
}

int RunExpctl(const std::vector<std::string>& words, std::ostream& out, std::ostream& err, const EnvLookup& env) {
  const std::vector<FlagSpec> global_flags = GlobalFlags();
  std::vector<Command> commands = ServerCommands();
  commands.push_back({{.name = "version", .summary = "Print expctl's version.", .synopsis = "version"},
                      [](CommandContext& context) -> CommandResult {
                        context.out() << "expctl " << EXPSVC_VERSION << " (API expsvc.v1)\n";
                        return kExitOk;
                      }});
  commands.push_back({{.name = "help",
                       .summary = "Show the commands, or one command's usage.",
                       .synopsis = "help [COMMAND]",
                       .max_positionals = 2},
                      [](CommandContext&) -> CommandResult { return kExitOk; }});

  std::optional<size_t> command_at = FindCommandWord(words, global_flags);
  if (!command_at.has_value()) {
    if (WantsHelp(words)) {
      out << GeneralHelp(commands);
      return kExitOk;
    }
    err << GeneralHelp(commands);
    return kExitUsage;
  }
  if (words[*command_at] == "help") {
    std::vector<std::string> topic(words.begin() + static_cast<std::ptrdiff_t>(*command_at) + 1, words.end());
    if (topic.empty()) {
      out << GeneralHelp(commands);
      return kExitOk;
    }
    absl::StatusOr<Invocation> asked = ResolveCommand(commands, topic, 0);
    if (!asked.ok()) {
      err << "expctl: " << DescribeFailure(asked.status()) << "\n";
      return kExitUsage;
    }
    out << FormatUsage(asked->command->spec, global_flags);
    return kExitOk;
  }

  absl::StatusOr<Invocation> invocation = ResolveCommand(commands, words, *command_at);
  if (!invocation.ok()) {
    err << "expctl: " << DescribeFailure(invocation.status()) << "\n";
    return kExitUsage;
  }
  const CommandSpec& spec = invocation->command->spec;
  if (WantsHelp(invocation->rest)) {
    out << FormatUsage(spec, global_flags);
    return kExitOk;
  }

  std::vector<FlagSpec> flags = spec.flags;
  flags.insert(flags.end(), global_flags.begin(), global_flags.end());
  absl::StatusOr<ParsedArgs> args = ParseArgs(invocation->rest, flags);
  absl::Status valid = args.ok() ? CheckPositionals(*args, spec) : args.status();
  if (!valid.ok()) {
    err << "expctl: " << DescribeFailure(valid) << "\n"
        << "usage: expctl " << spec.synopsis << "\n";
    return kExitUsage;
  }
  absl::StatusOr<ConnectionOptions> options = ResolveConnectionOptions(*args, env);
  if (!options.ok()) {
    err << "expctl: " << DescribeFailure(options.status()) << "\n";
    return ExitCodeFor(options.status());
  }

  // Only the real stdout can be a terminal; tests pass string streams.
  const bool out_is_terminal = &out == &std::cout && StdoutIsTerminal();
  CommandContext context(*args, *options, out, err, out_is_terminal);
  CommandResult result = invocation->command->run(context);
  out.flush();
  if (result.ok()) return *result;
  err << "expctl: " << DescribeFailure(result.status()) << "\n";
  if (IsUsageError(result.status())) {
    err << "usage: expctl " << spec.synopsis << "\n";
  }
  if (result.status().code() == absl::StatusCode::kUnauthenticated && options->token.empty()) {
    err << "expctl: hint: EXPSVC_TOKEN is unset and no --token was given\n";
  }
  return ExitCodeFor(result.status());
}

}  // namespace expsvc::expctl
