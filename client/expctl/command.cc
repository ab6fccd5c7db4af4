#include "client/expctl/command.h"

#include "absl/strings/str_cat.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/table.h"

namespace expsvc::expctl {

absl::StatusOr<OutputFormat> ParseOutputFormat(const ParsedArgs& args) {
  std::string format = args.ValueOr("output", "text");
  if (format == "text") return OutputFormat::kText;
  if (format == "json") return OutputFormat::kJson;
  return UsageError(absl::StrCat("--output: expected text or json, got '", format, "'"));
}

FlagSpec OutputFlag() {
  return {.name = "output",
          .takes_value = true,
          .value_name = "text|json",
          .help = "output format (json: one JSON document on stdout)"};
}

int CommandContext::output_width() const {
  return out_is_terminal_ ? OutputWidth() : kNonTerminalWidth;
}

absl::StatusOr<Connection*> CommandContext::Connect() {
  if (connection_ == nullptr) {
    absl::StatusOr<std::unique_ptr<Connection>> opened = Connection::Open(options_);
    if (!opened.ok()) return opened.status();
    connection_ = *std::move(opened);
  }
  return connection_.get();
}

}  // namespace expsvc::expctl
