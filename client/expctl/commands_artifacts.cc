// artifacts list, artifacts get: stored outputs of jobs.

#include "absl/strings/str_cat.h"
#include "client/expctl/artifact_download.h"
#include "client/expctl/command.h"
#include "client/expctl/exit_codes.h"
#include "client/expctl/format.h"
#include "client/expctl/proto_json.h"
#include "client/expctl/table.h"
#include "common/status_macros.h"

namespace expsvc::expctl {
namespace {

constexpr size_t kShownShaPrefix = 12;

CommandResult RunListArtifacts(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  std::optional<std::string> sweep_text = args.Value("sweep");
  std::optional<std::string> job_text = args.Value("job");
  if (sweep_text.has_value() == job_text.has_value()) {
    return UsageError("artifacts list: give either --sweep ID or --job ID");
  }
  v1::ListArtifactsRequest request;
  if (sweep_text.has_value()) {
    EXPSVC_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(*sweep_text, "sweep id"));
    request.set_sweep_id(sweep_id);
  } else {
    EXPSVC_ASSIGN_OR_RETURN(int64_t job_id, ParseId(*job_text, "job id"));
    request.set_job_id(job_id);
  }
  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  v1::ListArtifactsResponse response;
  EXPSVC_RETURN_IF_ERROR(
      connection->Call(connection->artifacts(), &v1::ArtifactService::Stub::ListArtifacts, request, &response));
  if (format == OutputFormat::kJson) {
    nlohmann::json list = nlohmann::json::array();
    for (const v1::ArtifactRef& artifact : response.artifacts()) {
      list.push_back(ArtifactToJson(artifact));
    }
    context.out() << DumpJson(list) << "\n";
    return kExitOk;
  }
  if (response.artifacts().empty()) {
    context.out() << "no artifacts\n";
    return kExitOk;
  }
  Table table({{"ID", Align::kRight},
               {"JOB", Align::kRight},
               {"NAME", Align::kLeft, true},
               {"SIZE", Align::kRight},
               {"SHA256"},
               {"CREATED"}});
  for (const v1::ArtifactRef& artifact : response.artifacts()) {
    table.AddRow({absl::StrCat(artifact.id()), absl::StrCat(artifact.job_id()), artifact.name(),
                  FormatBytes(artifact.size_bytes()), artifact.sha256().substr(0, kShownShaPrefix),
                  FormatTimestamp(artifact.created_at_ms())});
  }
  context.out() << table.Render(context.output_width());
  return kExitOk;
}

CommandResult RunGetArtifact(CommandContext& context) {
  const ParsedArgs& args = context.args();
  EXPSVC_ASSIGN_OR_RETURN(int64_t artifact_id, ParseId(args.positionals()[0], "artifact id"));
  EXPSVC_ASSIGN_OR_RETURN(Connection * connection, context.Connect());
  // The download has no overall deadline (checkpoints can be large), so
  // make sure the server is reachable within the usual timeout first.
  EXPSVC_RETURN_IF_ERROR(connection->WaitUntilConnected());

  std::unique_ptr<grpc::ClientContext> call = connection->StreamContext();
  v1::DownloadArtifactRequest request;
  request.set_artifact_id(artifact_id);
  std::unique_ptr<grpc::ClientReader<v1::DownloadArtifactResponse>> reader =
      connection->artifacts().DownloadArtifact(call.get(), request);

  // Ends the call after a local failure. When the stream already ended, the
  // server's own error (NOT_FOUND, ...) explains more than the local one.
  auto abandon = [&](absl::Status local_error, bool stream_ended) -> absl::Status {
    if (!stream_ended) {
      call->TryCancel();
      v1::DownloadArtifactResponse ignored;
      while (reader->Read(&ignored)) {
      }
    }
    grpc::Status remote = reader->Finish();
    if (stream_ended && !remote.ok()) return connection->Check(remote);
    return local_error;
  };

  v1::DownloadArtifactResponse message;
  if (!reader->Read(&message)) {
    return abandon(absl::InternalError(absl::StrCat("artifact ", artifact_id, ": the server sent nothing")),
                   /*stream_ended=*/true);
  }
  if (!message.has_artifact()) {
    return abandon(
        absl::InternalError(absl::StrCat("artifact ", artifact_id, ": the server sent data before the header")),
        /*stream_ended=*/false);
  }
  const v1::ArtifactRef artifact = message.artifact();
  const std::string destination = DownloadDestination(artifact.name(), artifact.id(), args.ValueOr("output", ""));

  VerifiedFileWriter writer;
  if (absl::Status opened = writer.Open(destination); !opened.ok()) {
    return abandon(opened, /*stream_ended=*/false);
  }
  while (reader->Read(&message)) {
    if (message.part_case() != v1::DownloadArtifactResponse::kChunk) continue;
    if (absl::Status written = writer.Write(message.chunk()); !written.ok()) {
      return abandon(written, /*stream_ended=*/false);
    }
  }
  EXPSVC_RETURN_IF_ERROR(connection->Check(reader->Finish()));
  if (absl::Status committed = writer.Commit(artifact.size_bytes(), artifact.sha256()); !committed.ok()) {
    return absl::Status(committed.code(), absl::StrCat("artifact ", artifact.id(), ": ", committed.message()));
  }
  context.out() << destination << "\n";
  return kExitOk;
}

}  // namespace

std::vector<Command> ArtifactCommands() {
  std::vector<Command> commands;
  commands.push_back(
      {{.name = "artifacts list",
        .summary = "List the artifacts of a sweep or of one job.",
        .synopsis = "artifacts list (--sweep ID | --job ID) [--output text|json]",
        .flags =
            {{.name = "sweep", .takes_value = true, .value_name = "ID", .help = "every artifact of this sweep's jobs"},
             {.name = "job", .takes_value = true, .value_name = "ID", .help = "the artifacts of this job"},
             OutputFlag()}},
       RunListArtifacts});
  commands.push_back({{.name = "artifacts get",
                       .summary = "Download an artifact, verifying its size and SHA-256.",
                       .synopsis = "artifacts get ID [-o PATH]",
                       .details = "Writes to a temporary file beside PATH and renames it into place once\n"
                                  "verified; prints the path. PATH defaults to the artifact's name in the\n"
                                  "current directory; an existing directory receives the file inside it.\n\n"
                                  "example:\n"
                                  "  expctl artifacts get 42 -o checkpoints/\n",
                       .flags = {{.name = "output",
                                  .short_name = 'o',
                                  .takes_value = true,
                                  .value_name = "PATH",
                                  .help = "where to write the file"}},
                       .min_positionals = 1,
                       .max_positionals = 1},
                      RunGetArtifact});
  return commands;
}

}  // namespace expsvc::expctl
