#include "common/kinds/command_kinds.h"

#include "common/kinds/kind_definition.h"

namespace expsvc::kinds {
namespace {

const KindDefinition<CommandParams>& Command() {
  using P = CommandParams;
  static const auto* const definition = [] {
    // Every other parameter (the sweep's grid axes) is the program's own: it
    // reaches the program through {name} placeholders, params.json and
    // EXPSVC_PARAM_<NAME> variables.
    auto* d = new KindDefinition<P>(
        "command",
        "Runs a program of the researcher's in the job's scratch folder: metrics from JSON lines it prints or "
        "from the Python client, files it leaves in outputs/ become artifacts.",
        /*accepts_extra_params=*/true);
    d->RequiredStringList("command", &P::command,
                          "The program and its arguments; {name} is replaced by the job's parameter 'name' "
                          "(other braces stay; {{ and }} are literal braces, e.g. ${{HOME}} for a shell).")
        .Double("grace_seconds", &P::grace_seconds,
                "On cancel or drain: seconds between SIGTERM and SIGKILL of the program's process group.",
                {0, 3600});
    return d;
  }();
  return *definition;
}

}  // namespace

const JobKindSpec& CommandParams::Spec() {
  return Command().spec();
}
absl::StatusOr<CommandParams> CommandParams::FromJson(const nlohmann::json& params) {
  return Command().Parse(params);
}

}  // namespace expsvc::kinds
