#include "worker/lm/jobs/intervene_job.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fs/file_io.h"
#include "common/kinds/sae_kinds.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/lm/jobs/sae_job_inputs.h"
#include "worker/lm/jobs/sae_training_plan.h"
#include "worker/lm/model/llama_checkpoint.h"
#include "worker/lm/sae/sae_files.h"
#include "worker/torch/torch_job_support.h"

namespace expsvc::worker {
namespace {

namespace fs = std::filesystem;
namespace v1 = expsvc::v1;
using kinds::InterveneParams;

constexpr std::array<const char*, 4> kSets = {"none", "english", "japanese", "mixed"};

// Feature ids per class from the parent analyze_sae job's features.json,
// the most active first, at most max_features each (0 = all).
absl::StatusOr<std::map<std::string, std::vector<int64_t>>> ReadFeatureSets(JobContext& context, int64_t max_features) {
  std::optional<v1::ArtifactRef> artifact = context.FindParentArtifact(kFeaturesArtifactName);
  if (!artifact.has_value()) {
    return absl::FailedPreconditionError("no parent job has features.json: depend on an analyze_sae stage");
  }
  EXPSVC_ASSIGN_OR_RETURN(std::string path, context.FetchArtifact(*artifact));
  EXPSVC_ASSIGN_OR_RETURN(std::string text, ::expsvc::fs::ReadFile(path));
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.contains("features") || !json["features"].is_array()) {
    return absl::DataLossError(absl::StrCat("features.json of the parent job is not a feature report (", path, ")"));
  }
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> by_class;  // class → (count, id)
  for (const nlohmann::json& feature : json["features"]) {
    if (!feature.is_object() || !feature.value("id", nlohmann::json()).is_number_integer() ||
        !feature.value("class", nlohmann::json()).is_string()) {
      return absl::DataLossError(absl::StrCat("features.json: a feature lacks an integer id or a class (", path, ")"));
    }
    by_class[feature["class"].get<std::string>()].emplace_back(feature.value("count", int64_t{0}),
                                                               feature["id"].get<int64_t>());
  }
  std::map<std::string, std::vector<int64_t>> sets;
  for (const char* name : {"english", "japanese", "mixed"}) {
    std::vector<std::pair<int64_t, int64_t>>& list = by_class[name];
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    if (max_features > 0 && static_cast<int64_t>(list.size()) > max_features) list.resize(max_features);
    std::vector<int64_t>& ids = sets[name];  // present even when empty
    for (const auto& [count, id] : list) ids.push_back(id);
  }
  return sets;
}

absl::Status Intervene(JobContext& context) {
  EXPSVC_ASSIGN_OR_RETURN(const InterveneParams p, InterveneParams::FromJson(context.params()));
  if (p.target_checkpoint == 0) return absl::InvalidArgumentError("target_checkpoint (a training step) is required");
  EXPSVC_ASSIGN_OR_RETURN(const torch::Device device, SelectDevice(p.device, context));
  SetTorchThreads(p.threads);
  EXPSVC_ASSIGN_OR_RETURN(lm::LmCorpus corpus, FetchParentCorpus(context));
  EXPSVC_ASSIGN_OR_RETURN(const LmCheckpointFolder trained_folder, FetchLmCheckpoint(context, p.model, p.checkpoint));
  EXPSVC_ASSIGN_OR_RETURN(const LmCheckpointFolder target_folder,
                          FetchLmCheckpoint(context, p.model, p.target_checkpoint));
  EXPSVC_RETURN_IF_ERROR(CheckCorpusFitsModel(context, corpus, trained_folder.dir));
  EXPSVC_RETURN_IF_ERROR(CheckCorpusFitsModel(context, corpus, target_folder.dir));
  EXPSVC_ASSIGN_OR_RETURN(lm::LlamaModel trained, lm::LoadLlamaModel(trained_folder.dir, {torch::kFloat32, device}));
  EXPSVC_ASSIGN_OR_RETURN(lm::LlamaModel target, lm::LoadLlamaModel(target_folder.dir, {torch::kFloat32, device}));
  if (trained->config().hidden_size != target->config().hidden_size ||
      trained->config().num_hidden_layers != target->config().num_hidden_layers) {
    return absl::FailedPreconditionError("the trained and the target checkpoints have different shapes");
  }
  EXPSVC_ASSIGN_OR_RETURN(const int64_t block, BlockOfLayer(p.layer, trained->config().num_hidden_layers));
  EXPSVC_ASSIGN_OR_RETURN(const fs::path sae_dir, FetchParentSae(context, fs::path(context.scratch_dir()) / "sae"));
  EXPSVC_ASSIGN_OR_RETURN(lm::LoadedSae loaded, lm::LoadSae(sae_dir));
  lm::TopKSae sae = loaded.sae;
  if (sae->options().d_in() != trained->config().hidden_size) {
    return absl::FailedPreconditionError("the parent SAE does not match the model's width");
  }
  sae->to(device);
  EXPSVC_ASSIGN_OR_RETURN(auto sets, ReadFeatureSets(context, p.max_features));
  std::map<std::string, torch::Tensor> masks;  // set → [n] bool
  for (const auto& [name, ids] : sets) {
    masks[name] = torch::zeros({sae->options().n_latents()}, torch::kBool);
    if (!ids.empty()) masks[name].index_fill_(0, torch::tensor(ids, torch::kLong), true);
    masks[name] = masks[name].to(device);
    context.ReportMetric(absl::StrCat("features_", name), 0, static_cast<double>(ids.size()));
  }

  // All test windows, or max_windows spread over both languages.
  const std::vector<int64_t> evaluated = EvenlySpacedWindows(corpus.window_count(lm::Split::kTest), p.max_windows);
  const auto windows = static_cast<int64_t>(evaluated.size());
  if (windows == 0) return absl::FailedPreconditionError("the corpus has no test windows");
  const int64_t length = corpus.window_length();
  // Summed next-token loss and token count per (set, language).
  std::map<std::pair<std::string, lm::Language>, std::pair<double, int64_t>> totals;
  torch::NoGradGuard no_grad;
  trained->eval();
  target->eval();
  for (int64_t first = 0; first < windows; first += p.batch_windows) {
    if (context.should_stop()) return StopStatus(context);
    const int64_t count = std::min(p.batch_windows, windows - first);
    torch::Tensor tokens = torch::empty({count, length}, torch::kLong);
    std::vector<lm::Language> languages;
    for (int64_t w = 0; w < count; ++w) {
      const lm::CorpusWindow window = corpus.window(lm::Split::kTest, evaluated[static_cast<size_t>(first + w)]);
      std::copy(window.tokens.begin(), window.tokens.end(), tokens.data_ptr<int64_t>() + w * length);
      languages.push_back(window.language);
    }
    tokens = tokens.to(device);
    lm::LlamaForwardOptions encode_options;
    encode_options.residual_layers = {block};
    encode_options.compute_logits = false;
    encode_options.stop_after_deepest_layer = true;
    EXPSVC_ASSIGN_OR_RETURN(const lm::LlamaForwardOutput reference, trained->Forward(tokens, encode_options));
    const torch::Tensor residual =
        reference.residuals.at(block).narrow(1, 1, length - 1).reshape({-1, sae->options().d_in()});
    const torch::Tensor unit = residual / residual.norm(2, -1, true).clamp_min(1e-12);
    const lm::TopKCodes codes = sae->Encode(unit);

    for (const char* set : kSets) {
      lm::LlamaForwardOptions options;
      if (std::string(set) != "none") {
        // Codes of features outside the set are zeroed, then decoded without b_pre.
        const torch::Tensor keep = masks.at(set).index({codes.indices.reshape({-1})}).reshape(codes.indices.sizes());
        const lm::TopKCodes kept{codes.values * keep.to(codes.values.dtype()) * p.scale, codes.indices};
        const torch::Tensor steering =
            (sae->Decode(kept) - sae->b_pre).to(torch::kFloat32).reshape({count, length - 1, -1});
        options.edit_residual_after = block;
        options.edit_residual = [steering](const torch::Tensor& r) {
          torch::Tensor edited = r.clone();
          torch::Tensor tail = edited.narrow(1, 1, r.size(1) - 1);
          tail.add_(tail.norm(2, -1, true) * steering.to(r.dtype()));
          return edited;
        };
      }
      EXPSVC_ASSIGN_OR_RETURN(const lm::LlamaForwardOutput output, target->Forward(tokens, options));
      const torch::Tensor logits = output.logits.narrow(1, 0, length - 1);
      const torch::Tensor targets = tokens.narrow(1, 1, length - 1);
      const torch::Tensor losses =
          torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}),
                                               torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
              .reshape({count, length - 1})
              .sum(1)
              .to(torch::kCPU, torch::kDouble);
      for (int64_t w = 0; w < count; ++w) {
        auto& [sum, tokens_counted] = totals[{set, languages[static_cast<size_t>(w)]}];
        sum += losses[w].item<double>();
        tokens_counted += length - 1;
      }
    }
  }
  std::string line = absl::StrFormat("layer %d, SAE of step %d steering step %d over %d test windows:", p.layer,
                                     trained_folder.step, target_folder.step, windows);
  for (const char* set : kSets) {
    for (lm::Language language : {lm::Language::kEnglish, lm::Language::kJapanese}) {
      auto it = totals.find({set, language});
      if (it == totals.end() || it->second.second == 0) continue;
      const double perplexity = std::exp(it->second.first / static_cast<double>(it->second.second));
      context.ReportMetric(absl::StrCat("ppl_", lm::LanguageCode(language), "_", set), 0, perplexity);
      absl::StrAppend(&line, absl::StrFormat(" %s/%s %.2f", set, lm::LanguageCode(language), perplexity));
    }
  }
  context.Log(line);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunIntervene(JobContext& context) {
  return RunAtTorchEdge("intervene", [&] { return Intervene(context); });
}

}  // namespace expsvc::worker
