#include "worker/music/jobs/evaluate_music.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <string>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fs/file_io.h"
#include "common/kinds/music_kinds.h"
#include "common/status_macros.h"
#include "worker/music/data/grid_midi.h"
#include "worker/music/data/music_metrics.h"
#include "worker/music/data/self_similarity.h"
#include "worker/music/jobs/music_continuation.h"
#include "worker/music/jobs/music_job_support.h"
#include "worker/music/jobs/train_music.h"

namespace expsvc::worker {
namespace {

using Json = nlohmann::json;
using music::Bar;
using music::MusicDataset;
using music::Split;

music::SamplingOptions SamplingFromParams(const kinds::MusicSamplingParams& params) {
  music::SamplingOptions sampling;
  sampling.temperature = params.temperature;
  sampling.top_k = params.top_k;
  sampling.top_p = params.top_p;
  sampling.seed = static_cast<uint64_t>(params.seed);
  return sampling;
}

// Different windows get different, reproducible sampling seeds.
music::SamplingOptions ForWindow(music::SamplingOptions sampling, size_t window) {
  sampling.seed = sampling.seed * 1000003ull + window;
  return sampling;
}

struct LoadedForEvaluation {
  TrainedMusicModel trained;
  MusicDataset dataset;
  torch::Device device{torch::kCPU};
};

absl::StatusOr<LoadedForEvaluation> LoadModelAndData(JobContext& context, const kinds::MusicSamplingParams& params) {
  SetTorchThreads(params.threads);
  EXPSVC_ASSIGN_OR_RETURN(torch::Device device, SelectDevice(params.device, context));
  EXPSVC_ASSIGN_OR_RETURN(TrainedMusicModel trained, LoadParentMusicModel(context, params, device));
  music::CorpusLoadCallbacks callbacks;
  callbacks.warning = [&](const std::string& line) { context.Log(absl::StrCat("data: ", line)); };
  EXPSVC_ASSIGN_OR_RETURN(MusicDataset dataset,
                          music::LoadOrBuildMusicDataset(trained.config.data, MusicCacheDir(), callbacks));
  context.Log(absl::StrCat("model: ", music::AttentionKindName(trained.config.options.attention()), ", ",
                           music::RepresentationName(trained.config.options.representation()), ", ",
                           music::CountParameters(*trained.model), " parameters; data: ", dataset.Summary()));
  if (dataset.size(Split::kTest) == 0) return absl::FailedPreconditionError("the test split has no windows");
  return LoadedForEvaluation{std::move(trained), std::move(dataset), device};
}

// The model's context: context_tokens, else the training sequence length.
int64_t ContextTokens(const kinds::MusicSamplingParams& params, const TrainedMusicModel& trained) {
  const int64_t context_tokens = params.context_tokens;
  return context_tokens > 0 ? context_tokens : trained.config.max_len;
}

// The longest prompt: the context less room for the generated bars.
int64_t PromptBudget(const kinds::MusicSamplingParams& params, const TrainedMusicModel& trained) {
  const int64_t context = ContextTokens(params, trained);
  return std::max<int64_t>(8, context - std::min<int64_t>(context / 4, 128));
}

// Continuing `window`: bars [prompt_bars, end_bar) generated, within the
// model's context (prompt budget and total length from the job's params).
ContinuationRequest RequestWithinContext(const kinds::MusicSamplingParams& params, const TrainedMusicModel& trained,
                                         std::span<const Bar> window, int32_t prompt_bars, int32_t end_bar,
                                         const music::SamplingOptions& sampling) {
  ContinuationRequest request;
  request.window = window;
  request.prompt_bars = prompt_bars;
  request.end_bar = end_bar;
  request.max_prompt_tokens = PromptBudget(params, trained);
  request.max_total_tokens = ContextTokens(params, trained);
  request.sampling = sampling;
  request.event_pitch_rule = trained.config.data.event_pitch_rule;
  return request;
}

absl::Status Evaluate(JobContext& context) {
  EXPSVC_ASSIGN_OR_RETURN(const kinds::EvaluateMusicParams params,
                          kinds::EvaluateMusicParams::FromJson(context.params()));
  EXPSVC_ASSIGN_OR_RETURN(LoadedForEvaluation loaded, LoadModelAndData(context, params));
  music::MusicTransformer& model = loaded.trained.model;
  const MusicDataset& dataset = loaded.dataset;
  const int32_t window_bars = dataset.window_bars();
  if (window_bars < 2) return absl::InvalidArgumentError("next-bar evaluation needs windows of at least 2 bars");
  const int64_t prompt_param = params.prompt_bars;
  const int32_t prompt_bars = prompt_param > 0 ? static_cast<int32_t>(prompt_param) : window_bars - 1;
  if (prompt_bars >= window_bars) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt_bars (", prompt_bars, ") must be below the window's ", window_bars, " bars"));
  }
  const std::vector<size_t> windows =
      SampleIndices(dataset.size(Split::kTest), params.windows, static_cast<uint64_t>(params.sample_seed));
  const music::SamplingOptions sampling = SamplingFromParams(params);
  const int64_t budget = PromptBudget(params, loaded.trained);
  context.Log(absl::StrCat("evaluating ", windows.size(), " of ", dataset.size(Split::kTest),
                           " test windows: ", prompt_bars, " bars in, bar ", prompt_bars + 1,
                           " generated; prompts of at most ", budget, " tokens"));

  EXPSVC_ASSIGN_OR_RETURN(double eval_loss, MeanWindowLoss(model, dataset, Split::kTest, windows, params.batch_size,
                                                           loaded.trained.config.max_len, loaded.device));
  context.ReportMetric("eval_loss", 0, eval_loss);

  music::BarMetricsAccumulator accumulator;
  int64_t dropped_bars = 0;
  const auto started = std::chrono::steady_clock::now();
  for (size_t n = 0; n < windows.size(); ++n) {
    if (context.should_stop()) {
      return StopStatus(context);
    }
    // The window as its tokens describe it, so a perfect model scores 1.
    EXPSVC_ASSIGN_OR_RETURN(const std::vector<Bar> window, dataset.ReferenceBars(Split::kTest, windows[n]));
    const ContinuationRequest request = RequestWithinContext(params, loaded.trained, window, prompt_bars,
                                                             prompt_bars + 1, ForWindow(sampling, windows[n]));
    EXPSVC_ASSIGN_OR_RETURN(Continuation continuation, ContinueWindow(model, request));
    dropped_bars += continuation.dropped_bars;
    accumulator.Add(music::CompareBars(continuation.bars[prompt_bars], window[prompt_bars]));
    context.ReportMetric("progress", static_cast<int64_t>(n + 1),
                         static_cast<double>(n + 1) / static_cast<double>(windows.size()));
    if ((n + 1) % 10 == 0 || n + 1 == windows.size()) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      context.Log(absl::StrFormat("next-bar: %d/%d windows, %.1f s", n + 1, windows.size(), seconds));
    }
  }
  const music::BarMetrics mean = accumulator.Mean();
  const int64_t step = static_cast<int64_t>(windows.size());
  context.ReportMetric("note_f1", step, mean.note_f1);
  context.ReportMetric("pianoroll_f1", step, mean.pianoroll_f1);
  context.ReportMetric("grooving_similarity", step, mean.grooving_similarity);
  context.ReportMetric("chroma_similarity", step, mean.chroma_similarity);
  context.ReportMetric("pitch_range_similarity", step, mean.pitch_range_similarity);
  context.ReportMetric("eval_windows", step, static_cast<double>(windows.size()));
  context.ReportMetric("prompt_bars_dropped", step,
                       static_cast<double>(dropped_bars) / static_cast<double>(std::max<size_t>(1, windows.size())));
  context.Log(absl::StrFormat("next-bar: F1 note %.3f, F1 pianoroll %.3f, GS %.3f, CS %.3f, PRS %.3f (%d windows)",
                              mean.note_f1, mean.pianoroll_f1, mean.grooving_similarity, mean.chroma_similarity,
                              mean.pitch_range_similarity, windows.size()));

  // Self-similarity of whole generated pieces: continuation_prompt_bars in,
  // the rest of the window generated.
  const int64_t pieces = params.continuations;
  const int32_t continuation_prompt =
      static_cast<int32_t>(std::min<int64_t>(params.continuation_prompt_bars, window_bars - 1));
  Json matrices = Json::array();
  const std::vector<int64_t> lags(music::kSelfSimilarityLags.begin(), music::kSelfSimilarityLags.end());
  std::vector<double> generated_sum(lags.size(), 0), truth_sum(lags.size(), 0);
  std::vector<int64_t> generated_count(lags.size(), 0), truth_count(lags.size(), 0);
  std::map<std::string, int64_t> stop_reasons;
  int64_t generated_bars = 0, pieces_made = 0, reached_end = 0;
  for (int64_t piece = 0; piece < std::min<int64_t>(pieces, static_cast<int64_t>(windows.size())); ++piece) {
    if (context.should_stop()) {
      return StopStatus(context);
    }
    EXPSVC_ASSIGN_OR_RETURN(const std::vector<Bar> window,
                            dataset.ReferenceBars(Split::kTest, windows[static_cast<size_t>(piece)]));
    const ContinuationRequest request =
        RequestWithinContext(params, loaded.trained, window, continuation_prompt, window_bars,
                             ForWindow(sampling, windows[static_cast<size_t>(piece)] + 7919));
    EXPSVC_ASSIGN_OR_RETURN(Continuation continuation, ContinueWindow(model, request));
    // The piece is scored over the bars it actually has; the truth over all.
    const int64_t scored = continuation.generated_end_bar;
    const music::SimilarityMatrix generated = music::BarSelfSimilarity(continuation.bars);
    const music::SimilarityMatrix truth = music::BarSelfSimilarity(window);
    for (size_t l = 0; l < lags.size(); ++l) {
      const double g = music::MeanSimilarityAtLag(generated, lags[l], scored);
      const double t = music::MeanSimilarityAtLag(truth, lags[l]);
      if (std::isfinite(g)) generated_sum[l] += g, ++generated_count[l];
      if (std::isfinite(t)) truth_sum[l] += t, ++truth_count[l];
    }
    ++stop_reasons[continuation.generation.stop_reason];
    generated_bars += scored - continuation_prompt;
    reached_end += scored == window_bars;
    ++pieces_made;
    matrices.push_back({{"window", windows[static_cast<size_t>(piece)]},
                        {"prompt_bars", continuation_prompt},
                        {"stop_reason", continuation.generation.stop_reason},
                        {"generated_end_bar", scored},
                        {"generated", Json::parse(music::SimilarityMatrixJson(generated, scored))},
                        {"truth", Json::parse(music::SimilarityMatrixJson(truth))}});
    context.Log(absl::StrCat("continuation ", piece + 1, "/", pieces, ": ", continuation.generation.generated_notes,
                             " notes in ", scored - continuation_prompt, " whole bars, stopped by ",
                             continuation.generation.stop_reason));
  }
  if (pieces_made > 0) {
    // Why continuations stopped, as shares of the pieces. The grammar has no
    // bar past the window, so a piece that fills the window ends with EOS
    // too: continuation_reached_end counts the pieces whose bars all exist;
    // "eos" otherwise means the model ended the piece early, "context_full"
    // and "max_new_tokens" that a budget cut it.
    context.ReportMetric("continuation_reached_end", step,
                         static_cast<double>(reached_end) / static_cast<double>(pieces_made));
    for (const char* reason : {"end_bar", "eos", "context_full", "max_new_tokens"}) {
      context.ReportMetric(absl::StrCat("continuation_stop_", reason), step,
                           static_cast<double>(stop_reasons[reason]) / static_cast<double>(pieces_made));
    }
    context.ReportMetric("continuation_bars_generated", step,
                         static_cast<double>(generated_bars) / static_cast<double>(pieces_made));
  }
  for (size_t l = 0; l < lags.size(); ++l) {
    if (generated_count[l] > 0) {
      context.ReportMetric(absl::StrCat("self_similarity_lag", lags[l]), step,
                           generated_sum[l] / static_cast<double>(generated_count[l]));
    }
    if (truth_count[l] > 0) {
      context.ReportMetric(absl::StrCat("truth_self_similarity_lag", lags[l]), step,
                           truth_sum[l] / static_cast<double>(truth_count[l]));
    }
  }
  if (!matrices.empty()) {
    const std::string path = absl::StrCat(context.scratch_dir(), "/self_similarity.json");
    EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically(path, Json{{"pieces", matrices}}.dump()));
    EXPSVC_RETURN_IF_ERROR(context.UploadArtifact("self_similarity.json", path).status());
  }
  return absl::OkStatus();
}

absl::Status Generate(JobContext& context) {
  EXPSVC_ASSIGN_OR_RETURN(const kinds::GenerateMusicParams params,
                          kinds::GenerateMusicParams::FromJson(context.params()));
  EXPSVC_ASSIGN_OR_RETURN(LoadedForEvaluation loaded, LoadModelAndData(context, params));
  music::MusicTransformer& model = loaded.trained.model;
  const MusicDataset& dataset = loaded.dataset;
  const int32_t window_bars = dataset.window_bars();
  const int32_t prompt_bars = static_cast<int32_t>(params.prompt_bars);
  const int32_t generate_bars = static_cast<int32_t>(params.generate_bars);
  if (prompt_bars < 1 || prompt_bars + generate_bars > window_bars || generate_bars < 1) {
    return absl::InvalidArgumentError(absl::StrCat("prompt_bars (", prompt_bars, ") + generate_bars (", generate_bars,
                                                   ") must fit the model's windows of ", window_bars, " bars"));
  }
  const std::vector<size_t> windows =
      SampleIndices(dataset.size(Split::kTest), params.pieces, static_cast<uint64_t>(params.sample_seed));
  const music::SamplingOptions sampling = SamplingFromParams(params);
  int64_t total_notes = 0;
  double total_seconds = 0;
  for (size_t n = 0; n < windows.size(); ++n) {
    if (context.should_stop()) {
      return StopStatus(context);
    }
    const std::span<const Bar> window = dataset.WindowBars(Split::kTest, windows[n]);
    ContinuationRequest request = RequestWithinContext(params, loaded.trained, window, prompt_bars,
                                                       prompt_bars + generate_bars, ForWindow(sampling, windows[n]));
    request.max_new_tokens = params.max_new_tokens;
    const auto started = std::chrono::steady_clock::now();
    EXPSVC_ASSIGN_OR_RETURN(Continuation continuation, ContinueWindow(model, request));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    total_seconds += seconds;
    total_notes += continuation.generation.generated_notes;

    const std::vector<Bar> piece(continuation.bars.begin(), continuation.bars.begin() + request.end_bar);
    const std::vector<Bar> original(window.begin(), window.begin() + request.end_bar);
    const std::string stem = absl::StrCat(context.scratch_dir(), "/");
    const std::string name = absl::StrCat("piece_", n);
    EXPSVC_RETURN_IF_ERROR(music::WriteGridAsMidi(piece, stem + name + ".mid"));
    EXPSVC_RETURN_IF_ERROR(music::WriteGridAsMidi(original, absl::StrCat(stem, "original_", n, ".mid")));
    const music::TokenSequence& sequence = continuation.generation.sequence;
    const Json record = {{"window", windows[n]},
                         {"representation", music::RepresentationName(model->options().representation())},
                         {"fields_per_token", sequence.fields_per_token},
                         {"tokens", sequence.tokens},
                         {"prompt_tokens", continuation.generation.prompt_tokens},
                         {"prompt_bars", prompt_bars},
                         {"prompt_bars_dropped", continuation.dropped_bars},
                         {"generated_tokens", continuation.generation.generated_tokens},
                         {"generated_notes", continuation.generation.generated_notes},
                         {"stop_reason", continuation.generation.stop_reason},
                         {"seed", request.sampling.seed},
                         {"seconds", seconds}};
    EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically(stem + name + ".json", record.dump()));
    for (const std::string& file : {name + ".mid", absl::StrCat("original_", n, ".mid"), name + ".json"}) {
      EXPSVC_RETURN_IF_ERROR(context.UploadArtifact(file, stem + file).status());
    }
    context.Log(absl::StrFormat("piece %d/%d: %d notes in %.1f s (%s)", n + 1, windows.size(),
                                continuation.generation.generated_notes, seconds, continuation.generation.stop_reason));
    context.ReportMetric("progress", static_cast<int64_t>(n + 1),
                         static_cast<double>(n + 1) / static_cast<double>(windows.size()));
  }
  const int64_t step = static_cast<int64_t>(windows.size());
  context.ReportMetric("generated_notes", step, static_cast<double>(total_notes));
  context.ReportMetric("notes_per_second", step, total_seconds > 0 ? total_notes / total_seconds : 0);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunEvaluateMusic(JobContext& context) {
  return RunAtTorchEdge("evaluate_music", [&] { return Evaluate(context); });
}

absl::Status RunGenerateMusic(JobContext& context) {
  return RunAtTorchEdge("generate_music", [&] { return Generate(context); });
}

}  // namespace expsvc::worker
