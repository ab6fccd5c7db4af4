#include "common/kinds/sae_kinds.h"

#include "common/kinds/kind_definition.h"
#include "common/kinds/torch_device_params.h"

namespace expsvc::kinds {
namespace {

template <typename P>
void AddSaeSiteParams(KindDefinition<P>& d) {
  d.String("model", &P::model,
           "Model folder under the worker's EXPSVC_MODELS_DIR (e.g. llm-jp-3-150m); empty = the parent train_lm "
           "job's checkpoints.")
      .Int("checkpoint", &P::checkpoint, "LM training step (iter_NNNNNNN); 0 = the parent train_lm job's last.",
           {0, {}})
      .Int("layer", &P::layer, "Residual stream after block layer-1 (Hugging Face hidden_states[layer]), 1..L.",
           {1, 1024})
      .Int("batch_windows", &P::batch_windows, "Windows per LM forward pass (BOS + N tokens each).", {1, 65536});
  AddTorchDeviceParams(d);
}

const KindDefinition<TrainSaeParams>& TrainSae() {
  using P = TrainSaeParams;
  static const auto* const definition = [] {
    auto* d = new KindDefinition<P>(
        "train_sae",
        "Trains a TopK sparse autoencoder on one layer of one LM checkpoint (Study 2). A group kind: every "
        "member of a group (the layers of one model x checkpoint) is trained from one LM forward pass per batch.");
    AddSaeSiteParams(*d);
    d->Int("n_latents", &P::n_latents, "SAE latents (study: 32768).", {2, 1 << 24})
        .Int("k", &P::k, "Latents kept per token (study: 32).", {1, 4096})
        .Choice("dtype", &P::dtype, {"float32", "bfloat16"}, "Parameter dtype.")
        .Choice("encoder_precision", &P::encoder_precision, {"float32", "bfloat16"},
                "Dtype of the encoder product, the one dense matrix product (bfloat16: mixed precision, for "
                "GPUs; the rest of the step stays float32).")
        .Int("steps", &P::steps, "Optimizer steps; 0 = one pass over the training split.", {0, {}})
        .Int("max_windows", &P::max_windows,
             "Training windows used, spread evenly over the split (both languages); 0 = all.", {0, {}})
        .Double("lr", &P::lr, "Adam learning rate (constant after warm-up).", {0, 1})
        .Int("warmup_steps", &P::warmup_steps, "Linear warm-up steps.", {0, {}})
        .Int("dead_after_tokens", &P::dead_after_tokens, "A latent silent this many tokens counts as dead.", {1, {}})
        .Choice("file_layout", &P::file_layout, {"saelens", "sparsify"},
                "Layout of the SAE artifact: SAELens or EleutherAI sparsify.")
        .Int("resume_every", &P::resume_every, "Save a resume point every N steps (0 = only on shutdown).", {0, {}})
        .Int("seed", &P::seed, "Seed of initialisation and batch order.", {0, {}});
    return d;
  }();
  return *definition;
}

const KindDefinition<AnalyzeSaeParams>& AnalyzeSae() {
  using P = AnalyzeSaeParams;
  static const auto* const definition = [] {
    auto* d = new KindDefinition<P>(
        "analyze_sae",
        "Per-feature analysis of a trained SAE on the test split (Study 2): language class, monosemanticity, "
        "span length, dead features, top snippets. A group kind like train_sae.");
    AddSaeSiteParams(*d);
    d->Choice("language_rule", &P::language_rule, {"all_activations", "authors_max_token"},
              "all_activations: share of all activations >= threshold; authors_max_token: the authors' rule "
              "(max-activating token of up to 50 windows, strict >).")
        .Double("language_threshold", &P::language_threshold, "Share that makes a feature monolingual.", {0.5, 1})
        .Double("cluster_threshold", &P::cluster_threshold,
                "Cosine similarity of input embeddings that joins two tokens in one cluster.", {-1, 1})
        .Int("max_windows", &P::max_windows,
             "Test windows analysed, spread evenly over the split (both languages); 0 = all.", {0, {}})
        .Int("top_snippets", &P::top_snippets, "Top activating snippets kept per feature.", {0, 1000});
    return d;
  }();
  return *definition;
}

const KindDefinition<InterveneParams>& Intervene() {
  using P = InterveneParams;
  static const auto* const definition = [] {
    auto* d = new KindDefinition<P>(
        "intervene",
        "Adds the decoder directions of the trained model's English, Japanese or bilingual (Mixed) SAE features "
        "to the residual stream of a mid-training checkpoint at the same layer and reports perplexity per "
        "language against no intervention (Study 2).");
    AddSaeSiteParams(*d);
    d->Int("target_checkpoint", &P::target_checkpoint, "The mid-training checkpoint (step) that is steered.", {1, {}})
        .Double("scale", &P::scale, "Multiplier of each feature's activation.", {0, 1000})
        .Int("max_features", &P::max_features, "Features per set at most (most active first); 0 = all.", {0, {}})
        .Int("max_windows", &P::max_windows,
             "Test windows evaluated, spread evenly over the split (both languages); 0 = all.", {0, {}});
    return d;
  }();
  return *definition;
}

}  // namespace

const JobKindSpec& TrainSaeParams::Spec() {
  return TrainSae().spec();
}
absl::StatusOr<TrainSaeParams> TrainSaeParams::FromJson(const nlohmann::json& params) {
  return TrainSae().Parse(params);
}

const JobKindSpec& AnalyzeSaeParams::Spec() {
  return AnalyzeSae().spec();
}
absl::StatusOr<AnalyzeSaeParams> AnalyzeSaeParams::FromJson(const nlohmann::json& params) {
  return AnalyzeSae().Parse(params);
}

const JobKindSpec& InterveneParams::Spec() {
  return Intervene().spec();
}
absl::StatusOr<InterveneParams> InterveneParams::FromJson(const nlohmann::json& params) {
  return Intervene().Parse(params);
}

}  // namespace expsvc::kinds
