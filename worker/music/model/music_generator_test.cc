// Incremental decoding and sampling: the cached forward equals the full
// forward for every attention kind, generated sequences follow the grammar
// and become valid MIDI, and a seed names one output.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "worker/music/data/event_tokens.h"
#include "worker/music/data/grid_midi.h"
#include "worker/music/data/midi_file.h"
#include "worker/music/data/note_tokens.h"
#include "worker/music/data/synthetic_songs.h"
#include "worker/music/model/music_generator.h"
#include "worker/music/model/music_transformer.h"

namespace expsvc::music {
namespace {

MusicTransformerOptions GeneratorTestOptions(Representation representation, AttentionKind kind) {
  // max_len 16 and ±2 bars: the cached path must clamp index and bar
  // distances exactly as the full forward does.
  return MusicTransformerOptions()
      .representation(representation)
      .d_model(32)
      .n_layers(2)
      .n_heads(2)
      .d_ff(64)
      .dropout(0.0)
      .max_len(16)
      .max_relative_bars(2)
      .attention(kind);
}

std::string ParamName(const ::testing::TestParamInfo<std::tuple<Representation, AttentionKind>>& info) {
  std::string name =
      std::string(RepresentationName(std::get<0>(info.param))) + "_" + AttentionKindName(std::get<1>(info.param));
  std::erase(name, '-');
  return name;
}

class CachedDecodingTest : public ::testing::TestWithParam<std::tuple<Representation, AttentionKind>> {};

TEST_P(CachedDecodingTest, StepByStepLogitsEqualTheFullForward) {
  const auto [representation, kind] = GetParam();
  torch::manual_seed(11);
  MusicTransformer model(GeneratorTestOptions(representation, kind));
  model->to(torch::kDouble);
  model->eval();
  torch::NoGradGuard no_grad;
  constexpr int64_t kBatch = 2;
  constexpr int64_t kLength = 30;  // > max_len: clamped index distances
  std::vector<torch::Tensor> fields;
  for (int64_t size : FieldVocabSizes(representation)) {
    fields.push_back(torch::randint(0, size, {kBatch, kLength}, torch::kLong));
  }
  const torch::Tensor tokens = torch::stack(fields, -1);
  // Unsorted times over 8 bars (> ±2 bars), some tokens without pitch.
  const torch::Tensor times = torch::randint(0, 8 * kPositionsPerBar, {kBatch, kLength}, torch::kLong);
  const torch::Tensor pitches = torch::randint(0, kNumPitches, {kBatch, kLength}, torch::kLong);
  const torch::Tensor has_pitch = torch::rand({kBatch, kLength}) > 0.3;
  const std::vector<torch::Tensor> full = model->forward(tokens, times, pitches, has_pitch);

  MusicDecodeState state;
  constexpr int64_t kPrompt = 9;
  const auto slice = [](const torch::Tensor& t, int64_t from, int64_t count) { return t.narrow(1, from, count); };
  std::vector<torch::Tensor> prompt_logits =
      model->ForwardCached(slice(tokens, 0, kPrompt), slice(times, 0, kPrompt), slice(pitches, 0, kPrompt),
                           slice(has_pitch, 0, kPrompt), state);
  for (size_t f = 0; f < full.size(); ++f) {
    EXPECT_TRUE(torch::allclose(prompt_logits[f], slice(full[f], 0, kPrompt), 1e-9, 1e-9)) << "prompt, field " << f;
  }
  for (int64_t t = kPrompt; t < kLength; ++t) {
    std::vector<torch::Tensor> step = model->ForwardCached(slice(tokens, t, 1), slice(times, t, 1),
                                                           slice(pitches, t, 1), slice(has_pitch, t, 1), state);
    for (size_t f = 0; f < full.size(); ++f) {
      ASSERT_TRUE(torch::allclose(step[f], slice(full[f], t, 1), 1e-9, 1e-9))
          << "token " << t << ", field " << f << ": max |diff| "
          << (step[f] - slice(full[f], t, 1)).abs().max().item<double>();
    }
  }
  EXPECT_EQ(state.length(), kLength);
  EXPECT_EQ(state.layers.front().length(), kLength);
}

INSTANTIATE_TEST_SUITE_P(RepresentationsAndKinds, CachedDecodingTest,
                         ::testing::Combine(::testing::Values(Representation::kNoteBased, Representation::kEventBased),
                                            ::testing::ValuesIn(AllAttentionKinds())),
                         ParamName);

class GenerationTest : public ::testing::TestWithParam<std::tuple<Representation, AttentionKind>> {};

GenerationResult GenerateOrDie(MusicTransformer& model, const TokenSequence& prompt, GenerationOptions options) {
  absl::StatusOr<GenerationResult> result = GenerateContinuation(model, prompt, options);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : GenerationResult{};
}

TEST_P(GenerationTest, SequencesFollowTheGrammarBecomeMidiAndRepeatPerSeed) {
  const auto [representation, kind] = GetParam();
  torch::manual_seed(5);
  MusicTransformer model(GeneratorTestOptions(representation, kind).max_len(512).max_relative_bars(16));
  model->to(torch::kDouble);
  const std::vector<Bar> song = RandomBars(16, /*seed=*/3, /*max_notes_per_bar=*/4);
  absl::StatusOr<TokenSequence> prompt = PromptFromBars(song, 4, 16, representation);
  ASSERT_TRUE(prompt.ok()) << prompt.status();

  GenerationOptions options;
  options.sampling.temperature = 1.0;
  options.sampling.top_k = 20;
  options.sampling.top_p = 0.95;
  options.sampling.seed = 42;
  options.start_bar = 4;
  options.max_new_tokens = representation == Representation::kNoteBased ? 60 : 200;
  const GenerationResult first = GenerateOrDie(model, *prompt, options);
  EXPECT_GT(first.generated_tokens, 0);
  EXPECT_EQ(first.prompt_tokens, static_cast<int64_t>(prompt->length()));
  absl::Status valid = representation == Representation::kNoteBased
                           ? ValidateNoteSequence(first.sequence.tokens, 16, /*require_complete=*/false)
                           : ValidateEventSequence(first.sequence.tokens, 16, /*require_complete=*/false);
  EXPECT_TRUE(valid.ok()) << valid;
  ASSERT_EQ(first.bars.size(), 16u);
  // The prompt comes back as it was tokenised (durations quantised).
  absl::StatusOr<std::vector<Bar>> prompt_bars = representation == Representation::kNoteBased
                                                     ? DetokenizeNoteBased(prompt->tokens, 16)
                                                     : DetokenizeEventBased(prompt->tokens, 16);
  ASSERT_TRUE(prompt_bars.ok()) << prompt_bars.status();
  for (int bar = 0; bar < 4; ++bar) {
    EXPECT_EQ(first.bars[bar], (*prompt_bars)[bar]) << "prompt bar " << bar << " changed";
    EXPECT_EQ(first.bars[bar].notes.size(), song[bar].notes.size());
  }

  // Valid MIDI: written, read back, the same notes.
  const std::string path = ::testing::TempDir() + "/generated_" + ParamName({GetParam(), 0}) + ".mid";
  ASSERT_TRUE(WriteGridAsMidi(first.bars, path).ok());
  absl::StatusOr<MidiContents> contents = ReadMidiFile(path);
  ASSERT_TRUE(contents.ok()) << contents.status();
  absl::StatusOr<std::vector<Bar>> reread = GridFromMidi(*contents);
  ASSERT_TRUE(reread.ok()) << reread.status();
  EXPECT_EQ(CountNotes(*reread), CountNotes(first.bars));
  std::remove(path.c_str());

  // Same seed, same output; with and without the cache alike.
  const GenerationResult again = GenerateOrDie(model, *prompt, options);
  EXPECT_EQ(again.sequence, first.sequence);
  options.use_cache = false;
  const GenerationResult uncached = GenerateOrDie(model, *prompt, options);
  EXPECT_EQ(uncached.sequence, first.sequence);
  options.use_cache = true;
  options.sampling.seed = 43;
  const GenerationResult other = GenerateOrDie(model, *prompt, options);
  EXPECT_NE(other.sequence.tokens, first.sequence.tokens);
}

INSTANTIATE_TEST_SUITE_P(RepresentationsAndKinds, GenerationTest,
                         ::testing::Combine(::testing::Values(Representation::kNoteBased, Representation::kEventBased),
                                            ::testing::Values(AttentionKind::kAttn, AttentionKind::kRipoAttn,
                                                              AttentionKind::kCirRelAttnH)),
                         ParamName);

TEST(Generation, StopsAtTheEndBarAndKeepsLaterBarsEmpty) {
  for (Representation representation : {Representation::kNoteBased, Representation::kEventBased}) {
    torch::manual_seed(8);
    MusicTransformer model(GeneratorTestOptions(representation, AttentionKind::kCirRelAttnH).max_len(512));
    const std::vector<Bar> song = RandomBars(16, 9, 4);
    absl::StatusOr<TokenSequence> prompt = PromptFromBars(song, 4, 16, representation);
    ASSERT_TRUE(prompt.ok());
    GenerationOptions options;
    options.start_bar = 4;
    options.end_bar = 5;
    options.max_new_tokens = 400;
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      options.sampling.seed = seed;
      const GenerationResult result = GenerateOrDie(model, *prompt, options);
      EXPECT_EQ(CountNotes(std::span<const Bar>(result.bars).subspan(0, 4)),
                CountNotes(std::span<const Bar>(song).subspan(0, 4)));
      for (size_t bar = 5; bar < result.bars.size(); ++bar) {
        EXPECT_TRUE(result.bars[bar].notes.empty()) << RepresentationName(representation) << " bar " << bar;
      }
      EXPECT_NE(result.stop_reason, "max_new_tokens");
    }
  }
}

TEST(Generation, WithoutStopsMakesExactlyTheAskedTokens) {
  torch::manual_seed(8);
  MusicTransformer model(GeneratorTestOptions(Representation::kEventBased, AttentionKind::kAttn).max_len(512));
  absl::StatusOr<TokenSequence> prompt = PromptFromBars(RandomBars(16, 2, 4), 2, 16, Representation::kEventBased);
  ASSERT_TRUE(prompt.ok());
  GenerationOptions options;
  options.allow_stop = false;
  options.max_new_tokens = 150;
  const GenerationResult result = GenerateOrDie(model, *prompt, options);
  EXPECT_EQ(result.generated_tokens, 150);
  EXPECT_EQ(result.stop_reason, "max_new_tokens");
  options.max_total_tokens = static_cast<int64_t>(prompt->length()) + 10;
  const GenerationResult capped = GenerateOrDie(model, *prompt, options);
  EXPECT_EQ(capped.generated_tokens, 10);
  EXPECT_EQ(capped.stop_reason, "context_full");
}

TEST(Generation, RejectsBadPromptsAndOptions) {
  MusicTransformer model(GeneratorTestOptions(Representation::kEventBased, AttentionKind::kAttn));
  TokenSequence not_started;
  not_started.tokens = {kEventPitchBase + 60};
  not_started.times = {0};
  not_started.pitches = {60};
  not_started.has_pitch = {1};
  EXPECT_FALSE(GenerateContinuation(model, not_started, {}).ok());
  absl::StatusOr<TokenSequence> prompt = PromptFromBars(RandomBars(4, 2, 4), 2, 4, Representation::kEventBased);
  ASSERT_TRUE(prompt.ok());
  GenerationOptions options;
  options.window_bars = 4;
  options.end_bar = 4;
  options.sampling.top_p = 0;
  EXPECT_FALSE(GenerateContinuation(model, *prompt, options).ok());
  options.sampling.top_p = 1;
  options.end_bar = 9;
  EXPECT_FALSE(GenerateContinuation(model, *prompt, options).ok());
  EXPECT_FALSE(PromptFromBars(RandomBars(4, 2, 4), 5, 4, Representation::kEventBased).ok());
}

TEST(SampleIndex, GreedyTopKTopPAndMask) {
  const std::vector<double> logits = {1.0, 3.0, 2.0, 0.5};
  const std::vector<uint8_t> all = {1, 1, 1, 1};
  SamplingOptions greedy;
  greedy.temperature = 0;
  EXPECT_EQ(*SampleIndex(logits, all, greedy, 0.9), 1);
  const std::vector<uint8_t> no_best = {1, 0, 1, 1};
  EXPECT_EQ(*SampleIndex(logits, no_best, greedy, 0.9), 2);

  SamplingOptions top1;
  top1.top_k = 1;
  EXPECT_EQ(*SampleIndex(logits, all, top1, 0.999), 1);
  SamplingOptions nucleus;
  nucleus.top_p = 0.1;  // the best value alone holds more than 10 %
  EXPECT_EQ(*SampleIndex(logits, all, nucleus, 0.999), 1);

  // Plain sampling walks the sorted candidates: weights e^3, e^2, e^1, e^0.5.
  SamplingOptions plain;
  EXPECT_EQ(*SampleIndex(logits, all, plain, 0.0), 1);
  EXPECT_EQ(*SampleIndex(logits, all, plain, 0.9999), 3);
  const double total = std::exp(3.0) + std::exp(2.0) + std::exp(1.0) + std::exp(0.5);
  EXPECT_EQ(*SampleIndex(logits, all, plain, (std::exp(3.0) + 0.5 * std::exp(2.0)) / total), 2);

  const std::vector<uint8_t> none = {0, 0, 0, 0};
  EXPECT_FALSE(SampleIndex(logits, none, plain, 0.5).ok());
}

}  // namespace
}  // namespace expsvc::music
