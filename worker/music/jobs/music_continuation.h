#pragma once
// Continuing a test window from its first bars: the shared step of
// evaluate_music (15 bars in, the 16th generated) and generate_music (4 bars
// in, 12 generated). When the prompt's tokens do not fit the model's
// context, whole bars are dropped from its start (bar indices re-based, so
// the model sees a shorter window) until they do; the dropped bars are put
// back in the result unchanged.

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/music/data/music_grid.h"
#include "worker/music/model/music_generator.h"
#include "worker/music/model/music_transformer.h"

namespace expsvc::worker {

struct ContinuationRequest {
  std::span<const music::Bar> window;  // the whole window (its bars after the prompt are the truth)
  int32_t prompt_bars = 4;
  // Bars [prompt_bars, end_bar) are generated.
  int32_t end_bar = 16;
  // At most this many prompt tokens (whole bars are dropped from the start
  // to fit); the generated tokens come on top.
  int64_t max_prompt_tokens = 0;  // 0 = no limit
  int64_t max_new_tokens = 4096;
  // Prompt + generated tokens stop here (the model's context: it was never
  // trained on longer sequences, and an undertrained model may otherwise
  // never end a piece); 0 = no limit.
  int64_t max_total_tokens = 0;
  music::SamplingOptions sampling;
  bool use_cache = true;
  // The trained model's rule (event-based models).
  music::EventPitchRule event_pitch_rule = music::EventPitchRule::kCausal;
};

struct Continuation {
  // window.size() bars: the prompt bars as given, then the generated ones
  // (bars at or after end_bar are empty).
  std::vector<music::Bar> bars;
  int32_t dropped_bars = 0;  // prompt bars the model did not see
  // Bars [0, generated_end_bar) are the prompt and whole generated bars: all
  // up to end_bar when generation got there; up to the last bar it entered
  // when it chose to end the piece (EOS); up to the bar before the one it was
  // in when the context or the token budget cut it off. Metrics of
  // structure are computed over these bars only.
  int32_t generated_end_bar = 0;
  music::GenerationResult generation;
};

absl::StatusOr<Continuation> ContinueWindow(music::MusicTransformer& model, const ContinuationRequest& request);

}  // namespace expsvc::worker
