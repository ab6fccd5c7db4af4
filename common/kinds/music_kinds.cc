#include "common/kinds/music_kinds.h"

#include "common/kinds/kind_definition.h"

namespace expsvc::kinds {
namespace {

template <typename P>
void AddSamplingParams(KindDefinition<P>& d) {
  d.Double("temperature", &P::temperature, "Sampling temperature; 0 picks the most likely token.", {0, 100})
      .Int("top_k", &P::top_k, "Sample among the k most likely values; 0 = no limit.", {0, {}})
      .Double("top_p", &P::top_p, "Nucleus sampling mass; 1 = off.", {0.001, 1})
      .Int("seed", &P::seed, "Sampling seed.", {0, {}})
      .Int("context_tokens", &P::context_tokens,
           "Model context for prompts (whole bars are dropped from the start to fit); 0 means the training max_len.",
           {0, {}})
      .OptionalString("representation", &P::representation, "Label; when set it must match the parent model.",
                      RepresentationNames())
      .OptionalString("attention", &P::attention, "Label; when set it must match the parent model.",
                      AttentionVariantNames())
      .OptionalString("event_pitch_rule", &P::event_pitch_rule, "Label; when set it must match the parent model.",
                      {"causal", "previous_note"})
      .OptionalDouble("data_fraction", &P::data_fraction, "Label (to match a data-size sweep's axis); not used.",
                      {0, 1})
      .String("data_dir", &P::data_dir, "Folder holding POP909/; empty means the training job's.");
  AddTorchDeviceParams(d);
}

const KindDefinition<TrainMusicParams>& TrainMusic() {
  using P = TrainMusicParams;
  static const auto* const definition = [] {
    auto* d = new KindDefinition<P>(
        "train_music",
        "Trains a 4-layer decoder-only Transformer on POP909 windows (Study 1) with one of five attention "
        "variants; logs train/valid loss, reports parameters and ms per note, keeps the best checkpoint.");
    d->Choice("representation", &P::representation, RepresentationNames(), "Note-based 6-tuples or event-based tokens.")
        .Choice("attention", &P::attention, AttentionVariantNames(), "Attention variant.")
        .Int("d_model", &P::d_model, "Model width.", {8, 8192})
        .Int("n_layers", &P::n_layers, "Decoder blocks.", {1, 64})
        .Int("n_heads", &P::n_heads, "Attention heads (must divide d_model).", {1, 128})
        .Int("d_ff", &P::d_ff, "Feed-forward width.", {8, 65536})
        .Double("dropout", &P::dropout, "Dropout.", {0, 0.9})
        .Int("max_len", &P::max_len,
             "Tokens per sequence (and the RelAttn distance table). 0 means the longest window of the data, so none "
             "is cut; a longer window is cut to its first max_len tokens, and the share cut is reported "
             "(truncated_window_fraction).",
             {0, 8192})
        .Int("batch_size", &P::batch_size, "Sequences per step.", {1, 4096})
        .Double("lr", &P::lr, "Peak learning rate (Adam).", {0, 1})
        .Choice("lr_schedule", &P::lr_schedule, {"constant", "cosine", "inverse_sqrt"},
                "After linear warm-up: constant, cosine decay to 10%, or inverse square root.")
        .Int("warmup_steps", &P::warmup_steps, "Linear warm-up steps.", {0, {}})
        .Int("steps", &P::steps, "Optimizer steps; 0 means use epochs.", {0, {}})
        .Double("epochs", &P::epochs, "Passes over the training windows when steps is 0.", {0, {}})
        .Int("eval_every", &P::eval_every, "Validation every N steps (and at the end).", {1, {}})
        .Int("eval_windows", &P::eval_windows, "Validation/test windows evaluated; 0 means all.", {0, {}})
        .Int("checkpoint_every", &P::checkpoint_every, "Checkpoint (for resumption) every N steps.", {1, {}})
        .Double("data_fraction", &P::data_fraction, "Share of the training songs (1, 0.5, 0.25, 0.125).", {0.001, 1})
        .Int("max_songs", &P::max_songs, "Use only the first N songs (0 = all); for quick runs.", {0, {}})
        .Int("max_notes_per_window", &P::max_notes_per_window, "Drop windows with more notes (0 = keep all).", {0, {}})
        .Int("window_bars", &P::window_bars, "Bars per window.", {1, 16})
        .Choice("event_pitch_rule", &P::event_pitch_rule, {"causal", "previous_note"},
                "Event-based: which pitch Position and Track tokens carry for the relative-pitch terms. causal: none "
                "(the note's pitch comes two tokens later); previous_note: the previous note's pitch. Both leak "
                "nothing.")
        .Int("split_seed", &P::split_seed, "Seed of the 8:1:1 song split.", {0, {}})
        .Int("seed", &P::seed, "Seed of initialisation and batch order.", {0, {}})
        .Choice("precision", &P::precision, {"float32", "bfloat16"},
                "Training steps' arithmetic. bfloat16: mixed precision (autocast), the matrix products in bf16 while "
                "weights, optimizer and loss stay float32; meant for GPUs (on a CPU it runs, slowly). Validation and "
                "test losses are always computed in float32.")
        .Choice("attention_kernel", &P::attention_kernel, {"fused", "flash"},
                "How training computes attention (same values). fused: the L×L logits, with the relative terms added "
                "in one hand-written pass; flash: a FlashAttention-style kernel that never stores an L×L tensor "
                "(memory linear in max_len; meant for GPUs, and needs d_model / n_heads of 8, 16, 32, 64 or 128).")
        .String("data_dir", &P::data_dir, "Folder holding POP909/; empty means $EXPSVC_DATA_DIR.");
    AddTorchDeviceParams(*d);
    return d;
  }();
  return *definition;
}

const KindDefinition<EvaluateMusicParams>& EvaluateMusic() {
  using P = EvaluateMusicParams;
  static const auto* const definition = [] {
    auto* d = new KindDefinition<P>(
        "evaluate_music",
        "Objective next-bar evaluation of the parent train_music job's best model on the test split (Study 1): "
        "loss, note/pianoroll F1, grooving, chroma and pitch-range similarity, and bar-level self-similarity of "
        "generated continuations.");
    d->Int("windows", &P::windows, "Test windows evaluated (a seeded sample); 0 means all.", {0, {}})
        .Int("sample_seed", &P::sample_seed, "Seed of the window sample.", {0, {}})
        .Int("prompt_bars", &P::prompt_bars,
             "Bars given before the generated one; 0 means all but the last bar of the window (15 of 16).", {0, 15})
        .Int("continuations", &P::continuations, "Pieces generated for the self-similarity metrics.", {0, 1000})
        .Int("continuation_prompt_bars", &P::continuation_prompt_bars, "Bars given before those pieces.", {1, 15})
        .Int("batch_size", &P::batch_size, "Windows per batch for the loss.", {1, 4096});
    AddSamplingParams(*d);
    return d;
  }();
  return *definition;
}

const KindDefinition<GenerateMusicParams>& GenerateMusic() {
  using P = GenerateMusicParams;
  static const auto* const definition = [] {
    auto* d = new KindDefinition<P>(
        "generate_music",
        "Continues test windows with the parent train_music job's best model (Study 1) and stores the pieces as "
        "MIDI and token files.");
    d->Int("pieces", &P::pieces, "Test windows continued (a seeded sample).", {1, 10000})
        .Int("sample_seed", &P::sample_seed, "Seed of the window sample.", {0, {}})
        .Int("prompt_bars", &P::prompt_bars, "Bars of the window given as the prompt.", {1, 15})
        .Int("generate_bars", &P::generate_bars, "Bars generated after the prompt.", {1, 15})
        .Int("max_new_tokens", &P::max_new_tokens, "Most tokens generated per piece.", {1, 100000});
    AddSamplingParams(*d);
    return d;
  }();
  return *definition;
}

}  // namespace

const std::vector<std::string>& AttentionVariantNames() {
  static const auto* const names =
      new std::vector<std::string>{"Attn", "RelAttn", "RIPOAttn", "CirRelAttn-S", "CirRelAttn-H"};
  return *names;
}

const std::vector<std::string>& RepresentationNames() {
  static const auto* const names = new std::vector<std::string>{"note", "event"};
  return *names;
}

const JobKindSpec& TrainMusicParams::Spec() {
  return TrainMusic().spec();
}
absl::StatusOr<TrainMusicParams> TrainMusicParams::FromJson(const nlohmann::json& params) {
  return TrainMusic().Parse(params);
}

const JobKindSpec& EvaluateMusicParams::Spec() {
  return EvaluateMusic().spec();
}
absl::StatusOr<EvaluateMusicParams> EvaluateMusicParams::FromJson(const nlohmann::json& params) {
  return EvaluateMusic().Parse(params);
}

const JobKindSpec& GenerateMusicParams::Spec() {
  return GenerateMusic().spec();
}
absl::StatusOr<GenerateMusicParams> GenerateMusicParams::FromJson(const nlohmann::json& params) {
  return GenerateMusic().Parse(params);
}

}  // namespace expsvc::kinds
