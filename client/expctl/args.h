#pragma once
// Hand-written command-line parsing: subcommands pick a CommandSpec, whose
// flags (plus the global ones) are parsed from the remaining words.
// Accepted forms: `--flag value`, `--flag=value`, `-o value`, boolean
// `--flag`, and `--` to end the flags. A flag taking a value consumes the
// next word whatever it looks like, so `--offset -3` works.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace expsvc::expctl {

struct FlagSpec {
  // Long name without the dashes: "sweep" for --sweep.
  std::string name;
  // Optional one-letter alias: 'o' for -o; 0 when none.
  char short_name = 0;
  bool takes_value = false;
  // May be given more than once (--param a=1 --param b=2).
  bool repeatable = false;
  // Shown in usage: "--sweep ID".
  std::string value_name;
  std::string help;
};

struct CommandSpec {
  // As typed: "submit", "ls jobs", "artifacts get".
  std::string name;
  // One line for the command list.
  std::string summary;
  // The synopsis after "expctl ": "submit FILE [--dry-run] ...".
  std::string synopsis;
  // Free text appended to --help (examples, notes); may be empty.
  std::string details;
  std::vector<FlagSpec> flags;
  size_t min_positionals = 0;
  // SIZE_MAX for "any number".
  size_t max_positionals = 0;
};

class ParsedArgs {
 public:
  bool Has(absl::string_view flag) const;
  // The last value given for the flag.
  std::optional<std::string> Value(absl::string_view flag) const;
  std::string ValueOr(absl::string_view flag, absl::string_view fallback) const;
  // Every value in the order given (repeatable flags).
  std::vector<std::string> Values(absl::string_view flag) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

  // Typed accessors; a malformed value is a usage error naming the flag.
  absl::StatusOr<int64_t> IntValueOr(absl::string_view flag, int64_t fallback) const;
  absl::StatusOr<double> DoubleValueOr(absl::string_view flag, double fallback) const;

  // For the parser.
  void AddFlag(const std::string& flag, std::string value);
  void AddPositional(std::string word) { positionals_.push_back(std::move(word)); }

 private:
  // Boolean flags are stored with an empty value.
  std::map<std::string, std::vector<std::string>, std::less<>> flags_;
  std::vector<std::string> positionals_;
};

// Parses `words` (not including the program or command name) against
// `flags`. Errors are usage errors: unknown flag, missing value, a value
// given to a boolean flag. A non-repeatable flag given twice keeps the last
// value, so scripts can override a default they put earlier.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& words, const std::vector<FlagSpec>& flags);

// Checks the positional count against the spec.
absl::Status CheckPositionals(const ParsedArgs& args, const CommandSpec& spec);

// Parses a positive 64-bit id ("sweep id", "job id"); usage error otherwise.
absl::StatusOr<int64_t> ParseId(absl::string_view text, absl::string_view what);

// True when `words` asks for help (-h or --help before any `--`).
bool WantsHelp(const std::vector<std::string>& words);

// The --help text: synopsis, summary, flags with their help, details.
std::string FormatUsage(const CommandSpec& spec, const std::vector<FlagSpec>& global_flags);

}  // namespace expsvc::expctl
