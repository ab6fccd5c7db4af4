#include "worker/music/jobs/train_music.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <numbers>
#include <random>
#include <thread>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fs/file_io.h"
#include "common/kinds/music_kinds.h"
#include "common/status_macros.h"
#include "worker/kernels/flash_relative/flash_relative.h"
#include "worker/music/data/event_tokens.h"
#include "worker/music/data/music_dataset.h"
#include "worker/music/data/note_tokens.h"
#include "worker/music/jobs/evaluate_music.h"
#include "worker/music/jobs/music_job_support.h"
#include "worker/music/model/music_transformer.h"
#include "worker/torch/autocast_scope.h"

namespace expsvc::worker {
namespace {

using expsvc::music::MusicBatch;
using expsvc::music::MusicDataset;
using expsvc::music::MusicTransformer;
using expsvc::music::MusicTransformerOptions;
using expsvc::music::Representation;
using expsvc::music::Split;
using expsvc::music::TokenSequence;
using Json = nlohmann::json;

constexpr const char* kCheckpointName = kMusicCheckpointName;
constexpr const char* kBestModelName = kMusicBestModelName;
constexpr const char* kModelConfigName = kMusicModelConfigName;

// The catalog's parameters (common/kinds/music_kinds.h) resolved to the
// model's and the data library's types.
struct TrainMusicSettings : kinds::TrainMusicParams {
  Representation representation_kind = Representation::kEventBased;
  music::AttentionKind attention_kind = music::AttentionKind::kAttn;
  music::MusicDataConfig data;
};

absl::StatusOr<TrainMusicSettings> ParseParams(const Json& params) {
  TrainMusicSettings p;
  EXPSVC_ASSIGN_OR_RETURN(static_cast<kinds::TrainMusicParams&>(p), kinds::TrainMusicParams::FromJson(params));
  EXPSVC_ASSIGN_OR_RETURN(p.representation_kind, music::ParseRepresentation(p.representation));
  EXPSVC_ASSIGN_OR_RETURN(p.attention_kind, music::ParseAttentionKind(p.attention));
  p.data.data_dir = p.data_dir;
  p.data.representation = p.representation_kind;
  p.data.corpus.window_bars = static_cast<int32_t>(p.window_bars);
  p.data.corpus.split_seed = static_cast<uint64_t>(p.split_seed);
  p.data.corpus.max_notes_per_window = static_cast<int32_t>(p.max_notes_per_window);
  p.data.corpus.data_fraction = p.data_fraction;
  p.data.corpus.max_songs = static_cast<int32_t>(p.max_songs);
  EXPSVC_ASSIGN_OR_RETURN(p.data.event_pitch_rule, music::ParseEventPitchRule(p.event_pitch_rule));
  if (p.d_model % p.n_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("n_heads (", p.n_heads, ") must divide d_model (", p.d_model, ")"));
  }
  if (p.attention_kernel == "flash" && !kernels::FlashRelativeHeadDimSupported(p.d_model / p.n_heads)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention_kernel 'flash' needs a head size (d_model / n_heads) of "
                     "8, 16, 32, 64 or 128; got ",
                     p.d_model / p.n_heads));
  }
  if (p.device == "cuda" && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError("device 'cuda' was asked for but CUDA is not available on this worker");
  }
  return p;
}

MusicTransformerOptions ModelOptions(const TrainMusicSettings& p) {
  MusicTransformerOptions options;
  options.representation(p.representation_kind)
      .attention(p.attention_kind)
      .d_model(p.d_model)
      .n_layers(p.n_layers)
      .n_heads(p.n_heads)
      .d_ff(p.d_ff)
      .dropout(p.dropout)
      .max_len(std::max<int64_t>(p.max_len, 8))
      .flash_kernel(p.attention_kernel == "flash");
  return options;
}

Json ModelConfigJson(const TrainMusicSettings& p) {
  return Json{{"representation", music::RepresentationName(p.representation_kind)},
              {"attention", music::AttentionKindName(p.attention_kind)},
              {"d_model", p.d_model},
              {"n_layers", p.n_layers},
              {"n_heads", p.n_heads},
              {"d_ff", p.d_ff},
              {"dropout", p.dropout},
              {"max_len", p.max_len},
              {"window_bars", p.data.corpus.window_bars},
              // What evaluate_music / generate_music need to rebuild the
              // same test split.
              {"data",
               {{"split_seed", p.data.corpus.split_seed},
                {"max_notes_per_window", p.data.corpus.max_notes_per_window},
                {"data_fraction", p.data.corpus.data_fraction},
                {"max_songs", p.data.corpus.max_songs},
                {"data_dir", p.data.data_dir},
                {"event_pitch_rule", music::EventPitchRuleName(p.data.event_pitch_rule)}}}};
}

// Notes in the first `length` tokens: note tokens (note-based) or Pitch
// events (event-based).
int64_t CountNotes(const TokenSequence& sequence, Representation representation, int64_t length) {
  int64_t notes = 0;
  const int64_t fields = sequence.fields_per_token;
  for (int64_t t = 0; t < length; ++t) {
    const int32_t first = sequence.tokens[static_cast<size_t>(t * fields)];
    if (representation == Representation::kNoteBased) {
      notes += first == music::kNoteTypeNote;
    } else {
      notes += first >= music::kEventPitchBase && first < music::kEventDurationBase;
    }
  }
  return notes;
}

double LearningRate(const TrainMusicSettings& p, int64_t step, int64_t total_steps) {
  if (p.warmup_steps > 0 && step < p.warmup_steps) {
    return p.lr * static_cast<double>(step + 1) / static_cast<double>(p.warmup_steps);
  }
  if (p.lr_schedule == "cosine") {
    const double progress = static_cast<double>(step - p.warmup_steps) /
                            static_cast<double>(std::max<int64_t>(1, total_steps - p.warmup_steps));
    return p.lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * std::clamp(progress, 0.0, 1.0))));
  }
  if (p.lr_schedule == "inverse_sqrt") {
    return p.lr * std::sqrt(static_cast<double>(std::max<int64_t>(1, p.warmup_steps)) /
                            static_cast<double>(std::max<int64_t>(1, step + 1)));
  }
  return p.lr;
}

// Mean next-token loss over the first `max_windows` windows of a split
// (all when 0), weighted by the number of predicted tokens.
absl::StatusOr<double> Evaluate(MusicTransformer& model, const MusicDataset& dataset, Split split,
                                const TrainMusicSettings& p, const torch::Device& device) {
  const size_t available = dataset.size(split);
  const size_t count =
      p.eval_windows > 0 ? std::min<size_t>(available, static_cast<size_t>(p.eval_windows)) : available;
  if (count == 0)
    return absl::FailedPreconditionError(absl::StrCat("the ", music::SplitName(split), " split is empty"));
  torch::NoGradGuard no_grad;
  model->eval();
  double weighted = 0, weight = 0;
  for (size_t start = 0; start < count; start += static_cast<size_t>(p.batch_size)) {
    std::vector<TokenSequence> sequences;
    for (size_t i = start; i < std::min(count, start + static_cast<size_t>(p.batch_size)); ++i) {
      EXPSVC_ASSIGN_OR_RETURN(TokenSequence sequence, dataset.Sequence(split, i));
      sequences.push_back(std::move(sequence));
    }
    MusicBatch batch = CollateSequences(sequences, p.max_len, device);
    EXPSVC_ASSIGN_OR_RETURN(music::NextTokenLoss loss, model->Loss(batch));
    const double targets = (~batch.padding_mask).narrow(1, 1, batch.padding_mask.size(1) - 1).sum().item<double>();
    weighted += loss.total.item<double>() * targets;
    weight += targets;
  }
  model->train();
  return weight > 0 ? weighted / weight : std::numeric_limits<double>::quiet_NaN();
}

// The largest max_len the kind accepts; a longer window asks for fewer bars.
constexpr int64_t kMaxSequenceLength = 8192;

// max_len 0 becomes the longest window of the data (every split), so no
// window is cut; a resumed attempt keeps the length its first attempt
// resolved (the checkpoint's tables are sized by it), from this job's
// model.json. A max_len that does cut windows is said loudly in the log
// and reported as truncated_window_fraction (the share of training windows
// cut); the loss of a cut window covers only its first bars and rarely EOS.
absl::Status ResolveSequenceLength(JobContext& context, const MusicDataset& dataset, TrainMusicSettings& p) {
  std::array<std::vector<int64_t>, music::kNumSplits> lengths;
  int64_t longest = 0;
  for (Split split : music::kAllSplits) {
    auto& split_lengths = lengths[static_cast<size_t>(split)];
    EXPSVC_ASSIGN_OR_RETURN(split_lengths, dataset.SequenceLengths(split));
    for (int64_t length : split_lengths) longest = std::max(longest, length);
  }
  if (p.max_len == 0) {
    if (auto earlier = context.FindOwnArtifact(kModelConfigName); earlier.has_value()) {
      EXPSVC_ASSIGN_OR_RETURN(const std::string path, context.FetchArtifact(*earlier));
      EXPSVC_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(path));
      const Json config = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!config.is_object() || !config.contains("max_len") || !config["max_len"].is_number_integer()) {
        return absl::DataLossError("this job's model.json from an earlier attempt has no max_len");
      }
      p.max_len = config["max_len"].get<int64_t>();
    } else if (longest > kMaxSequenceLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("the longest window has ", longest, " tokens, over the ", kMaxSequenceLength,
                       " a model takes: use fewer window_bars or a max_notes_per_window cap"));
    } else {
      p.max_len = std::max<int64_t>(longest, 8);
    }
  }
  context.ReportMetric("longest_window_tokens", 0, static_cast<double>(longest));
  std::string cut_summary;
  for (Split split : music::kAllSplits) {
    const auto& split_lengths = lengths[static_cast<size_t>(split)];
    const int64_t cut =
        std::count_if(split_lengths.begin(), split_lengths.end(), [&](int64_t length) { return length > p.max_len; });
    const double fraction =
        split_lengths.empty() ? 0.0 : static_cast<double>(cut) / static_cast<double>(split_lengths.size());
    if (split == Split::kTrain) context.ReportMetric("truncated_window_fraction", 0, fraction);
    if (cut > 0) {
      absl::StrAppend(&cut_summary, cut_summary.empty() ? "" : ", ", cut, " of ", split_lengths.size(), " ",
                      music::SplitName(split), absl::StrFormat(" (%.1f%%)", 100.0 * fraction));
    }
  }
  if (cut_summary.empty()) {
    context.Log(absl::StrCat("data: every window fits max_len ", p.max_len, " (the longest has ", longest, " tokens)"));
  } else {
    context.Log(absl::StrCat("WARNING data: windows longer than max_len ", p.max_len, " are cut to their first ",
                             p.max_len, " tokens: ", cut_summary, "; the longest has ", longest,
                             " tokens (max_len 0 fits them all, fewer window_bars makes them shorter)"));
  }
  return absl::OkStatus();
}

struct ResumedState {
  int64_t step = 0;
  double best_val_loss = std::numeric_limits<double>::infinity();
};

absl::Status Train(JobContext& context) {
  EXPSVC_ASSIGN_OR_RETURN(TrainMusicSettings p, ParseParams(context.params()));
  SetTorchThreads(p.threads);
  EXPSVC_ASSIGN_OR_RETURN(const torch::Device device, SelectDevice(p.device, context));
  if (p.attention_kernel == "flash" && !kernels::FlashRelativeRunsOn(device, torch::kFloat32, p.d_model / p.n_heads)) {
    return absl::FailedPreconditionError(
        absl::StrCat("attention_kernel 'flash' has no pass for ", device.str(),
                     " in this worker's build (its CUDA kernels need a LibTorch with CUDA); use 'fused'"));
  }

  music::CorpusLoadCallbacks callbacks;
  callbacks.warning = [&](const std::string& line) { context.Log(absl::StrCat("data: ", line)); };
  EXPSVC_ASSIGN_OR_RETURN(MusicDataset dataset, music::LoadOrBuildMusicDataset(p.data, MusicCacheDir(), callbacks));
  context.Log(absl::StrCat("data: ", dataset.Summary(), dataset.loaded_from_cache() ? " (from cache)" : ""));
  const size_t train_windows = dataset.size(Split::kTrain);
  if (train_windows == 0) return absl::FailedPreconditionError("no training windows: check data_dir and the filters");
  EXPSVC_RETURN_IF_ERROR(ResolveSequenceLength(context, dataset, p));
  const int64_t total_steps =
      p.steps > 0 ? p.steps
                  : std::max<int64_t>(1, static_cast<int64_t>(std::ceil(p.epochs * static_cast<double>(train_windows) /
                                                                        static_cast<double>(p.batch_size))));

  torch::manual_seed(static_cast<uint64_t>(p.seed));
  MusicTransformer model(ModelOptions(p));
  model->to(device);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(p.lr));
  const int64_t parameter_count = music::CountParameters(*model);
  context.Log(absl::StrCat("model: ", music::AttentionKindName(p.attention_kind), ", ",
                           music::RepresentationName(p.representation_kind), ", ", parameter_count, " parameters, ",
                           total_steps, " steps of ", p.batch_size, " windows on ", device.str(),
                           p.precision == "bfloat16" ? ", bf16 mixed precision" : "",
                           p.attention_kernel == "flash" ? ", flash attention kernel" : ""));
  if (p.precision == "bfloat16" && device.is_cpu()) {
    context.Log(
        "WARNING precision: bfloat16 on the CPU works, but a CPU without bf16 units runs it slower than "
        "float32; it is meant for GPUs");
  }
  if (p.attention_kernel == "flash" && device.is_cpu()) {
    context.Log(
        "WARNING attention_kernel: flash on the CPU runs its reference pass, slower than 'fused'; it is "
        "meant for GPUs");
  }

  const std::string scratch = context.scratch_dir();
  EXPSVC_RETURN_IF_ERROR(
      fs::WriteFileAtomically(absl::StrCat(scratch, "/", kModelConfigName), ModelConfigJson(p).dump(2)));
  ResumedState state;
  if (auto checkpoint = context.FindOwnArtifact(kCheckpointName); checkpoint.has_value()) {
    EXPSVC_ASSIGN_OR_RETURN(std::string path, context.FetchArtifact(*checkpoint));
    EXPSVC_ASSIGN_OR_RETURN(TrainingState loaded,
                            LoadTrainingState(path, *model, optimizer, device, {"best_val_loss"}));
    state = {loaded.step, loaded.scalars.at("best_val_loss")};
    EXPSVC_RETURN_IF_ERROR(context.ReplaceMetricsAfter(state.step));
    context.Log(absl::StrCat("resuming from checkpoint at step ", state.step, " (attempt ", context.attempt(), ")"));
  } else {
    EXPSVC_RETURN_IF_ERROR(
        context.UploadArtifact(kModelConfigName, absl::StrCat(scratch, "/", kModelConfigName)).status());
  }
  context.ReportMetric("params", 0, static_cast<double>(parameter_count));

  const std::string checkpoint_path = absl::StrCat(scratch, "/", kCheckpointName);
  const std::string best_path = absl::StrCat(scratch, "/", kBestModelName);
  auto save_and_upload_checkpoint = [&](int64_t step) -> absl::Status {
    EXPSVC_RETURN_IF_ERROR(
        SaveTrainingState(checkpoint_path, *model, optimizer, {step, {{"best_val_loss", state.best_val_loss}}}));
    return context.UploadArtifact(kCheckpointName, checkpoint_path).status();
  };

  double window_ms = 0;
  int64_t window_notes = 0;
  model->train();
  for (int64_t step = state.step; step < total_steps; ++step) {
    if (context.should_stop()) {
      if (!context.shutting_down()) return absl::CancelledError(absl::StrCat("stopped at step ", step));
      EXPSVC_RETURN_IF_ERROR(save_and_upload_checkpoint(step));
      return absl::AbortedError(absl::StrCat("worker shutting down; checkpoint at step ", step));
    }
    // Batches depend only on (seed, step), so a resumed run sees the same data.
    std::mt19937_64 rng(static_cast<uint64_t>(p.seed) * 1000003ULL + static_cast<uint64_t>(step));
    std::uniform_int_distribution<size_t> pick(0, train_windows - 1);
    std::vector<TokenSequence> sequences;
    int64_t notes = 0;
    for (int64_t b = 0; b < p.batch_size; ++b) {
      EXPSVC_ASSIGN_OR_RETURN(TokenSequence sequence, dataset.Sequence(Split::kTrain, pick(rng)));
      notes += CountNotes(sequence, p.representation_kind,
                          std::min<int64_t>(p.max_len, static_cast<int64_t>(sequence.length())));
      sequences.push_back(std::move(sequence));
    }
    MusicBatch batch = CollateSequences(sequences, p.max_len, device);
    const double lr = LearningRate(p, step, total_steps);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);

    const auto start = std::chrono::steady_clock::now();
    optimizer.zero_grad();
    absl::StatusOr<music::NextTokenLoss> loss_or = [&] {
      const AutocastScope mixed_precision(device, p.precision == "bfloat16");
      return model->Loss(batch);
    }();
    EXPSVC_ASSIGN_OR_RETURN(music::NextTokenLoss loss, std::move(loss_or));
    loss.total.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();
    const double train_loss = loss.total.item<double>();
    window_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    window_notes += notes;
    if (!std::isfinite(train_loss)) {
      return absl::InternalError(absl::StrCat("training diverged: loss is ", train_loss, " at step ", step + 1));
    }
    const int64_t done = step + 1;
    context.ReportMetric("train_loss", done, train_loss);
    context.ReportMetric("lr", done, lr);

    if (done % p.eval_every == 0 || done == total_steps) {
      EXPSVC_ASSIGN_OR_RETURN(double val_loss, Evaluate(model, dataset, Split::kValid, p, device));
      const double ms_per_note = window_notes > 0 ? window_ms / static_cast<double>(window_notes) : 0;
      context.ReportMetric("val_loss", done, val_loss);
      context.ReportMetric("ms_per_note", done, ms_per_note);
      context.Log(absl::StrFormat("step %d/%d train_loss %.4f val_loss %.4f lr %.2e %.3f ms/note", done, total_steps,
                                  train_loss, val_loss, lr, ms_per_note));
      window_ms = 0;
      window_notes = 0;
      if (val_loss < state.best_val_loss) {
        state.best_val_loss = val_loss;
        torch::save(model, best_path);
        EXPSVC_RETURN_IF_ERROR(context.UploadArtifact(kBestModelName, best_path).status());
      }
    }
    if (done % p.checkpoint_every == 0 && done < total_steps) EXPSVC_RETURN_IF_ERROR(save_and_upload_checkpoint(done));
  }

  // The test loss of the best model (the one the paper's tables report).
  if (auto best = context.FindOwnArtifact(kBestModelName); best.has_value() && !std::ifstream(best_path)) {
    EXPSVC_ASSIGN_OR_RETURN(std::string path, context.FetchArtifact(*best));
    torch::load(model, path, device);
  } else if (std::ifstream(best_path)) {
    torch::load(model, best_path, device);
  }
  EXPSVC_ASSIGN_OR_RETURN(double test_loss, Evaluate(model, dataset, Split::kTest, p, device));
  context.ReportMetric("best_val_loss", total_steps, state.best_val_loss);
  context.ReportMetric("test_loss", total_steps, test_loss);
  context.Log(absl::StrFormat("done: best val_loss %.4f, test_loss %.4f", state.best_val_loss, test_loss));
  return absl::OkStatus();
}

}  // namespace

std::string MusicCacheDir() {
  const char* configured = std::getenv("EXPSVC_CACHE_DIR");
  return configured != nullptr && *configured != '\0' ? configured : "/tmp/expsvc-cache";
}

absl::Status RunTrainMusic(JobContext& context) {
  return RunAtTorchEdge("train_music", [&] { return Train(context); });
}

absl::Status RegisterMusicJobs(JobKindRegistry& registry) {
  EXPSVC_RETURN_IF_ERROR(registry.Register("train_music", RunTrainMusic));
  EXPSVC_RETURN_IF_ERROR(registry.Register("evaluate_music", RunEvaluateMusic));
  return registry.Register("generate_music", RunGenerateMusic);
}

}  // namespace expsvc::worker
