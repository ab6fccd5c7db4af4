#include "client/web/music_routes.h"

#include <map>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/expctl/params.h"
#include "client/expctl/proto_json.h"
#include "client/expctl/report_table.h"
#include "client/web/report_view.h"
#include "client/web/request_params.h"
#include "client/web/route_support.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/music/data/midi_file.h"

namespace expsvc::web {
namespace {

using nlohmann::json;

// A piece's MIDI is a few kB; anything this large is not one of ours.
constexpr uintmax_t kMaxMidiBytes = 16 << 20;
// piece_N.json carries every token; the page needs only these fields.
constexpr const char* kPieceRecordFields[] = {"window",          "representation", "prompt_bars",
                                              "prompt_tokens",   "generated_tokens", "generated_notes",
                                              "stop_reason",     "seed",           "seconds"};

// Every job's params with the missing ones taken from its parents (as in
// `expctl report`): an evaluation lands beside the training it scores.
std::map<int64_t, json> InheritedParams(const std::vector<expsvc::v1::Job>& jobs) {
  std::vector<expctl::ReportJob> all;
  for (const auto& job : jobs) all.push_back({.job_id = job.id(), .params = expctl::ParseParamsJson(job.params_json())});
  expctl::InheritParentParams(all, jobs);
  std::map<int64_t, json> params;
  for (auto& job : all) params[job.job_id] = std::move(job.params);
  return params;
}

// The report table, or why there is none (a sweep without music metrics).
json ReportOf(const ApiContext& context, int64_t sweep_id, const std::vector<expsvc::v1::Job>& jobs) {
  absl::StatusOr<expctl::ReportTable> table = SweepReportTable(context, sweep_id, jobs);
  if (!table.ok()) return json{{"error", std::string(table.status().message())}};
  return expctl::ReportTableToJson(*table);
}

json RatingToJson(const expsvc::v1::Rating& rating) {
  return {{"artifact_id", rating.artifact_id()}, {"rater", rating.rater()},
          {"coherence", rating.coherence()},     {"musicality", rating.musicality()},
          {"overall", rating.overall()},         {"job_id", rating.job_id()},
          {"created_at_ms", rating.created_at_ms()}};
}

// Count and mean of each score over a piece's ratings.
json RatingSummary(const std::vector<expsvc::v1::Rating>& ratings) {
  json summary = {{"count", ratings.size()}};
  for (const char* score : {"coherence", "musicality", "overall"}) {
    double sum = 0;
    for (const auto& rating : ratings) {
      sum += std::string(score) == "coherence"    ? rating.coherence()
             : std::string(score) == "musicality" ? rating.musicality()
                                                  : rating.overall();
    }
    summary[score] = ratings.empty() ? json(nullptr) : json(sum / static_cast<double>(ratings.size()));
  }
  return summary;
}

// The small fields of piece_N.json; null when it is missing or unreadable
// (the piece is still shown).
json PieceRecord(const ApiContext& context, const expsvc::v1::ArtifactRef* record) {
  if (record == nullptr) return nullptr;
  absl::StatusOr<ArtifactFile> file = OpenArtifactFile(context, record->id());
  if (!file.ok()) return nullptr;
  absl::StatusOr<std::string> text = fs::ReadFile(file->path.string());
  if (!text.ok()) return nullptr;
  const json parsed = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return nullptr;
  json small = json::object();
  for (const char* field : kPieceRecordFields) {
    if (parsed.contains(field)) small[field] = parsed[field];
  }
  return small;
}

absl::StatusOr<json> MusicOfSweep(const ApiContext& context, const expsvc::v1::Sweep& sweep) {
  EXPSVC_ASSIGN_OR_RETURN(auto jobs, AllJobsOf(context, sweep.id()));
  const std::map<int64_t, json> params = InheritedParams(jobs);
  std::map<int64_t, std::string> kinds;
  for (const auto& job : jobs) kinds[job.id()] = job.kind();
  EXPSVC_ASSIGN_OR_RETURN(auto artifacts, context.store->ListArtifacts(sweep.id(), 0));
  std::map<std::pair<int64_t, std::string>, const expsvc::v1::ArtifactRef*> by_name;
  for (const auto& artifact : artifacts) by_name[{artifact.job_id(), artifact.name()}] = &artifact;
  EXPSVC_ASSIGN_OR_RETURN(auto ratings, context.store->ListRatings(sweep.id(), 0));
  std::map<int64_t, std::vector<expsvc::v1::Rating>> ratings_by_piece;
  for (auto& rating : ratings) ratings_by_piece[rating.artifact_id()].push_back(std::move(rating));

  const auto find = [&](int64_t job_id, const std::string& name) -> const expsvc::v1::ArtifactRef* {
    auto found = by_name.find({job_id, name});
    return found == by_name.end() ? nullptr : found->second;
  };
  static const std::regex kPieceName(R"(piece_(\d+)\.mid)");
  json pieces = json::array();
  json similarity = json::array();
  for (const auto& artifact : artifacts) {
    const int64_t job_id = artifact.job_id();
    std::smatch match;
    if (std::regex_match(artifact.name(), match, kPieceName)) {
      const std::string n = match[1];
      const expsvc::v1::ArtifactRef* original = find(job_id, absl::StrCat("original_", n, ".mid"));
      pieces.push_back({{"job_id", job_id},
                        {"kind", kinds[job_id]},
                        {"index", std::stoll(n)},
                        {"params", params.count(job_id) ? params.at(job_id) : json::object()},
                        {"piece", expctl::ArtifactToJson(artifact)},
                        {"original", original ? expctl::ArtifactToJson(*original) : json(nullptr)},
                        {"record", PieceRecord(context, find(job_id, absl::StrCat("piece_", n, ".json")))},
                        {"ratings", RatingSummary(ratings_by_piece[artifact.id()])}});
    } else if (artifact.name() == "self_similarity.json") {
      similarity.push_back({{"job_id", job_id},
                            {"params", params.count(job_id) ? params.at(job_id) : json::object()},
                            {"artifact", expctl::ArtifactToJson(artifact)}});
    }
  }
  return json{{"sweep_id", sweep.id()},
              {"report", ReportOf(context, sweep.id(), jobs)},
              {"pieces", pieces},
              {"self_similarity", similarity}};
}

absl::StatusOr<json> NotesOf(const ApiContext& context, int64_t artifact_id) {
  EXPSVC_ASSIGN_OR_RETURN(ArtifactFile file, OpenArtifactFile(context, artifact_id));
  const std::string& name = file.artifact.ref.name();
  if (!absl::EndsWith(name, ".mid") && !absl::EndsWith(name, ".midi")) {
    return absl::InvalidArgumentError(absl::StrCat("artifact ", artifact_id, " is '", name, "', not a MIDI file"));
  }
  std::error_code error;
  if (std::filesystem::file_size(file.path, error) > kMaxMidiBytes) {
    return absl::DataLossError(absl::StrCat("artifact ", artifact_id, " (", name, ") is too large for a piece"));
  }
  absl::StatusOr<music::MidiContents> midi = music::ReadMidiFile(file.path.string());
  if (!midi.ok()) {
    return absl::DataLossError(
        absl::StrCat("artifact ", artifact_id, " (", name, ") is not a readable MIDI file: ", midi.status().message()));
  }
  json tracks = json::array();
  double end_seconds = 0;
  int64_t count = 0;
  for (const music::MidiTrack& track : midi->tracks) {
    json notes = json::array();
    for (const music::MidiNote& note : track.notes) {
      // [pitch, velocity, onset s, offset s, onset beats, offset beats]: compact for long pieces.
      notes.push_back({note.pitch, note.velocity, note.onset_seconds, note.offset_seconds, note.onset_beats,
                       note.offset_beats});
      end_seconds = std::max(end_seconds, note.offset_seconds);
    }
    count += static_cast<int64_t>(track.notes.size());
    tracks.push_back({{"name", track.name}, {"program", track.program}, {"notes", notes}});
  }
  return json{{"artifact_id", artifact_id}, {"name", name}, {"ticks_per_beat", midi->ticks_per_beat},
              {"note_fields", {"pitch", "velocity", "onset_seconds", "offset_seconds", "onset_beats", "offset_beats"}},
              {"notes", count}, {"duration_seconds", end_seconds}, {"tracks", tracks}};
}

absl::StatusOr<int32_t> ScoreField(const json& body, const char* name) {
  if (!body.contains(name) || !body[name].is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat("'", name, "' must be an integer score from 1 to 5"));
  }
  const int64_t value = body[name].get<int64_t>();
  if (value < 1 || value > 5) {
    return absl::InvalidArgumentError(absl::StrCat("'", name, "' must be a score from 1 to 5, got ", value));
  }
  return static_cast<int32_t>(value);
}

absl::StatusOr<expsvc::v1::Rating> RatingFromBody(const httplib::Request& request) {
  // A JSON content type also keeps other web sites out: their pages cannot
  // send it to this origin without a CORS preflight, which is never granted.
  if (!absl::StartsWith(request.get_header_value("Content-Type"), "application/json")) {
    return absl::InvalidArgumentError("a rating is sent as JSON (Content-Type: application/json)");
  }
  const json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return absl::InvalidArgumentError("the rating is not a JSON object");
  expsvc::v1::Rating rating;
  if (!body.contains("artifact_id") || !body["artifact_id"].is_number_integer() ||
      body["artifact_id"].get<int64_t>() <= 0) {
    return absl::InvalidArgumentError("'artifact_id' must be the piece's artifact id (a positive integer)");
  }
  rating.set_artifact_id(body["artifact_id"].get<int64_t>());
  if (!body.contains("rater") || !body["rater"].is_string() || body["rater"].get<std::string>().empty()) {
    return absl::InvalidArgumentError("'rater' must be the listener's name");
  }
  rating.set_rater(body["rater"].get<std::string>());
  EXPSVC_ASSIGN_OR_RETURN(int32_t coherence, ScoreField(body, "coherence"));
  EXPSVC_ASSIGN_OR_RETURN(int32_t musicality, ScoreField(body, "musicality"));
  EXPSVC_ASSIGN_OR_RETURN(int32_t overall, ScoreField(body, "overall"));
  rating.set_coherence(coherence);
  rating.set_musicality(musicality);
  rating.set_overall(overall);
  return rating;
}

}  // namespace

void RegisterMusicRoutes(httplib::Server& server, const ApiContext& context) {
  server.Get(R"(/api/sweeps/([^/]+)/music)",
             JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(auto sweep, FindSweep(context, request.matches[1]));
               return MusicOfSweep(context, sweep);
             }));

  server.Get(R"(/api/artifacts/([^/]+)/notes)",
             JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
               EXPSVC_ASSIGN_OR_RETURN(int64_t id, ParseId(request.matches[1], "artifact id"));
               return NotesOf(context, id);
             }));

  server.Post("/api/ratings", JsonRoute(context, [&context](const httplib::Request& request) -> absl::StatusOr<json> {
                EXPSVC_ASSIGN_OR_RETURN(expsvc::v1::Rating rating, RatingFromBody(request));
                if (!context.submit_rating) {
                  return absl::UnavailableError(
                      "ratings are off: the dashboard was started without --scheduler (ratings are stored by the "
                      "scheduler; the dashboard's database role cannot write)");
                }
                EXPSVC_ASSIGN_OR_RETURN(expsvc::v1::Rating stored, context.submit_rating(request, rating));
                EXPSVC_ASSIGN_OR_RETURN(auto all, context.store->ListRatings(0, stored.artifact_id()));
                return json{{"rating", RatingToJson(stored)}, {"ratings", RatingSummary(all)}};
              }));
}

}  // namespace expsvc::web
