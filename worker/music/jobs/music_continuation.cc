#include "worker/music/jobs/music_continuation.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace expsvc::worker {

absl::StatusOr<Continuation> ContinueWindow(music::MusicTransformer& model, const ContinuationRequest& request) {
  const int32_t window_bars = static_cast<int32_t>(request.window.size());
  if (request.prompt_bars < 1 || request.prompt_bars >= request.end_bar || request.end_bar > window_bars) {
    return absl::InvalidArgumentError(absl::StrCat("need 1 <= prompt_bars (", request.prompt_bars, ") < end_bar (",
                                                   request.end_bar, ") <= window bars (", window_bars, ")"));
  }
  const music::Representation representation = model->options().representation();
  int32_t dropped = 0;
  music::TokenSequence prompt;
  while (true) {
    const std::span<const music::Bar> kept = request.window.subspan(static_cast<size_t>(dropped));
    EXPSVC_ASSIGN_OR_RETURN(
        prompt, music::PromptFromBars(kept, request.prompt_bars - dropped, window_bars - dropped, representation,
                                     request.event_pitch_rule));
    const bool fits =
        request.max_prompt_tokens <= 0 || static_cast<int64_t>(prompt.length()) <= request.max_prompt_tokens;
    if (fits || dropped + 1 >= request.prompt_bars) break;
    ++dropped;
  }
  music::GenerationOptions options;
  options.sampling = request.sampling;
  options.window_bars = window_bars - dropped;
  options.start_bar = request.prompt_bars - dropped;
  options.end_bar = request.end_bar - dropped;
  options.max_new_tokens = request.max_new_tokens;
  options.max_total_tokens = request.max_total_tokens;
  options.use_cache = request.use_cache;
  options.event_pitch_rule = request.event_pitch_rule;
  Continuation continuation;
  continuation.dropped_bars = dropped;
  EXPSVC_ASSIGN_OR_RETURN(continuation.generation, music::GenerateContinuation(model, prompt, options));
  continuation.bars.assign(request.window.begin(), request.window.begin() + dropped);
  const std::vector<music::Bar>& generated = continuation.generation.bars;
  continuation.bars.insert(continuation.bars.end(), generated.begin(), generated.end());
  // The prompt bars come back from the tokens; keep the originals exactly
  // (durations were quantised to classes by the tokenizer).
  for (int32_t bar = 0; bar < request.prompt_bars; ++bar) continuation.bars[bar] = request.window[bar];
  const std::string& stop = continuation.generation.stop_reason;
  const int32_t last_bar = continuation.generation.last_bar + dropped;
  if (stop == "end_bar") {
    continuation.generated_end_bar = request.end_bar;
  } else if (stop == "eos") {
    continuation.generated_end_bar = std::max(request.prompt_bars, last_bar + 1);
  } else {
    continuation.generated_end_bar = std::max(request.prompt_bars, last_bar);
  }
  continuation.generated_end_bar = std::min(continuation.generated_end_bar, request.end_bar);
  return continuation;
}

}  // namespace expsvc::worker
