#include "worker/lm/jobs/analyze_sae_job.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/fs/file_io.h"
#include "common/kinds/sae_kinds.h"
#include "common/status_macros.h"
#include "worker/lm/activations/activation_source.h"
#include "worker/lm/analysis/feature_report.h"
#include "worker/lm/analysis/feature_statistics.h"
#include "worker/lm/jobs/group_runs.h"
#include "worker/lm/jobs/sae_job_inputs.h"
#include "worker/lm/jobs/sae_training_plan.h"
#include "worker/lm/model/llama_checkpoint.h"
#include "worker/lm/model/models_dir.h"
#include "worker/lm/sae/sae_files.h"
#include "worker/lm/tokenizer/hf_tokenizer.h"
#include "worker/lm/tokenizer/tokenizer_json_exporter.h"
#include "worker/torch/torch_job_support.h"

namespace expsvc::worker {
namespace {

namespace fs = std::filesystem;
using kinds::AnalyzeSaeParams;

// Tokens either side of the marked one in a snippet.
constexpr int64_t kSnippetContext = 8;

// The model's tokenizer through our own readers: tokenizer.json directly, a
// tokenizer.model converted to it. libsentencepiece must not be loaded in
// the worker (its protobuf clashes with gRPC's; tokenizer/CMakeLists.txt).
absl::StatusOr<std::unique_ptr<lm::Tokenizer>> LoadTokenizerWithoutSentencePiece(const fs::path& model_dir) {
  EXPSVC_ASSIGN_OR_RETURN(const fs::path file, lm::FindModelTokenizerFile(model_dir));
  EXPSVC_ASSIGN_OR_RETURN(const std::string bytes, ::expsvc::fs::ReadFile(file));
  if (file.extension() == ".json") {
    EXPSVC_ASSIGN_OR_RETURN(auto tokenizer, lm::HfUnigramTokenizer::FromJson(bytes));
    return std::unique_ptr<lm::Tokenizer>(std::move(tokenizer));
  }
  EXPSVC_ASSIGN_OR_RETURN(const std::string json, lm::SentencePieceModelToTokenizerJson(bytes));
  EXPSVC_ASSIGN_OR_RETURN(auto tokenizer, lm::HfUnigramTokenizer::FromJson(json));
  return std::unique_ptr<lm::Tokenizer>(std::move(tokenizer));
}

std::string SharedDataKey(const AnalyzeSaeParams& p) {
  return absl::StrCat(p.model, "|", p.checkpoint, "|", p.batch_windows, "|", p.max_windows, "|", p.device, "|",
                      p.threads);
}

struct Member {
  int index = 0;
  AnalyzeSaeParams params;
  int64_t block = 0;
  lm::TopKSae sae{nullptr};
  std::optional<lm::FeatureStatistics> stats;
  // For the FVU over everything analysed: Σ‖x − x̂‖², Σx, Σ‖x‖², rows.
  double squared_error = 0;
  torch::Tensor sum;
  double sum_of_squares = 0;
  int64_t rows = 0;
};

class AnalysisRun {
 public:
  AnalysisRun(JobGroup& group, std::vector<Member> members)
      : group_(group), members_(std::move(members)), lead_(group.member(members_.front().index)) {}

  void Run() {
    absl::Status status = RunAtTorchEdge("analyze_sae", [&] { return Analyze(); });
    for (Member& member : members_) Finish(member, status);
  }

 private:
  JobContext& context(const Member& member) { return group_.member(member.index); }
  bool active(const Member& member) const { return !group_.finished(member.index); }
  void Finish(Member& member, absl::Status status) {
    if (!active(member)) return;
    group_.Finish(member.index, std::move(status));
    member.sae = nullptr;
    member.stats.reset();
  }

  absl::Status Analyze() {
    const AnalyzeSaeParams& p = members_.front().params;
    EXPSVC_ASSIGN_OR_RETURN(const torch::Device device, SelectDevice(p.device, lead_));
    SetTorchThreads(p.threads);
    EXPSVC_ASSIGN_OR_RETURN(lm::LmCorpus corpus, FetchParentCorpus(lead_));
    EXPSVC_ASSIGN_OR_RETURN(const LmCheckpointFolder checkpoint, FetchLmCheckpoint(lead_, p.model, p.checkpoint));
    EXPSVC_RETURN_IF_ERROR(CheckCorpusFitsModel(lead_, corpus, checkpoint.dir));
    EXPSVC_ASSIGN_OR_RETURN(lm::LlamaModel model, lm::LoadLlamaModel(checkpoint.dir, {torch::kFloat32, device}));
    // Without a tokenizer beside the checkpoint, snippets show token ids and
    // only the all_activations rule (which needs no text) can run.
    absl::StatusOr<std::unique_ptr<lm::Tokenizer>> loaded_tokenizer = LoadTokenizerWithoutSentencePiece(checkpoint.dir);
    std::unique_ptr<lm::Tokenizer> tokenizer;
    if (loaded_tokenizer.ok()) {
      tokenizer = *std::move(loaded_tokenizer);
    } else {
      for (Member& member : members_) {
        if (active(member))
          context(member).Log(
              absl::StrCat("no tokenizer: ", loaded_tokenizer.status().message(), "; snippets show token ids"));
      }
    }
    const int64_t hidden = model->config().hidden_size;

    std::vector<int64_t> blocks;
    for (Member& member : members_) {
      absl::Status ready = Prepare(member, model->config().num_hidden_layers, hidden, device);
      if (!ready.ok()) {
        Finish(member, ready);
        continue;
      }
      blocks.push_back(member.block);
    }
    if (blocks.empty()) return absl::OkStatus();

    lm::ActivationSourceOptions options;
    options.layers = blocks;
    options.split = lm::Split::kTest;
    options.batch_windows = p.batch_windows;
    lm::ActivationSource source(model, corpus, options);
    // All test windows, or max_windows spread over both languages, in order
    // (the statistics need rows in (window, position) order).
    const std::vector<int64_t> analysed = EvenlySpacedWindows(corpus.window_count(lm::Split::kTest), p.max_windows);
    if (analysed.empty()) return absl::FailedPreconditionError("the corpus has no test windows");
    const auto for_each_batch = [&](const std::function<absl::Status(const lm::ActivationBatch&)>& consume) {
      for (size_t first = 0; first < analysed.size(); first += static_cast<size_t>(p.batch_windows)) {
        const size_t end = std::min(analysed.size(), first + static_cast<size_t>(p.batch_windows));
        EXPSVC_ASSIGN_OR_RETURN(const lm::ActivationBatch batch,
                                source.Compute(absl::MakeConstSpan(analysed).subspan(first, end - first)));
        EXPSVC_RETURN_IF_ERROR(consume(batch));
      }
      return absl::OkStatus();
    };
    EXPSVC_RETURN_IF_ERROR(for_each_batch([&](const lm::ActivationBatch& batch) -> absl::Status {
      torch::NoGradGuard no_grad;
      bool any = false;
      for (Member& member : members_) {
        if (!active(member)) continue;
        if (context(member).should_stop()) {
          Finish(member, StopStatus(context(member)));
          continue;
        }
        any = true;
        const torch::Tensor x = batch.layers.at(member.block).to(device);
        const lm::TopKCodes codes = member.sae->Encode(x);
        const torch::Tensor x_hat = member.sae->Decode(codes).to(torch::kFloat32);
        member.squared_error += (x - x_hat).pow(2).sum().item<double>();
        member.sum.add_(x.sum(0).to(torch::kDouble).cpu());
        member.sum_of_squares += x.pow(2).sum().item<double>();
        member.rows += x.size(0);
        const lm::TopKCodes on_cpu{codes.values.to(torch::kCPU, torch::kFloat32), codes.indices.to(torch::kCPU)};
        absl::Status added =
            member.stats->Add(on_cpu, {batch.token_ids, batch.languages, batch.windows, batch.positions});
        if (!added.ok()) Finish(member, added);
      }
      // Every member has stopped (and been finished): end the sweep.
      return any ? absl::OkStatus() : absl::CancelledError("every member stopped");
    }));

    // Text for the language rule (one id decoded) and for snippets (pieces
    // with SentencePiece's word marker as a space).
    lm::TokenText token_text;
    if (tokenizer != nullptr) {
      token_text = [&](int64_t id) -> std::string {
        absl::StatusOr<std::string> text = tokenizer->Decode({static_cast<lm::TokenId>(id)});
        return text.ok() ? *text : std::string();
      };
    }
    const lm::SnippetText snippet = [&](int64_t window, int64_t position) -> absl::StatusOr<std::string> {
      const lm::CorpusWindow tokens = corpus.window(lm::Split::kTest, window);
      std::vector<std::string> texts;
      for (lm::TokenId id : tokens.tokens) {
        if (tokenizer == nullptr) {
          texts.push_back(absl::StrCat("#", id, " "));
          continue;
        }
        absl::StatusOr<std::string> piece = tokenizer->PieceOf(id);
        texts.push_back(piece.ok() ? absl::StrReplaceAll(*piece, {{"\xE2\x96\x81", " "}}) : "<?>");
      }
      return lm::MarkToken(texts, position, kSnippetContext, kSnippetContext);
    };
    EXPSVC_ASSIGN_OR_RETURN(const lm::TokenEmbeddings embeddings,
                            lm::TokenEmbeddings::FromTensor(model->model->embed_tokens->weight.detach()));
    for (Member& member : members_) {
      if (!active(member)) continue;
      Finish(member, Report(member, source.forward_passes(), {token_text, &embeddings, snippet}));
    }
    return absl::OkStatus();
  }

  absl::Status Prepare(Member& member, int64_t layers, int64_t hidden, const torch::Device& device) {
    EXPSVC_ASSIGN_OR_RETURN(member.block, BlockOfLayer(member.params.layer, layers));
    JobContext& job = context(member);
    EXPSVC_ASSIGN_OR_RETURN(const fs::path dir, FetchParentSae(job, fs::path(job.scratch_dir()) / "sae"));
    EXPSVC_ASSIGN_OR_RETURN(lm::LoadedSae loaded, lm::LoadSae(dir));
    if (loaded.sae->options().d_in() != hidden) {
      return absl::FailedPreconditionError(absl::StrCat("the parent SAE reads vectors of width ",
                                                        loaded.sae->options().d_in(), " but the LM's residual is ",
                                                        hidden, " wide: was it trained on another model?"));
    }
    member.sae = loaded.sae;
    member.sae->to(device);
    lm::FeatureStatisticsOptions options;
    options.top_examples = member.params.top_snippets;
    EXPSVC_ASSIGN_OR_RETURN(lm::FeatureStatistics stats,
                            lm::FeatureStatistics::Create(member.sae->options().n_latents(), options));
    member.stats.emplace(std::move(stats));
    member.sum = torch::zeros({hidden}, torch::kDouble);
    return absl::OkStatus();
  }

  absl::Status Report(Member& member, int64_t forward_passes, const lm::FeatureReportInputs& inputs) {
    JobContext& job = context(member);
    lm::FeatureReportOptions options;
    EXPSVC_ASSIGN_OR_RETURN(options.rule, lm::ParseLanguageRule(member.params.language_rule));
    options.language_threshold = member.params.language_threshold;
    options.monosemanticity.similarity_threshold = member.params.cluster_threshold;
    EXPSVC_ASSIGN_OR_RETURN(const lm::FeatureReport report, lm::BuildFeatureReport(*member.stats, inputs, options));
    const fs::path path = fs::path(job.scratch_dir()) / kFeaturesArtifactName;
    EXPSVC_RETURN_IF_ERROR(lm::WriteFeaturesJson(report, path));
    EXPSVC_RETURN_IF_ERROR(job.UploadArtifact(kFeaturesArtifactName, path.string()).status());

    const lm::SaeSummary& summary = report.summary;
    const double n = static_cast<double>(std::max<int64_t>(member.rows, 1));
    const double variance = member.sum_of_squares - member.sum.pow(2).sum().item<double>() / n;
    const double test_fvu = member.squared_error / std::max(variance, 1e-12);
    const std::vector<std::pair<const char*, double>> metrics = {
        {"fraction_japanese", summary.fraction_japanese},
        {"fraction_english", summary.fraction_english},
        {"fraction_mixed", summary.fraction_mixed},
        {"fraction_dead", summary.fraction_dead},
        {"mean_r", summary.mean_r},
        {"mean_span", summary.mean_span},
        {"live_features", static_cast<double>(summary.live)},
        {"test_fvu", test_fvu},
        {"test_tokens", static_cast<double>(member.rows)},
        {"forward_passes", static_cast<double>(forward_passes)}};
    for (const auto& [key, value] : metrics) {
      if (std::isfinite(value)) job.ReportMetric(key, 0, value);
    }
    job.Log(absl::StrFormat(
        "layer %d: %d of %d features live; Japanese %.3f English %.3f Mixed %.3f dead %.3f (rule %s, threshold "
        "%.2f); mean R %.3f, mean span %.2f; test FVU %.4f over %d tokens",
        member.params.layer, summary.live, summary.n_latents, summary.fraction_japanese, summary.fraction_english,
        summary.fraction_mixed, summary.fraction_dead, member.params.language_rule, member.params.language_threshold,
        summary.mean_r, summary.mean_span, test_fvu, member.rows));
    return absl::OkStatus();
  }

  JobGroup& group_;
  std::vector<Member> members_;
  JobContext& lead_;
};

}  // namespace

void RunAnalyzeSaeGroup(JobGroup& group) {
  for (std::vector<Member>& members : SplitGroupIntoRuns<Member, AnalyzeSaeParams>(group, SharedDataKey)) {
    AnalysisRun(group, std::move(members)).Run();
  }
}

}  // namespace expsvc::worker
