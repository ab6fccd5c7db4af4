#pragma once
// Sampling music from a trained MusicTransformer: continue a prompt token by
// token with temperature, top-k and nucleus (top-p) sampling, keeping the
// token grammar valid at every step (event-based: the grammar's allowed
// next ids; note-based: each field's allowed values given the fields chosen
// before it), with the key/value cache or, for comparison, by re-running the
// whole sequence at every step.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "worker/music/data/event_tokens.h"
#include "worker/music/data/music_grid.h"
#include "worker/music/data/token_sequence.h"
#include "worker/music/model/music_transformer.h"

namespace expsvc::music {

struct SamplingOptions {
  // Logits are divided by it; 0 picks the most likely allowed value.
  double temperature = 1.0;
  // Keep only the k most likely allowed values; 0 = all.
  int64_t top_k = 0;
  // Keep the smallest set of most likely values whose mass reaches p; 1 = all.
  double top_p = 1.0;
  uint64_t seed = 1;
};

struct GenerationOptions {
  SamplingOptions sampling;
  // Bars of the window the grammar allows (bar values 0 .. window_bars−1).
  int32_t window_bars = 16;
  // Generated notes go in bars >= start_bar (e.g. the prompt's length in
  // bars, so the prompt's last bar is not extended).
  int32_t start_bar = 0;
  // Generation stops when the model moves to a bar >= end_bar (that token is
  // not kept) or emits EOS.
  int32_t end_bar = 16;
  int64_t max_new_tokens = 4096;
  // Stop when the sequence reaches this many tokens (the model's context);
  // 0 = no limit.
  int64_t max_total_tokens = 0;
  // false: EOS and the end-of-range bar moves are masked out, so exactly
  // max_new_tokens tokens are generated (benchmarks).
  bool allow_stop = true;
  bool use_cache = true;
  // How event tokens get their pitch attribute: the model's training rule.
  EventPitchRule event_pitch_rule = EventPitchRule::kCausal;
};

struct GenerationResult {
  TokenSequence sequence;  // the prompt followed by the generated tokens
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t generated_notes = 0;
  // "eos", "end_bar", "max_new_tokens" or "context_full".
  std::string stop_reason;
  // The bar the sequence was in when generation stopped (the last Bar token
  // of an event sequence, the last note's bar of a note-based one); -1: none.
  int32_t last_bar = -1;
  // The whole sequence detokenised: window_bars bars.
  std::vector<Bar> bars;
};

// `prompt` must be a valid, unfinished sequence of `model`'s representation
// (BOS first, no EOS) for a window of options.window_bars bars. The model is
// switched to eval mode for the call and back afterwards.
absl::StatusOr<GenerationResult> GenerateContinuation(MusicTransformer& model, const TokenSequence& prompt,
                                                      const GenerationOptions& options);

// The prompt for continuing `bars` after its first `prompt_bars` bars: the
// tokens of those bars in a window of window_bars bars, without EOS.
absl::StatusOr<TokenSequence> PromptFromBars(std::span<const Bar> bars, int32_t prompt_bars, int32_t window_bars,
                                             Representation representation,
                                             EventPitchRule event_pitch_rule = EventPitchRule::kCausal);

// One draw from the allowed entries of `logits` (allowed[i] != 0) under
// `options`; `uniform` is a number in [0, 1). Exposed for tests.
absl::StatusOr<int64_t> SampleIndex(std::span<const double> logits, std::span<const uint8_t> allowed,
                                    const SamplingOptions& options, double uniform);

}  // namespace expsvc::music
