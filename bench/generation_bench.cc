// Generation benchmark: notes per second of 12-bar continuations with the
// key/value cache against re-running the whole sequence at every step (the
// baseline, measured in the same run), for Attn and CirRelAttn-H, note- and
// event-based. Random weights: the token count is fixed (stops masked), so
// both paths do the same work per token. Last line: key=value pairs.
//
//   generation_bench [--notes-per-bar N] [--d-model D] [--repeats R]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/music/data/synthetic_songs.h"
#include "worker/music/model/music_generator.h"
#include "worker/music/model/music_transformer.h"
#include "worker/runtime/heap_policy.h"

namespace {

using namespace expsvc::music;

struct Timing {
  double seconds = 0;
  int64_t notes = 0;
  int64_t tokens = 0;
  double notes_per_second() const { return seconds > 0 ? notes / seconds : 0; }
};

Timing TimeGeneration(MusicTransformer& model, const TokenSequence& prompt, int64_t new_tokens, bool use_cache,
                      int repeats) {
  GenerationOptions options;
  options.allow_stop = false;
  options.max_new_tokens = new_tokens;
  options.use_cache = use_cache;
  Timing timing;
  for (int r = 0; r < repeats; ++r) {
    options.sampling.seed = static_cast<uint64_t>(r + 1);
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<GenerationResult> result = GenerateContinuation(model, prompt, options);
    timing.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!result.ok()) {
      std::fprintf(stderr, "generation failed: %s\n", std::string(result.status().message()).c_str());
      std::exit(1);
    }
    timing.notes += result->generated_notes;
    timing.tokens += result->generated_tokens;
  }
  return timing;
}

}  // namespace

int main(int argc, char** argv) {
  // The worker's allocator policy, so the times are the ones its jobs see.
  const bool heap_policy = expsvc::worker::KeepLargeAllocationsInHeap();
  std::printf("allocator: %s\n", expsvc::worker::HeapPolicyDescription(heap_policy));
  // Up to 40 notes per bar: about 20 on average, as in POP909 (1,533,438 notes in 74,919 bars).
  int notes_per_bar = 40;
  int64_t d_model = 256;
  int repeats = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--notes-per-bar") == 0) notes_per_bar = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--d-model") == 0) d_model = std::atoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--repeats") == 0) repeats = std::atoi(argv[i + 1]);
  }
  torch::NoGradGuard no_grad;
  std::printf(
      "12-bar continuation after a 4-bar prompt (synthetic song, up to %d notes per bar); 4 layers, d_model %lld, 8 "
      "heads; %d threads\n",
      notes_per_bar, static_cast<long long>(d_model), torch::get_num_threads());
  std::printf("%-6s %-13s %8s %8s %14s %14s %8s\n", "repr", "attention", "tokens", "notes", "cached notes/s",
              "no-cache n/s", "speedup");
  std::string key_values;
  double worst = 1e300;
  for (Representation representation : {Representation::kNoteBased, Representation::kEventBased}) {
    // A 16-bar synthetic song; its first 4 bars are the prompt and the
    // length of its last 12 bars (in tokens) is what we generate.
    const std::vector<Bar> song = RandomBars(16, 7, notes_per_bar);
    absl::StatusOr<TokenSequence> prompt = PromptFromBars(song, 4, 16, representation);
    absl::StatusOr<TokenSequence> whole = PromptFromBars(song, 16, 16, representation);
    if (!prompt.ok() || !whole.ok()) {
      std::fprintf(stderr, "prompt: %s\n", std::string(prompt.status().message()).c_str());
      return 1;
    }
    const int64_t new_tokens = static_cast<int64_t>(whole->length() - prompt->length());
    for (AttentionKind kind : {AttentionKind::kAttn, AttentionKind::kCirRelAttnH}) {
      torch::manual_seed(1);
      MusicTransformer model(MusicTransformerOptions()
                                 .representation(representation)
                                 .attention(kind)
                                 .d_model(d_model)
                                 .n_layers(4)
                                 .n_heads(8)
                                 .d_ff(4 * d_model)
                                 .max_len(2048));
      TimeGeneration(model, *prompt, 8, true, 1);  // warm-up
      const Timing cached = TimeGeneration(model, *prompt, new_tokens, true, repeats);
      const Timing uncached = TimeGeneration(model, *prompt, new_tokens, false, repeats);
      const double speedup = uncached.seconds / cached.seconds;
      worst = std::min(worst, speedup);
      std::printf("%-6s %-13s %8lld %8lld %14.1f %14.1f %7.2fx\n", RepresentationName(representation),
                  AttentionKindName(kind).c_str(), static_cast<long long>(cached.tokens / repeats),
                  static_cast<long long>(cached.notes / repeats), cached.notes_per_second(),
                  uncached.notes_per_second(), speedup);
      std::fflush(stdout);
      std::string name = absl::StrCat(RepresentationName(representation), "_", AttentionKindName(kind));
      for (char& c : name) c = c == '-' ? '_' : static_cast<char>(std::tolower(c));
      absl::StrAppend(&key_values, name, "_cached_notes_per_s=", static_cast<int64_t>(cached.notes_per_second()), " ",
                      name, "_uncached_notes_per_s=", static_cast<int64_t>(uncached.notes_per_second()), " ", name,
                      "_speedup=", absl::StrFormat("%.2f", speedup), " ");
    }
  }
  std::printf("%smin_speedup=%.2f target_speedup=5\n", key_values.c_str(), worst);
  return 0;
}
