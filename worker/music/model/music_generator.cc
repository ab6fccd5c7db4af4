#include "worker/music/model/music_generator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/splitmix64.h"
#include "common/status_macros.h"
#include "worker/music/data/event_tokens.h"
#include "worker/music/data/note_tokens.h"

namespace expsvc::music {
namespace {

std::vector<double> ToDoubles(const torch::Tensor& row) {
  const torch::Tensor values = row.to(torch::kCPU, torch::kDouble).contiguous();
  return std::vector<double>(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
}

// The model run, with or without the cache; returns per field the logits of
// the last position.
class NextTokenModel {
 public:
  NextTokenModel(MusicTransformer& model, bool use_cache) : model_(model), use_cache_(use_cache) {}

  // Adds tokens (token-major, fields_per_token values each) with their
  // metadata; returns the logits after the last one.
  std::vector<std::vector<double>> Feed(std::span<const int32_t> tokens, std::span<const int32_t> times,
                                        std::span<const int32_t> pitches, std::span<const uint8_t> has_pitch) {
    const int64_t fields = static_cast<int64_t>(model_->vocab_sizes().size());
    const int64_t n = static_cast<int64_t>(times.size());
    const torch::Device device = model_->parameters().front().device();
    const auto longs = [&](auto values) {
      std::vector<int64_t> converted(values.begin(), values.end());
      return torch::tensor(converted, torch::kLong);
    };
    torch::Tensor new_tokens = longs(tokens).view({1, n, fields}).to(device);
    torch::Tensor new_times = longs(times).view({1, n}).to(device);
    torch::Tensor new_pitches = longs(pitches).view({1, n}).to(device);
    torch::Tensor new_has_pitch = longs(has_pitch).view({1, n}).to(torch::kBool).to(device);
    std::vector<torch::Tensor> logits;
    if (use_cache_) {
      logits = model_->ForwardCached(new_tokens, new_times, new_pitches, new_has_pitch, state_);
    } else {
      const auto append = [](torch::Tensor& all, const torch::Tensor& added) {
        all = all.defined() ? torch::cat({all, added}, 1) : added;
      };
      append(all_tokens_, new_tokens);
      append(all_times_, new_times);
      append(all_pitches_, new_pitches);
      append(all_has_pitch_, new_has_pitch);
      logits = model_->forward(all_tokens_, all_times_, all_pitches_, all_has_pitch_);
    }
    std::vector<std::vector<double>> last;
    for (const torch::Tensor& field : logits) last.push_back(ToDoubles(field[0][field.size(1) - 1]));
    return last;
  }

 private:
  MusicTransformer& model_;
  bool use_cache_;
  MusicDecodeState state_;
  torch::Tensor all_tokens_, all_times_, all_pitches_, all_has_pitch_;
};

// Restores the module's training flag when the generator returns.
class EvalModeScope {
 public:
  explicit EvalModeScope(MusicTransformer& model) : model_(model), was_training_(model->is_training()) {
    model_->eval();
  }
  ~EvalModeScope() { model_->train(was_training_); }

 private:
  MusicTransformer& model_;
  bool was_training_;
};

struct Step {
  std::vector<int32_t> token;  // fields_per_token values
  bool stop = false;           // the model chose to end (token not kept)
};

absl::Status CheckPrompt(const TokenSequence& prompt, Representation representation, int32_t window_bars) {
  const int32_t fields = representation == Representation::kNoteBased ? kNoteFieldCount : 1;
  if (prompt.fields_per_token != fields || prompt.length() == 0 ||
      prompt.tokens.size() != prompt.length() * static_cast<size_t>(fields)) {
    return absl::InvalidArgumentError(absl::StrCat("the prompt is not a ", RepresentationName(representation),
                                                   "-based sequence of the model's representation"));
  }
  absl::Status valid = representation == Representation::kNoteBased
                           ? ValidateNoteSequence(prompt.tokens, window_bars, /*require_complete=*/false)
                           : ValidateEventSequence(prompt.tokens, window_bars, /*require_complete=*/false);
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat("invalid prompt: ", valid.message()));
  const bool ends_with_eos = representation == Representation::kNoteBased
                                 ? prompt.tokens[(prompt.length() - 1) * fields] == kNoteTypeEos
                                 : prompt.tokens.back() == kEventEos;
  if (ends_with_eos) return absl::InvalidArgumentError("the prompt already ends with EOS");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> SampleIndex(std::span<const double> logits, std::span<const uint8_t> allowed,
                                    const SamplingOptions& options, double uniform) {
  if (logits.size() != allowed.size()) return absl::InternalError("mask and logits differ in size");
  std::vector<int64_t> candidates;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (allowed[i] != 0 && std::isfinite(logits[i])) candidates.push_back(static_cast<int64_t>(i));
  }
  if (candidates.empty()) return absl::InternalError("the grammar allows no next value");
  // Most likely first; ties by index, so the order is deterministic.
  std::stable_sort(candidates.begin(), candidates.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  if (options.temperature <= 0) return candidates.front();
  if (options.top_k > 0 && static_cast<int64_t>(candidates.size()) > options.top_k) {
    candidates.resize(static_cast<size_t>(options.top_k));
  }
  std::vector<double> weights;
  const double top = logits[candidates.front()];
  double sum = 0;
  for (int64_t c : candidates) {
    weights.push_back(std::exp((logits[c] - top) / options.temperature));
    sum += weights.back();
  }
  if (options.top_p < 1.0) {
    double mass = 0;
    size_t keep = 0;
    while (keep < weights.size() && mass < options.top_p * sum) mass += weights[keep++];
    keep = std::max<size_t>(keep, 1);
    candidates.resize(keep);
    weights.resize(keep);
    sum = mass;
  }
  double target = uniform * sum;
  for (size_t i = 0; i < candidates.size(); ++i) {
    target -= weights[i];
    if (target < 0) return candidates[i];
  }
  return candidates.back();
}

absl::StatusOr<TokenSequence> PromptFromBars(std::span<const Bar> bars, int32_t prompt_bars, int32_t window_bars,
                                             Representation representation, EventPitchRule event_pitch_rule) {
  if (prompt_bars < 1 || prompt_bars > static_cast<int32_t>(bars.size()) || prompt_bars > window_bars) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt_bars must be in 1..", std::min<int64_t>(bars.size(), window_bars), ", got ", prompt_bars));
  }
  const std::span<const Bar> head = bars.subspan(0, static_cast<size_t>(prompt_bars));
  TokenSequence sequence;
  if (representation == Representation::kNoteBased) {
    EXPSVC_ASSIGN_OR_RETURN(sequence, TokenizeNoteBased(head));
  } else {
    EXPSVC_ASSIGN_OR_RETURN(sequence, TokenizeEventBased(head, event_pitch_rule));
  }
  // Drop EOS; the remaining tokens' T/P are causal, so they are the same
  // as in a window of window_bars bars.
  sequence.tokens.resize(sequence.tokens.size() - static_cast<size_t>(sequence.fields_per_token));
  sequence.times.pop_back();
  sequence.pitches.pop_back();
  sequence.has_pitch.pop_back();
  return sequence;
}

absl::StatusOr<GenerationResult> GenerateContinuation(MusicTransformer& model, const TokenSequence& prompt,
                                                      const GenerationOptions& options) {
  const Representation representation = model->options().representation();
  const bool note_based = representation == Representation::kNoteBased;
  const int32_t window_bars = options.window_bars;
  if (window_bars < 1 || window_bars > kMaxWindowBars) {
    return absl::InvalidArgumentError(absl::StrCat("window_bars must be in 1..", kMaxWindowBars));
  }
  if (options.start_bar < 0 || options.start_bar >= options.end_bar) {
    return absl::InvalidArgumentError(absl::StrCat("start_bar (", options.start_bar, ") must be in 0..end_bar−1"));
  }
  if (options.end_bar < 1 || options.end_bar > window_bars) {
    return absl::InvalidArgumentError(absl::StrCat("end_bar must be in 1..window_bars (", window_bars, ")"));
  }
  if (options.sampling.top_p <= 0 || options.sampling.top_p > 1 || options.sampling.top_k < 0 ||
      !std::isfinite(options.sampling.temperature) || options.sampling.temperature < 0) {
    return absl::InvalidArgumentError("sampling needs temperature >= 0, top_k >= 0 and top_p in (0, 1]");
  }
  EXPSVC_RETURN_IF_ERROR(CheckPrompt(prompt, representation, window_bars));

  GenerationResult result;
  result.sequence = prompt;
  result.prompt_tokens = static_cast<int64_t>(prompt.length());
  const int32_t fields = prompt.fields_per_token;
  try {
    EvalModeScope eval_mode(model);
    torch::NoGradGuard no_grad;
    NextTokenModel next(model, options.use_cache);
    // SplitMix64: a seed names one piece on every platform.
    SplitMix64 random(options.sampling.seed);
    EventGrammar event_grammar(window_bars);
    NoteGrammar note_grammar(window_bars);
    for (size_t t = 0; t < prompt.length(); ++t) {
      const std::span<const int32_t> token(prompt.tokens.data() + t * fields, static_cast<size_t>(fields));
      EXPSVC_RETURN_IF_ERROR(note_based ? note_grammar.Accept(token) : event_grammar.Accept(token[0]));
    }
    // The current bar of an event sequence (the last Bar token's value).
    int32_t event_bar = -1;
    // The bar of the last note of a note-based sequence.
    int32_t note_bar = -1;
    if (!note_based) {
      for (int32_t token : prompt.tokens) {
        if (EventKindOf(token) == EventKind::kBar) event_bar = EventValueOf(token);
      }
    } else {
      for (size_t t = 0; t < prompt.length(); ++t) {
        const int32_t* token = prompt.tokens.data() + t * fields;
        if (token[kNoteTypeField] == kNoteTypeNote) note_bar = token[kNoteBarField];
      }
    }
    std::vector<std::vector<double>> logits = next.Feed(prompt.tokens, prompt.times, prompt.pitches, prompt.has_pitch);

    // Chooses the next token from `logits` under the grammar.
    const auto choose = [&]() -> absl::StatusOr<Step> {
      Step step;
      if (!note_based) {
        std::vector<uint8_t> allowed = event_grammar.AllowedNext();
        for (int32_t bar = options.end_bar; bar < window_bars; ++bar) {
          if (!options.allow_stop) allowed[EventTokenId(EventKind::kBar, bar)] = 0;
        }
        if (!options.allow_stop) allowed[kEventEos] = 0;
        if (event_bar < options.start_bar) {
          for (int32_t position = 0; position < kPositionsPerBar; ++position) {
            allowed[EventTokenId(EventKind::kPosition, position)] = 0;
          }
          for (int32_t bar = 0; bar < options.start_bar; ++bar) allowed[EventTokenId(EventKind::kBar, bar)] = 0;
        }
        EXPSVC_ASSIGN_OR_RETURN(int64_t id, SampleIndex(logits[0], allowed, options.sampling, random.UniformDouble()));
        const int32_t token = static_cast<int32_t>(id);
        if (EventKindOf(token) == EventKind::kBar && EventValueOf(token) >= options.end_bar) step.stop = true;
        step.token = {token};
        return step;
      }
      for (int32_t field = 0; field < kNoteFieldCount; ++field) {
        std::vector<uint8_t> allowed = note_grammar.AllowedValues(field, step.token);
        if (!options.allow_stop) {
          if (field == kNoteTypeField) allowed[kNoteTypeEos] = 0;
          if (field == kNoteBarField) {
            for (int32_t bar = options.end_bar; bar < window_bars; ++bar) allowed[bar] = 0;
          }
        }
        if (field == kNoteBarField) {
          for (int32_t bar = 0; bar < options.start_bar; ++bar) allowed[bar] = 0;
        }
        EXPSVC_ASSIGN_OR_RETURN(int64_t value,
                                SampleIndex(logits[field], allowed, options.sampling, random.UniformDouble()));
        step.token.push_back(static_cast<int32_t>(value));
        if (field == kNoteTypeField && value == kNoteTypeEos) {
          step.token.resize(kNoteFieldCount, 0);
          return step;
        }
        if (field == kNoteBarField && value >= options.end_bar) {
          step.stop = true;
          step.token.resize(kNoteFieldCount, 0);
          return step;
        }
      }
      return step;
    };

    result.stop_reason = "max_new_tokens";
    while (result.generated_tokens < options.max_new_tokens) {
      if (options.max_total_tokens > 0 && static_cast<int64_t>(result.sequence.length()) >= options.max_total_tokens) {
        result.stop_reason = "context_full";
        break;
      }
      EXPSVC_ASSIGN_OR_RETURN(Step step, choose());
      if (step.stop) {
        result.stop_reason = "end_bar";
        break;
      }
      EXPSVC_RETURN_IF_ERROR(note_based ? note_grammar.Accept(step.token) : event_grammar.Accept(step.token[0]));
      if (!note_based && EventKindOf(step.token[0]) == EventKind::kBar) event_bar = EventValueOf(step.token[0]);
      if (note_based && step.token[kNoteTypeField] == kNoteTypeNote) note_bar = step.token[kNoteBarField];
      TokenSequence& sequence = result.sequence;
      sequence.tokens.insert(sequence.tokens.end(), step.token.begin(), step.token.end());
      const TokenAttributes attributes = note_based ? ComputeNoteAttributes(sequence.tokens, window_bars)
                                                    : ComputeEventAttributes(sequence.tokens, window_bars, options.event_pitch_rule);
      sequence.times.push_back(attributes.times.back());
      sequence.pitches.push_back(attributes.pitches.back());
      sequence.has_pitch.push_back(attributes.has_pitch.back());
      ++result.generated_tokens;
      const bool is_note =
          note_based ? step.token[0] == kNoteTypeNote : EventKindOf(step.token[0]) == EventKind::kPitch;
      result.generated_notes += is_note;
      const bool finished = note_based ? note_grammar.finished() : event_grammar.finished();
      if (finished) {
        result.stop_reason = "eos";
        break;
      }
      if (result.generated_tokens < options.max_new_tokens) {
        const size_t last = sequence.length() - 1;
        logits = next.Feed(
            std::span<const int32_t>(sequence.tokens.data() + last * fields, static_cast<size_t>(fields)),
            std::span<const int32_t>(&sequence.times[last], 1), std::span<const int32_t>(&sequence.pitches[last], 1),
            std::span<const uint8_t>(&sequence.has_pitch[last], 1));
      }
    }
    result.last_bar = note_based ? note_bar : event_bar;
  } catch (const c10::Error& error) {
    return absl::InternalError(absl::StrCat("generation: ", error.what_without_backtrace()));
  }
  if (note_based) {
    EXPSVC_ASSIGN_OR_RETURN(result.bars, DetokenizeNoteBased(result.sequence.tokens, window_bars));
  } else {
    EXPSVC_ASSIGN_OR_RETURN(result.bars, DetokenizeEventBased(result.sequence.tokens, window_bars));
  }
  return result;
}

}  // namespace expsvc::music
