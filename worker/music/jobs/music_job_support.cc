#include "worker/music/jobs/music_job_support.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"

namespace expsvc::worker {

using Json = nlohmann::json;
using music::TokenSequence;

absl::StatusOr<double> MeanWindowLoss(music::MusicTransformer& model, const music::MusicDataset& dataset,
                                      music::Split split, const std::vector<size_t>& windows, int64_t batch_size,
                                      int64_t max_len, const torch::Device& device) {
  if (windows.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("no ", music::SplitName(split), " windows to evaluate"));
  }
  return music::MeanSequenceLoss(
      model, windows.size(), [&](size_t i) { return dataset.Sequence(split, windows[i]); }, batch_size, max_len,
      device);
}

absl::StatusOr<TrainedMusicModelConfig> ParseTrainedMusicModelConfig(const Json& config) {
  if (!config.is_object()) return absl::InvalidArgumentError("model.json is not a JSON object");
  TrainedMusicModelConfig parsed;
  try {
    EXPSVC_ASSIGN_OR_RETURN(music::Representation representation,
                            music::ParseRepresentation(config.at("representation").get<std::string>()));
    EXPSVC_ASSIGN_OR_RETURN(music::AttentionKind attention,
                            music::ParseAttentionKind(config.at("attention").get<std::string>()));
    parsed.max_len = config.at("max_len").get<int64_t>();
    parsed.options.representation(representation)
        .attention(attention)
        .d_model(config.at("d_model").get<int64_t>())
        .n_layers(config.at("n_layers").get<int64_t>())
        .n_heads(config.at("n_heads").get<int64_t>())
        .d_ff(config.at("d_ff").get<int64_t>())
        .dropout(config.value("dropout", 0.0))
        .max_len(std::max<int64_t>(parsed.max_len, 8));
    parsed.data.representation = representation;
    parsed.data.corpus.window_bars = config.value("window_bars", 16);
    // Written by train_music since generation and evaluation exist; older
    // model.json files get the training defaults.
    const Json data = config.value("data", Json::object());
    parsed.data.corpus.split_seed = data.value("split_seed", 1);
    parsed.data.corpus.max_notes_per_window = data.value("max_notes_per_window", 375);
    parsed.data.corpus.data_fraction = data.value("data_fraction", 1.0);
    parsed.data.corpus.max_songs = data.value("max_songs", 0);
    parsed.data.data_dir = data.value("data_dir", std::string());
    EXPSVC_ASSIGN_OR_RETURN(parsed.data.event_pitch_rule,
                            music::ParseEventPitchRule(data.value("event_pitch_rule", std::string("causal"))));
  } catch (const Json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("model.json: ", error.what()));
  }
  if (parsed.options.d_model() <= 0 || parsed.options.n_heads() <= 0 ||
      parsed.options.d_model() % parsed.options.n_heads() != 0 || parsed.options.n_layers() <= 0) {
    return absl::InvalidArgumentError("model.json: d_model, n_heads and n_layers are inconsistent");
  }
  return parsed;
}

absl::StatusOr<TrainedMusicModel> LoadParentMusicModel(JobContext& context, const kinds::MusicSamplingParams& params,
                                                       const torch::Device& device) {
  const auto fetch = [&](const char* name) -> absl::StatusOr<std::string> {
    std::optional<expsvc::v1::ArtifactRef> artifact = context.FindParentArtifact(name);
    if (!artifact.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("no parent job has an artifact '", name,
                       "': this job must depend on a finished train_music job (depends_on in the sweep)"));
    }
    return context.FetchArtifact(*artifact);
  };
  EXPSVC_ASSIGN_OR_RETURN(std::string config_path, fetch(kMusicModelConfigName));
  EXPSVC_ASSIGN_OR_RETURN(std::string weights_path, fetch(kMusicBestModelName));
  TrainedMusicModel loaded;
  EXPSVC_ASSIGN_OR_RETURN(const std::string config_text, fs::ReadFile(config_path));
  loaded.config_json = Json::parse(config_text, nullptr, /*allow_exceptions=*/false);
  if (loaded.config_json.is_discarded()) return absl::InvalidArgumentError("the parent's model.json is not valid JSON");
  EXPSVC_ASSIGN_OR_RETURN(loaded.config, ParseTrainedMusicModelConfig(loaded.config_json));
  const std::string representation = params.representation.value_or("");
  const std::string attention = params.attention.value_or("");
  if (!representation.empty() && representation != music::RepresentationName(loaded.config.options.representation())) {
    return absl::InvalidArgumentError(absl::StrCat("representation '", representation,
                                                   "' given, but the parent model is ",
                                                   music::RepresentationName(loaded.config.options.representation())));
  }
  if (!attention.empty() && attention != music::AttentionKindName(loaded.config.options.attention())) {
    return absl::InvalidArgumentError(absl::StrCat("attention '", attention, "' given, but the parent model uses ",
                                                   music::AttentionKindName(loaded.config.options.attention())));
  }
  const std::string pitch_rule = params.event_pitch_rule.value_or("");
  if (!pitch_rule.empty() && pitch_rule != music::EventPitchRuleName(loaded.config.data.event_pitch_rule)) {
    return absl::InvalidArgumentError(absl::StrCat("event_pitch_rule '", pitch_rule,
                                                   "' given, but the parent model used ",
                                                   music::EventPitchRuleName(loaded.config.data.event_pitch_rule)));
  }
  if (!params.data_dir.empty()) loaded.config.data.data_dir = params.data_dir;
  try {
    loaded.model = music::MusicTransformer(loaded.config.options);
    torch::load(loaded.model, weights_path, device);
    loaded.model->to(device);
    loaded.model->eval();
  } catch (const c10::Error& error) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load the parent's best.pt into the model model.json describes: ", error.what_without_backtrace()));
  }
  return loaded;
}

}  // namespace expsvc::worker
