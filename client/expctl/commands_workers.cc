// workers: the workers that registered, with their capacity and load.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/expctl/command.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/format.h"
#include "client/expctl/proto_json.h"
#include "client/expctl/table.h"
#include "common/status_macros.h"

namespace expsvc::expctl {
namespace {

// The count and the first device's model ("2 NVIDIA A100"): a full list
// would not fit a cell.
std::string DescribeGpus(const v1::WorkerCapabilities& caps) {
  if (caps.cuda_devices().empty()) return "0";
  return absl::StrCat(caps.cuda_devices_size(), " ", caps.cuda_devices(0).name());
}

CommandResult RunWorkers(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  v1::ListWorkersRequest request;
  request.set_include_offline(args.Has("all"));
  v1::ListWorkersResponse response;
  EXPSVC_RETURN_IF_ERROR(
      connection->Call(connection->workers(), &v1::WorkerService::Stub::ListWorkers, request, &response));
  std::vector<v1::WorkerInfo> workers(response.workers().begin(), response.workers().end());
  // Most recently seen first: live workers above long-gone ones.
  std::stable_sort(workers.begin(), workers.end(),
                   [](const auto& a, const auto& b) { return a.last_seen_at_ms() > b.last_seen_at_ms(); });

  if (format == OutputFormat::kJson) {
    nlohmann::json list = nlohmann::json::array();
    for (const v1::WorkerInfo& worker : workers) list.push_back(WorkerToJson(worker));
    context.out() << DumpJson(list) << "\n";
    return kExitOk;
  }
  if (workers.empty()) {
    context.out() << (request.include_offline() ? "no workers\n" : "no workers online (--all lists offline ones)\n");
    return kExitOk;
  }
  Table table({{"ID", Align::kLeft, true},
               {"NAME", Align::kLeft, true},
               {"HOST", Align::kLeft, true},
               {"CORES", Align::kRight},
               {"MEMORY", Align::kRight},
               {"GPUS", Align::kLeft, true},
               {"SLOTS", Align::kRight},
               {"RUNNING", Align::kRight},
               {"STATE"},
               {"LAST SEEN"}});
  const int64_t now = NowMs();
  for (const v1::WorkerInfo& worker : workers) {
    const v1::WorkerCapabilities& caps = worker.capabilities();
    table.AddRow({worker.worker_id(), worker.name(), worker.hostname(), absl::StrCat(caps.cpu_cores()),
                  FormatBytes(caps.memory_mb() * 1024 * 1024), DescribeGpus(caps), absl::StrCat(caps.slots()),
                  absl::StrCat(worker.running_jobs()), worker.online() ? "online" : "offline",
                  FormatAgo(worker.last_seen_at_ms(), now)});
  }
  context.out() << table.Render(context.output_width());
  return kExitOk;
}

}  // namespace

std::vector<Command> WorkerCommands() {
  std::vector<Command> commands;
  commands.push_back({{.name = "workers",
                       .summary = "List the workers online (--all: offline ones too): capacity, load, last heartbeat.",
                       .synopsis = "workers [--all] [--output text|json]",
                       .flags = {OutputFlag(),
                                 {.name = "all", .help = "also list offline workers (unseen for a lease TTL)"}}},
                      RunWorkers});
  return commands;
}

}  // namespace expsvc::expctl
