#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "worker/music/model/attention.h"
#include "worker/music/model/music_transformer.h"
#include "worker/music/model/reference_attention.h"
#include "worker/torch/autocast_scope.h"

namespace expsvc::music {
namespace {

constexpr int64_t kBatch = 2;
constexpr int64_t kLength = 17;
constexpr int64_t kModelDim = 16;
constexpr int64_t kHeads = 2;
// Small on purpose so clamping is exercised: index distances reach 16 > 7,
// times span 6 bars > ±2.
constexpr int64_t kMaxLen = 8;
constexpr int64_t kMaxBars = 2;

struct Inputs {
  torch::Tensor x, times, pitches, has_pitch, padding_mask;
};

// Unsorted times (so visible pairs have both signs of ΔT), random pitches,
// about a quarter of the tokens without pitch, and the second sequence
// padded at the end.
Inputs MakeInputs(int64_t seed, int64_t max_pitch = kNumPitches) {
  torch::manual_seed(seed);
  Inputs in;
  in.x = torch::randn({kBatch, kLength, kModelDim}, torch::kDouble);
  in.times = torch::randint(0, 6 * kPositionsPerBar, {kBatch, kLength}, torch::kLong);
  in.pitches = torch::randint(0, max_pitch, {kBatch, kLength}, torch::kLong);
  in.has_pitch = torch::rand({kBatch, kLength}) > 0.25;
  in.padding_mask = torch::zeros({kBatch, kLength}, torch::kBool);
  in.padding_mask.index_put_({1, torch::indexing::Slice(kLength - 3, torch::indexing::None)}, true);
  return in;
}

// Query chunks of 5 rows: 17 rows give chunks 5, 5, 5, 2.
constexpr int64_t kQueryChunk = 5;

RelativeAttention MakeAttention(AttentionKind kind, bool fused = true, int64_t seed = 7, bool flash = false) {
  torch::manual_seed(seed);
  RelativeAttention attention(RelativeAttentionOptions(kModelDim, kHeads)
                                  .kind(kind)
                                  .max_len(kMaxLen)
                                  .max_relative_bars(kMaxBars)
                                  .fused_kernel(fused)
                                  .query_chunk(kQueryChunk)
                                  .flash_kernel(flash));
  attention->to(torch::kDouble);
  return attention;
}

// Zero where blocked, so wrap-around values of the skew trick do not count.
torch::Tensor Visible(const torch::Tensor& term, const torch::Tensor& blocked) {
  return term.masked_fill(blocked, 0.0);
}

void ExpectClose(const torch::Tensor& actual, const torch::Tensor& expected, const std::string& what,
                 double tolerance = 1e-10) {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_TRUE(expected.defined()) << what;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double difference = (actual - expected).abs().max().item<double>();
  EXPECT_LE(difference, tolerance) << what;
}

class AttentionKindTest : public ::testing::TestWithParam<AttentionKind> {};
// (kind, fused kernel or the generic skew/gather path)
class AttentionPathTest : public ::testing::TestWithParam<std::tuple<AttentionKind, bool>> {};

// Output and the gradients of x and of every parameter against the naive
// O(L²·D_h) reference.
void ExpectMatchesReference(RelativeAttention& attention) {
  const Inputs in = MakeInputs(11);
  const torch::Tensor x_fast = in.x.clone().requires_grad_(true);
  const torch::Tensor x_naive = in.x.clone().requires_grad_(true);

  const torch::Tensor fast = attention->forward(x_fast, in.times, in.pitches, in.has_pitch, in.padding_mask);
  const torch::Tensor naive =
      ReferenceAttentionForward(*attention, x_naive, in.times, in.pitches, in.has_pitch, in.padding_mask);
  ExpectClose(fast, naive, "output");

  std::vector<torch::Tensor> fast_inputs = {x_fast};
  std::vector<torch::Tensor> naive_inputs = {x_naive};
  std::vector<std::string> names = {"x"};
  for (const auto& item : attention->named_parameters()) {
    fast_inputs.push_back(item.value());
    naive_inputs.push_back(item.value());
    names.push_back(item.key());
  }
  const torch::Tensor grad_output = torch::randn_like(fast);
  const auto fast_grads = torch::autograd::grad({fast}, fast_inputs, {grad_output});
  const auto naive_grads = torch::autograd::grad({naive}, naive_inputs, {grad_output});
  for (size_t n = 0; n < names.size(); ++n) {
    ExpectClose(fast_grads[n], naive_grads[n], "gradient of " + names[n]);
    EXPECT_GT(naive_grads[n].abs().max().item<double>(), 0.0) << names[n] << " got no gradient";
  }
}

TEST_P(AttentionPathTest, ForwardAndGradientsMatchNaiveReference) {
  const auto [kind, fused] = GetParam();
  RelativeAttention attention = MakeAttention(kind, fused);
  ExpectMatchesReference(attention);
}

// The flash kernel's CPU pass (the same row code as its CUDA kernels) in the
// layer, with a token layout: no L×L map anywhere.
TEST_P(AttentionKindTest, FlashPathMatchesNaiveReference) {
  RelativeAttention attention = MakeAttention(GetParam(), true, 7, /*flash=*/true);
  ExpectMatchesReference(attention);
}

TEST_P(AttentionKindTest, FlashPathLaterTokensDoNotChangeEarlierOutputs) {
  RelativeAttention attention = MakeAttention(GetParam(), true, 7, /*flash=*/true);
  const Inputs in = MakeInputs(13);
  const torch::Tensor before = attention->forward(in.x, in.times, in.pitches, in.has_pitch, in.padding_mask);
  constexpr int64_t kChanged = 9;
  using torch::indexing::Slice;
  Inputs changed = in;
  changed.x = in.x.clone();
  changed.x.index_put_({Slice(), Slice(kChanged)},
                       torch::randn({kBatch, kLength - kChanged, kModelDim}, torch::kDouble));
  changed.times = in.times.clone();
  changed.times.index_put_({Slice(), Slice(kChanged)}, 9 * kPositionsPerBar + 5);
  const torch::Tensor after =
      attention->forward(changed.x, changed.times, changed.pitches, changed.has_pitch, changed.padding_mask);
  ExpectClose(after.index({Slice(), Slice(0, kChanged)}), before.index({Slice(), Slice(0, kChanged)}),
              "outputs before the changed tokens", 1e-12);
  EXPECT_GT((after - before).abs().max().item<double>(), 1e-6);
}

// The token layout's spans are the full layout's, from O(L) scans.
TEST(RelativeLayoutTest, TokenLayoutSpansMatchTheFullLayout) {
  for (int64_t seed : {21, 22, 23, 24}) {
    Inputs in = MakeInputs(seed, seed == 24 ? 12 : kNumPitches);
    if (seed == 22) in.times = std::get<0>(in.times.sort(1));        // sorted, as in the data
    if (seed == 23) in.has_pitch = torch::zeros_like(in.has_pitch);  // no pitched pair at all
    for (const torch::Tensor& padding : {in.padding_mask, torch::Tensor()}) {
      const RelativeLayout full =
          BuildRelativeLayout(in.times, in.pitches, in.has_pitch, padding, kMaxBars, true, kQueryChunk);
      const RelativeLayout tokens = BuildTokenLayout(in.times, in.pitches, in.has_pitch, padding, kMaxBars, true);
      EXPECT_FALSE(tokens.has_pair_maps());
      EXPECT_EQ(tokens.first_bar, full.first_bar) << seed;
      EXPECT_EQ(tokens.num_bars, full.num_bars) << seed;
      EXPECT_EQ(tokens.first_octave, full.first_octave) << seed;
      EXPECT_EQ(tokens.num_octaves, full.num_octaves) << seed;
      EXPECT_TRUE(torch::equal(tokens.times, full.times));
    }
  }
}

// The fused and generic paths need the L×L maps; a token layout is refused
// with a message, not read out of bounds.
TEST(RelativeLayoutTest, PathsNeedingPairMapsRefuseATokenLayout) {
  RelativeAttention attention = MakeAttention(AttentionKind::kCirRelAttnH);
  const Inputs in = MakeInputs(5);
  const RelativeLayout tokens = BuildTokenLayout(in.times, in.pitches, in.has_pitch, in.padding_mask, kMaxBars, true);
  try {
    attention->forward(in.x, tokens);
    ADD_FAILURE() << "a token layout was accepted by the fused path";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("L×L maps"), std::string::npos) << e.what();
  }
}

// Flash dropout: the pair decisions come from a seed drawn from Torch's
// generator, so a seeded run repeats and another seed differs; eval mode
// has none.
TEST(RelativeAttentionTest, FlashDropoutFollowsTorchsSeed) {
  torch::manual_seed(3);
  RelativeAttention attention(RelativeAttentionOptions(kModelDim, kHeads)
                                  .kind(AttentionKind::kCirRelAttnH)
                                  .max_len(kMaxLen)
                                  .max_relative_bars(kMaxBars)
                                  .dropout(0.3)
                                  .flash_kernel(true));
  attention->to(torch::kDouble);
  const Inputs in = MakeInputs(6);
  const auto run = [&](int64_t seed) {
    torch::manual_seed(seed);
    return attention->forward(in.x, in.times, in.pitches, in.has_pitch, in.padding_mask);
  };
  attention->train();
  const torch::Tensor first = run(1);
  EXPECT_TRUE(torch::equal(run(1), first));
  EXPECT_FALSE(torch::allclose(run(2), first));
  attention->eval();
  const torch::Tensor eval_out = run(1);
  EXPECT_FALSE(torch::allclose(eval_out, first));
  EXPECT_TRUE(torch::equal(run(2), eval_out)) << "eval mode must not drop";
}

INSTANTIATE_TEST_SUITE_P(AllKinds, AttentionPathTest,
                         ::testing::Combine(::testing::ValuesIn(AllAttentionKinds()), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<AttentionKind, bool>>& info) {
                           std::string name = AttentionKindName(std::get<0>(info.param));
                           std::erase(name, '-');
                           return name + (std::get<1>(info.param) ? "_fused" : "_generic");
                         });

TEST_P(AttentionKindTest, LogitTermsMatchNaiveReference) {
  RelativeAttention attention = MakeAttention(GetParam());
  const Inputs in = MakeInputs(12);
  const RelativeLayout layout = attention->MakeLayout(in.times, in.pitches, in.has_pitch, in.padding_mask);
  const torch::Tensor blocked = ReferenceBlocked(in.times, in.padding_mask);
  ASSERT_TRUE(torch::equal(layout.blocked, blocked));
  const AttentionLogitTerms fast = attention->ComputeLogitTerms(in.x, layout);
  const AttentionLogitTerms naive =
      ReferenceLogitTerms(*attention, in.x, in.times, in.pitches, in.has_pitch, in.padding_mask);
  ExpectClose(fast.content, naive.content, "content");
  EXPECT_EQ(fast.index_bias.defined(), HasIndexBias(GetParam()));
  EXPECT_EQ(fast.time_bias.defined(), HasTimePitchBias(GetParam()));
  if (fast.index_bias.defined()) {
    ExpectClose(Visible(fast.index_bias, blocked), Visible(naive.index_bias, blocked), "S_idx");
  }
  if (fast.time_bias.defined()) {
    ExpectClose(Visible(fast.time_bias, blocked), Visible(naive.time_bias, blocked), "S^T");
    ExpectClose(Visible(fast.pitch_bias, blocked), Visible(naive.pitch_bias, blocked), "S^P");
  }
}

TEST_P(AttentionPathTest, LaterTokensDoNotChangeEarlierOutputs) {
  const auto [kind, fused] = GetParam();
  RelativeAttention attention = MakeAttention(kind, fused);
  const Inputs in = MakeInputs(13);
  const torch::Tensor before = attention->forward(in.x, in.times, in.pitches, in.has_pitch);
  constexpr int64_t kChanged = 9;
  using torch::indexing::Slice;
  Inputs changed = in;
  changed.x = in.x.clone();
  changed.times = in.times.clone();
  changed.pitches = in.pitches.clone();
  changed.has_pitch = in.has_pitch.clone();
  changed.x.index_put_({Slice(), Slice(kChanged)},
                       torch::randn({kBatch, kLength - kChanged, kModelDim}, torch::kDouble));
  changed.times.index_put_({Slice(), Slice(kChanged)}, 9 * kPositionsPerBar + 5);
  changed.pitches.index_put_({Slice(), Slice(kChanged)}, 3);
  changed.has_pitch.index_put_({Slice(), Slice(kChanged)}, true);
  const torch::Tensor after = attention->forward(changed.x, changed.times, changed.pitches, changed.has_pitch);
  ExpectClose(after.index({Slice(), Slice(0, kChanged)}), before.index({Slice(), Slice(0, kChanged)}),
              "outputs before the changed tokens", 1e-12);
  EXPECT_GT((after - before).abs().max().item<double>(), 1e-6);
}

TEST_P(AttentionKindTest, ShiftingByBarsAndOctavesKeepsRelativeBiases) {
  RelativeAttention attention = MakeAttention(GetParam());
  // Pitches below 116 so that +12 stays a valid pitch.
  const Inputs in = MakeInputs(14, kNumPitches - kSemitonesPerOctave);
  const RelativeLayout layout = attention->MakeLayout(in.times, in.pitches, in.has_pitch, in.padding_mask);
  const AttentionLogitTerms base = attention->ComputeLogitTerms(in.x, layout);
  const torch::Tensor blocked = layout.blocked;
  for (const auto& [time_shift, pitch_shift] : std::vector<std::pair<int64_t, int64_t>>{
           {kPositionsPerBar, 0}, {0, kSemitonesPerOctave}, {3 * kPositionsPerBar, kSemitonesPerOctave}}) {
    const RelativeLayout shifted_layout =
        attention->MakeLayout(in.times + time_shift, in.pitches + pitch_shift, in.has_pitch, in.padding_mask);
    const AttentionLogitTerms shifted = attention->ComputeLogitTerms(in.x, shifted_layout);
    const std::string what = "shift " + std::to_string(time_shift) + "/" + std::to_string(pitch_shift);
    ExpectClose(shifted.content, base.content, what + " content", 0.0);
    if (base.index_bias.defined()) {
      ExpectClose(Visible(shifted.index_bias, blocked), Visible(base.index_bias, blocked), what + " S_idx", 0.0);
    }
    if (base.time_bias.defined()) {
      ExpectClose(Visible(shifted.time_bias, blocked), Visible(base.time_bias, blocked), what + " S^T", 1e-12);
      ExpectClose(Visible(shifted.pitch_bias, blocked), Visible(base.pitch_bias, blocked), what + " S^P", 1e-12);
    }
  }
}

TEST_P(AttentionKindTest, TokensWithoutPitchGetNoPitchBias) {
  if (!HasTimePitchBias(GetParam())) GTEST_SKIP() << "no pitch bias in this kind";
  RelativeAttention attention = MakeAttention(GetParam());
  const Inputs in = MakeInputs(15);
  const RelativeLayout layout = attention->MakeLayout(in.times, in.pitches, in.has_pitch, in.padding_mask);
  const torch::Tensor pitch_bias = attention->ComputeLogitTerms(in.x, layout).pitch_bias;
  const torch::Tensor without = in.has_pitch.logical_not();
  const torch::Tensor involved = (without.unsqueeze(2) | without.unsqueeze(1)).unsqueeze(1).expand_as(pitch_bias);
  ASSERT_GT(involved.sum().item<int64_t>(), 0);
  EXPECT_EQ(pitch_bias.masked_select(involved).abs().max().item<double>(), 0.0);
  EXPECT_GT(pitch_bias.masked_select(involved.logical_not()).abs().max().item<double>(), 0.0);

  // So the pitch value of such a token is irrelevant.
  const torch::Tensor other_pitches = torch::where(without, torch::full_like(in.pitches, 127), in.pitches);
  const torch::Tensor a = attention->forward(in.x, in.times, in.pitches, in.has_pitch, in.padding_mask);
  const torch::Tensor b = attention->forward(in.x, in.times, other_pitches, in.has_pitch, in.padding_mask);
  ExpectClose(a, b, "output with other pitches on unpitched tokens", 1e-12);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, AttentionKindTest, ::testing::ValuesIn(AllAttentionKinds()),
                         [](const ::testing::TestParamInfo<AttentionKind>& info) {
                           std::string name = AttentionKindName(info.param);
                           std::erase(name, '-');
                           return name;
                         });

TEST(AttentionKindNames, RoundTrip) {
  for (AttentionKind kind : AllAttentionKinds()) {
    const auto parsed = ParseAttentionKind(AttentionKindName(kind));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(*ParseAttentionKind("CirRelAttn-H"), AttentionKind::kCirRelAttnH);
  EXPECT_EQ(*ParseAttentionKind("RIPOAttn"), AttentionKind::kRipoAttn);
  EXPECT_FALSE(ParseAttentionKind("cirrelattn").ok());
  EXPECT_FALSE(ParseAttentionKind("").ok());
}

TEST(RelativeLayout, FloorDivisionSplitsNegativeDistances) {
  // Token 1 is one semitone below token 0 and one grid position before it.
  const torch::Tensor times = torch::tensor({{47, 46}}, torch::kLong);
  const torch::Tensor pitches = torch::tensor({{61, 60}}, torch::kLong);
  const torch::Tensor has_pitch = torch::ones({1, 2}, torch::kBool);
  const RelativeLayout layout = BuildRelativeLayout(times, pitches, has_pitch, {}, 16, true);
  // Visible pairs: ΔT ∈ {0, −1} → bars {−1, 0}; ΔP ∈ {0, −1} → octaves {−1, 0}.
  EXPECT_EQ(layout.first_bar, -1);
  EXPECT_EQ(layout.num_bars, 2);
  EXPECT_EQ(layout.first_octave, -1);
  EXPECT_EQ(layout.num_octaves, 2);
  // (i=1, j=0): ΔT = −1 → bar −1, position 47 → row 47.
  EXPECT_EQ(layout.time_row[0][0][1][0].item<int64_t>(), 47);
  // ΔP = −1 → octave −1, semitone 11 → row 11; ΔP = 0 → octave 0 → row 12.
  EXPECT_EQ(layout.pitch_row[0][0][1][0].item<int64_t>(), 11);
  EXPECT_EQ(layout.pitch_row[0][0][1][1].item<int64_t>(), 12);

  // And the bias of that pair uses R_octave[−1] ⊙ R_semitone[11].
  RelativeAttention attention = MakeAttention(AttentionKind::kCirRelAttnH);
  const torch::Tensor x = torch::randn({1, 2, kModelDim}, torch::kDouble);
  const torch::Tensor pitch_bias = attention->ComputeLogitTerms(x, layout).pitch_bias;
  const torch::Tensor q_weight = attention->qkv_projection()->weight.narrow(0, 0, kModelDim);
  const torch::Tensor q_bias = attention->qkv_projection()->bias.narrow(0, 0, kModelDim);
  const torch::Tensor q1 = (x[0][1].matmul(q_weight.t()) + q_bias).view({kHeads, kModelDim / kHeads});
  const torch::Tensor r = attention->octave_embedding()[-1 - kMinOctaveDiff] * attention->semitone_embedding()[11];
  const torch::Tensor expected = q1.matmul(r) / std::sqrt(static_cast<double>(kModelDim / kHeads));
  ExpectClose(pitch_bias.index({0, torch::indexing::Slice(), 1, 0}), expected, "pitch bias of ΔP = −1");
}

TEST(RelativeLayout, LoopsAndTensorOpsAgree) {
  for (int64_t seed : {21, 22, 23}) {
    Inputs in = MakeInputs(seed);
    if (seed == 23) in.has_pitch = torch::zeros_like(in.has_pitch);  // no pitched pair at all
    const RelativeLayout loops =
        BuildRelativeLayout(in.times, in.pitches, in.has_pitch, in.padding_mask, kMaxBars, true, kQueryChunk);
    const RelativeLayout ops = BuildRelativeLayout(in.times, in.pitches, in.has_pitch, in.padding_mask, kMaxBars, true,
                                                   kQueryChunk, /*use_tensor_ops=*/true);
    EXPECT_TRUE(torch::equal(loops.blocked, ops.blocked));
    EXPECT_TRUE(torch::equal(loops.time_row, ops.time_row));
    EXPECT_TRUE(torch::equal(loops.pitch_row, ops.pitch_row));
    EXPECT_EQ(loops.first_bar, ops.first_bar);
    EXPECT_EQ(loops.num_bars, ops.num_bars);
    EXPECT_EQ(loops.chunk_first_bar, ops.chunk_first_bar);
    EXPECT_EQ(loops.chunk_num_bars, ops.chunk_num_bars);
    EXPECT_EQ(loops.first_octave, ops.first_octave);
    EXPECT_EQ(loops.num_octaves, ops.num_octaves);
    EXPECT_EQ(loops.chunk_first_bar.size(), 4u);
  }
}

TEST(RelativeLayout, ClampsBarDistancesKeepingThePositionInTheBar) {
  const torch::Tensor times = torch::tensor({{int64_t{0}, int64_t{5 * kPositionsPerBar + 7}}}, torch::kLong);
  const torch::Tensor pitches = torch::zeros({1, 2}, torch::kLong);
  const torch::Tensor has_pitch = torch::zeros({1, 2}, torch::kBool);
  const RelativeLayout layout = BuildRelativeLayout(times, pitches, has_pitch, {}, 2, true);
  // ΔT = 5 bars + 7 → clamped to bar 2, position 7; the span is bars 0..2.
  EXPECT_EQ(layout.first_bar, 0);
  EXPECT_EQ(layout.num_bars, 3);
  EXPECT_EQ(layout.time_row[0][0][1][0].item<int64_t>(), 2 * kPositionsPerBar + 7);
  // No pitched pair: every pitch row is the zero row.
  EXPECT_EQ(layout.pitch_row.min().item<int64_t>(), layout.num_octaves * kSemitonesPerOctave);
}

// ---- MusicTransformer ----

MusicBatch MakeBatch(Representation representation, int64_t batch, int64_t length, int64_t seed) {
  torch::manual_seed(seed);
  const std::vector<int64_t> vocab = FieldVocabSizes(representation);
  std::vector<torch::Tensor> fields;
  for (int64_t size : vocab) fields.push_back(torch::randint(0, size, {batch, length}, torch::kLong));
  MusicBatch b;
  b.tokens = torch::stack(fields, -1);
  b.times = std::get<0>(torch::sort(torch::randint(0, 16 * kPositionsPerBar, {batch, length}, torch::kLong), 1));
  b.pitches = torch::randint(21, 109, {batch, length}, torch::kLong);
  b.has_pitch = torch::rand({batch, length}) > 0.2;
  b.padding_mask = torch::zeros({batch, length}, torch::kBool);
  if (batch > 1) {
    b.padding_mask.index_put_({batch - 1, torch::indexing::Slice(length - 4, torch::indexing::None)}, true);
  }
  return b;
}

MusicTransformerOptions TinyOptions(Representation representation, AttentionKind kind) {
  return MusicTransformerOptions()
      .representation(representation)
      .d_model(32)
      .n_layers(2)
      .n_heads(2)
      .d_ff(64)
      .dropout(0.0)
      .max_len(64)
      .attention(kind);
}

class TransformerTest : public ::testing::TestWithParam<std::tuple<Representation, AttentionKind>> {};

TEST_P(TransformerTest, ShapesAndOverfitsATinyBatch) {
  const auto [representation, kind] = GetParam();
  torch::manual_seed(3);
  MusicTransformer model(TinyOptions(representation, kind));
  const MusicBatch batch = MakeBatch(representation, 2, 24, 5);

  const auto logits = model->Forward(batch);
  ASSERT_TRUE(logits.ok()) << logits.status();
  const std::vector<int64_t> vocab = FieldVocabSizes(representation);
  ASSERT_EQ(logits->size(), vocab.size());
  for (size_t f = 0; f < vocab.size(); ++f) {
    EXPECT_EQ((*logits)[f].sizes(), (std::vector<int64_t>{2, 24, vocab[f]}));
  }

  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-2));
  double first = 0;
  double last = 0;
  for (int step = 0; step < 60; ++step) {
    const auto loss = model->Loss(batch);
    ASSERT_TRUE(loss.ok()) << loss.status();
    ASSERT_EQ(loss->per_field.size(), vocab.size());
    if (step == 0) first = loss->total.item<double>();
    last = loss->total.item<double>();
    optimizer.zero_grad();
    loss->total.backward();
    optimizer.step();
  }
  EXPECT_LT(last, 0.3 * first) << "first " << first << " last " << last;
}

// bf16 mixed precision (train_music's precision: bfloat16) on the CPU: the
// products run in bf16 (the logits come out bf16; the attention's fused
// kernel adds its terms on a float32 copy), the loss is scored in float32 and stays within 3% of the float32 loss, the
// gradients are float32, finite and point the same way, and the scope leaves float32 behind it.
TEST_P(TransformerTest, Bf16AutocastTracksFloat32) {
  const auto [representation, kind] = GetParam();
  torch::manual_seed(3);
  MusicTransformer model(TinyOptions(representation, kind));
  const MusicBatch batch = MakeBatch(representation, 2, 24, 5);
  const auto full = model->Loss(batch);
  ASSERT_TRUE(full.ok()) << full.status();
  full->total.backward();
  std::vector<torch::Tensor> full_grads;
  for (const torch::Tensor& p : model->parameters()) {
    full_grads.push_back(p.grad().clone());
    p.mutable_grad() = torch::Tensor();
  }

  torch::Tensor mixed_total;
  {
    const worker::AutocastScope scope(torch::kCPU, true);
    const auto logits = model->Forward(batch);
    ASSERT_TRUE(logits.ok()) << logits.status();
    EXPECT_EQ(logits->front().scalar_type(), torch::kBFloat16);
    const auto mixed = model->Loss(batch);
    ASSERT_TRUE(mixed.ok()) << mixed.status();
    mixed_total = mixed->total;
  }
  EXPECT_EQ(mixed_total.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(mixed_total.item<double>(), full->total.item<double>(), 0.03 * full->total.item<double>());
  mixed_total.backward();
  const std::vector<torch::Tensor> parameters = model->parameters();
  double dot = 0, full_norm = 0, mixed_norm = 0;
  for (size_t n = 0; n < parameters.size(); ++n) {
    const torch::Tensor g = parameters[n].grad();
    ASSERT_TRUE(g.defined()) << n;
    ASSERT_EQ(g.scalar_type(), torch::kFloat32) << n;
    ASSERT_TRUE(torch::isfinite(g).all().item<bool>()) << n;
    dot += (g * full_grads[n]).sum().item<double>();
    full_norm += full_grads[n].pow(2).sum().item<double>();
    mixed_norm += g.pow(2).sum().item<double>();
  }
  EXPECT_GT(dot / std::sqrt(full_norm * mixed_norm), 0.98) << "gradient directions differ";
  EXPECT_EQ(torch::matmul(torch::ones({2, 2}), torch::ones({2, 2})).scalar_type(), torch::kFloat32);
}

INSTANTIATE_TEST_SUITE_P(RepresentationsAndKinds, TransformerTest,
                         ::testing::Combine(::testing::Values(Representation::kNoteBased, Representation::kEventBased),
                                            ::testing::ValuesIn(AllAttentionKinds())),
                         [](const ::testing::TestParamInfo<std::tuple<Representation, AttentionKind>>& info) {
                           std::string name = std::string(RepresentationName(std::get<0>(info.param))) + "_" +
                                              AttentionKindName(std::get<1>(info.param));
                           std::erase(name, '-');
                           return name;
                         });

TEST(MusicTransformer, LossIgnoresPaddingAndSumsFields) {
  torch::manual_seed(4);
  MusicTransformer model(TinyOptions(Representation::kNoteBased, AttentionKind::kCirRelAttnH));
  model->eval();
  MusicBatch batch = MakeBatch(Representation::kNoteBased, 2, 12, 6);
  const auto loss = model->Loss(batch);
  ASSERT_TRUE(loss.ok()) << loss.status();
  torch::Tensor sum = torch::zeros({});
  for (const torch::Tensor& field : loss->per_field) sum = sum + field;
  EXPECT_NEAR(loss->total.item<double>(), sum.item<double>(), 1e-5);

  // Padded positions of sequence 1 are neither inputs nor targets that count.
  MusicBatch changed = batch;
  changed.tokens = batch.tokens.clone();
  changed.tokens.index_put_({1, torch::indexing::Slice(8, torch::indexing::None)}, 0);
  changed.times = batch.times.clone();
  changed.times.index_put_({1, torch::indexing::Slice(8, torch::indexing::None)}, 0);
  const auto changed_loss = model->Loss(changed);
  ASSERT_TRUE(changed_loss.ok());
  EXPECT_NEAR(changed_loss->total.item<double>(), loss->total.item<double>(), 1e-5);
}

TEST(MusicTransformer, FusedGenericAndFlashPathsAgree) {
  for (AttentionKind kind : AllAttentionKinds()) {
    std::vector<std::vector<torch::Tensor>> logits;
    // fused, generic, flash (the model then builds a token layout)
    for (int path = 0; path < 3; ++path) {
      torch::manual_seed(8);
      MusicTransformer model(TinyOptions(Representation::kEventBased, kind)
                                 .fused_kernel(path == 0)
                                 .flash_kernel(path == 2)
                                 .query_chunk(7));
      const auto out = model->Forward(MakeBatch(Representation::kEventBased, 2, 20, 9));
      ASSERT_TRUE(out.ok()) << out.status();
      logits.push_back(*out);
    }
    EXPECT_LE((logits[0][0] - logits[1][0]).abs().max().item<double>(), 1e-4) << AttentionKindName(kind);
    EXPECT_LE((logits[0][0] - logits[2][0]).abs().max().item<double>(), 1e-4) << AttentionKindName(kind) << " flash";
  }
}

TEST(MusicTransformer, RejectsMalformedBatches) {
  MusicTransformer model(TinyOptions(Representation::kNoteBased, AttentionKind::kAttn));
  const MusicBatch good = MakeBatch(Representation::kNoteBased, 2, 8, 1);
  ASSERT_TRUE(model->Forward(good).ok());

  MusicBatch wrong_fields = good;
  wrong_fields.tokens = good.tokens.narrow(2, 0, 1);
  EXPECT_EQ(model->Forward(wrong_fields).status().code(), absl::StatusCode::kInvalidArgument);

  MusicBatch out_of_vocab = good;
  out_of_vocab.tokens = good.tokens.clone();
  out_of_vocab.tokens.index_put_({0, 0, 0}, 3);  // type vocabulary is 3
  EXPECT_EQ(model->Forward(out_of_vocab).status().code(), absl::StatusCode::kInvalidArgument);

  MusicBatch bad_pitch = good;
  bad_pitch.pitches = good.pitches.clone();
  bad_pitch.pitches.index_put_({0, 0}, 128);
  bad_pitch.has_pitch = good.has_pitch.clone();
  bad_pitch.has_pitch.index_put_({0, 0}, true);
  EXPECT_EQ(model->Forward(bad_pitch).status().code(), absl::StatusCode::kInvalidArgument);

  MusicBatch wrong_dtype = good;
  wrong_dtype.times = good.times.to(torch::kInt);
  EXPECT_EQ(model->Forward(wrong_dtype).status().code(), absl::StatusCode::kInvalidArgument);

  MusicBatch too_short = good;
  too_short.tokens = good.tokens.narrow(1, 0, 1);
  too_short.times = good.times.narrow(1, 0, 1);
  too_short.pitches = good.pitches.narrow(1, 0, 1);
  too_short.has_pitch = good.has_pitch.narrow(1, 0, 1);
  too_short.padding_mask = good.padding_mask.narrow(1, 0, 1);
  EXPECT_TRUE(model->Forward(too_short).ok());
  EXPECT_EQ(model->Loss(too_short).status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_FALSE(ParseRepresentation("midi").ok());
  EXPECT_EQ(*ParseRepresentation("event-based"), Representation::kEventBased);
}

TEST(MusicTransformer, ParameterCounts) {
  const auto count = [](Representation representation, AttentionKind kind) {
    MusicTransformer model(MusicTransformerOptions().representation(representation).attention(kind));
    return CountParameters(*model);
  };
  const int64_t attn = count(Representation::kEventBased, AttentionKind::kAttn);
  // Defaults: 4 layers of d=256, d_ff=1024 are ≈3.3M, plus embeddings and heads.
  EXPECT_GT(attn, 3'000'000);
  EXPECT_LT(attn, 4'000'000);
  const int64_t dh = 256 / 8;
  const int64_t per_layer_index = 2048 * dh;
  EXPECT_EQ(count(Representation::kEventBased, AttentionKind::kRelAttn), attn + 4 * per_layer_index);
  EXPECT_EQ(count(Representation::kEventBased, AttentionKind::kRipoAttn), attn + 4 * per_layer_index);
  const int64_t circular = (33 + 48 + 22 + 12) * dh;
  EXPECT_EQ(count(Representation::kEventBased, AttentionKind::kCirRelAttnH), attn + 4 * (per_layer_index + circular));
  EXPECT_GT(count(Representation::kNoteBased, AttentionKind::kAttn), 0);
}

}  // namespace
}  // namespace expsvc::music
