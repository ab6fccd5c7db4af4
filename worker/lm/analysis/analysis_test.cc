// Per-feature analysis: the slides' worked R examples, both language rules at
// their exact boundaries, spans over a window split between batches, top
// examples, the authors' 50-window cap, the summary and features.json.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "worker/lm/analysis/feature_report.h"
#include "worker/lm/analysis/feature_statistics.h"
#include "worker/lm/analysis/language_class.h"
#include "worker/lm/analysis/monosemanticity.h"

namespace expsvc::lm {
namespace {

constexpr uint8_t kEn = static_cast<uint8_t>(Language::kEnglish);
constexpr uint8_t kJa = static_cast<uint8_t>(Language::kJapanese);

// One row of a crafted batch: its labels and the latents it carries.
struct Row {
  int64_t window;
  int64_t position;
  int64_t token;
  uint8_t language;
  std::vector<std::pair<int64_t, float>> codes;  // (latent, value)
};

// Builds a [N, k] batch; rows with fewer than k codes are padded with
// unused latents (counting down from n_latents − 1) at value 0.
std::pair<TopKCodes, RowLabels> MakeBatch(const std::vector<Row>& rows, int64_t k, int64_t n_latents) {
  const auto n = static_cast<int64_t>(rows.size());
  torch::Tensor indices = torch::empty({n, k}, torch::kInt64);
  torch::Tensor values = torch::zeros({n, k}, torch::kFloat32);
  RowLabels labels{torch::empty({n}, torch::kInt64), torch::empty({n}, torch::kUInt8), torch::empty({n}, torch::kInt64),
                   torch::empty({n}, torch::kInt64)};
  for (int64_t r = 0; r < n; ++r) {
    const Row& row = rows[static_cast<size_t>(r)];
    std::vector<int64_t> used;
    int64_t j = 0;
    for (const auto& [latent, value] : row.codes) {
      indices[r][j] = latent;
      values[r][j] = value;
      used.push_back(latent);
      ++j;
    }
    for (int64_t pad = n_latents - 1; j < k; --pad) {
      if (std::find(used.begin(), used.end(), pad) != used.end()) continue;
      indices[r][j++] = pad;
    }
    labels.token_ids[r] = row.token;
    labels.languages[r] = row.language;
    labels.windows[r] = row.window;
    labels.positions[r] = row.position;
  }
  return {TopKCodes{values, indices}, labels};
}

absl::Status AddRows(FeatureStatistics& stats, const std::vector<Row>& rows, int64_t k) {
  auto [codes, labels] = MakeBatch(rows, k, stats.n_latents());
  return stats.Add(codes, labels);
}

FeatureStatistics MustCreate(int64_t n, FeatureStatisticsOptions options = {}) {
  absl::StatusOr<FeatureStatistics> stats = FeatureStatistics::Create(n, options);
  EXPECT_TRUE(stats.ok()) << stats.status();
  return *std::move(stats);
}

const double kLn10 = std::log(10.0);

// ---------------------------------------------------------------- R

TEST(MonosemanticityTest, SlideExampleWithTheFirstTwoTokensInOneCluster) {
  const std::vector<double> weights = {0.5, 0.4, 0.1};
  absl::StatusOr<Monosemanticity> m = MonosemanticityFromClusters(weights, std::vector<int64_t>{0, 0, 1});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NEAR(m->token_entropy / kLn10, 0.4097, 5e-4);     // slides: H_tok ≈ 0.41
  EXPECT_NEAR(m->semantic_entropy / kLn10, 0.1412, 5e-4);  // slides: H_sem ≈ 0.14
  EXPECT_GE(m->r, 0.655);
  EXPECT_LE(m->r, 0.665);
  EXPECT_NEAR(m->r, 0.65543, 1e-4);
  EXPECT_EQ(m->tokens, 3);
  EXPECT_EQ(m->clusters, 2);
}

TEST(MonosemanticityTest, SlideExampleWithEveryTokenInItsOwnClusterIsZero) {
  absl::StatusOr<Monosemanticity> m =
      MonosemanticityFromClusters(std::vector<double>{0.5, 0.4, 0.1}, std::vector<int64_t>{7, 3, 9});
  ASSERT_TRUE(m.ok());
  EXPECT_NEAR(m->r, 0.0, 1e-12);
  EXPECT_EQ(m->clusters, 3);
}

TEST(MonosemanticityTest, OneDistinctTokenIsOne) {
  absl::StatusOr<Monosemanticity> m = MonosemanticityFromClusters(std::vector<double>{42}, std::vector<int64_t>{0});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->token_entropy, 0.0);
  EXPECT_EQ(m->r, 1.0);
  EXPECT_FALSE(MonosemanticityFromClusters(std::vector<double>{}, std::vector<int64_t>{}).ok());
  EXPECT_FALSE(MonosemanticityFromClusters(std::vector<double>{1, -1}, std::vector<int64_t>{0, 1}).ok());
}

// Tokens 10, 20, 30 with counts 5, 4, 1: 10 and 20 nearly parallel, 30 orthogonal.
TokenEmbeddings SlideEmbeddings() {
  torch::Tensor table = torch::zeros({40, 3});
  table[10] = torch::tensor({1.0f, 0.0f, 0.0f});
  table[20] = torch::tensor({0.9f, 0.1f, 0.0f});
  table[30] = torch::tensor({0.0f, 1.0f, 0.0f});
  return *TokenEmbeddings::FromTensor(table);
}

TEST(MonosemanticityTest, SlideExampleFromEmbeddings) {
  const absl::flat_hash_map<int64_t, int64_t> counts = {{10, 5}, {20, 4}, {30, 1}};
  const TokenEmbeddings embeddings = SlideEmbeddings();
  absl::StatusOr<Monosemanticity> m = ComputeMonosemanticity(counts, embeddings);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->clusters, 2);
  EXPECT_NEAR(m->r, 0.65543, 1e-4);
  // cos(10, 20) ≈ 0.9939: a stricter threshold splits them.
  m = ComputeMonosemanticity(counts, embeddings, {.similarity_threshold = 0.999});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->clusters, 3);
  EXPECT_NEAR(m->r, 0.0, 1e-12);
  // Capped to the two most frequent, renormalised to (5/9, 4/9).
  m = ComputeMonosemanticity(counts, embeddings, {.similarity_threshold = 0.999, .max_tokens = 2});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->tokens, 2);
  EXPECT_NEAR(m->token_entropy, -(5.0 / 9 * std::log(5.0 / 9) + 4.0 / 9 * std::log(4.0 / 9)), 1e-12);
  EXPECT_NEAR(m->r, 0.0, 1e-12);
  m = ComputeMonosemanticity(counts, embeddings, {.max_tokens = 2});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->r, 1.0);
  EXPECT_FALSE(ComputeMonosemanticity({}, embeddings).ok());
  EXPECT_FALSE(ComputeMonosemanticity({{99, 1}}, embeddings).ok());  // outside the table
  EXPECT_FALSE(ComputeMonosemanticity(counts, embeddings, {.similarity_threshold = 1.5}).ok());
}

TEST(MonosemanticityTest, TokensJoinTheFirstLeaderAboveTheThresholdNotTheNearest) {
  // A = (1, 0) leads; B = (0, 1) leads; C = (0.6, 0.8): cos(C, A) = 0.6 ≥ 0.5
  // joins A, although cos(C, B) = 0.8. A zero vector is alone.
  const std::map<int64_t, std::vector<float>> vectors = {
      {1, {1, 0}}, {2, {0, 1}}, {3, {0.6f, 0.8f}}, {4, {0, 0}}, {5, {2, 0}}};
  const TokenEmbeddings embeddings(2, [&](int64_t id, absl::Span<float> out) -> absl::Status {
    const auto it = vectors.find(id);
    if (it == vectors.end()) return absl::NotFoundError("no such token");
    std::copy(it->second.begin(), it->second.end(), out.begin());
    return absl::OkStatus();
  });
  absl::StatusOr<std::vector<int64_t>> clusters = ClusterByCosine(std::vector<int64_t>{1, 2, 3, 4, 5}, embeddings, 0.5);
  ASSERT_TRUE(clusters.ok()) << clusters.status();
  EXPECT_EQ(*clusters, (std::vector<int64_t>{0, 1, 0, 2, 0}));
  // Ties in frequency go by ascending id: 2 then 1 by count, 3 and 4 tied.
  absl::StatusOr<Monosemanticity> m = ComputeMonosemanticity({{1, 3}, {2, 5}, {3, 1}, {4, 1}}, embeddings);
  ASSERT_TRUE(m.ok());
  // Order 2, 1, 3, 4: 3 joins 2 (cos 0.8 ≥ 0.5), clusters {2, 3}, {1}, {4}: masses 6, 3, 1.
  EXPECT_EQ(m->clusters, 3);
  const double h_sem = -(0.6 * std::log(0.6) + 0.3 * std::log(0.3) + 0.1 * std::log(0.1));
  EXPECT_NEAR(m->semantic_entropy, h_sem, 1e-12);
  EXPECT_EQ(ComputeMonosemanticity({{6, 1}, {1, 1}}, embeddings).status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------- language

TEST(LanguageClassTest, ScriptOfTokenText) {
  EXPECT_EQ(ClassifyTokenScript("\xE2\x96\x81の"), TokenScript::kJapanese);  // "▁の"
  EXPECT_EQ(ClassifyTokenScript("カタ"), TokenScript::kJapanese);
  EXPECT_EQ(ClassifyTokenScript("漢字"), TokenScript::kJapanese);
  EXPECT_EQ(ClassifyTokenScript("\xE3\x90\x80"), TokenScript::kJapanese);  // U+3400
  EXPECT_EQ(ClassifyTokenScript("\xEF\xBD\xB1"), TokenScript::kJapanese);  // U+FF71 half-width ｱ
  EXPECT_EQ(ClassifyTokenScript("apt の"), TokenScript::kJapanese);
  EXPECT_EQ(ClassifyTokenScript("\xE2\x96\x81Linux"), TokenScript::kEnglish);
  EXPECT_EQ(ClassifyTokenScript("<0xE3>"), TokenScript::kEnglish);  // why the callback must decode
  EXPECT_EQ(ClassifyTokenScript("123 ."), TokenScript::kNeither);
  EXPECT_EQ(ClassifyTokenScript("\xC3\xA9"), TokenScript::kNeither);      // é
  EXPECT_EQ(ClassifyTokenScript("\xEF\xBC\xA1"), TokenScript::kNeither);  // U+FF21 full-width Ａ
  EXPECT_EQ(ClassifyTokenScript("\xE3\x81"), TokenScript::kNeither);      // truncated
  EXPECT_EQ(ClassifyTokenScript(""), TokenScript::kNeither);
}

TEST(LanguageClassTest, AllActivationsRuleIsInclusiveAtTheThreshold) {
  EXPECT_EQ(ClassifyByAllActivations(10, 1, 9), FeatureLanguage::kJapanese);
  EXPECT_EQ(ClassifyByAllActivations(10, 9, 1), FeatureLanguage::kEnglish);
  EXPECT_EQ(ClassifyByAllActivations(10, 2, 8), FeatureLanguage::kMixed);
  EXPECT_EQ(ClassifyByAllActivations(50, 5, 45), FeatureLanguage::kJapanese);
  EXPECT_EQ(ClassifyByAllActivations(50, 6, 44), FeatureLanguage::kMixed);
  EXPECT_EQ(ClassifyByAllActivations(0, 0, 0), FeatureLanguage::kDead);
  EXPECT_EQ(ClassifyByAllActivations(10, 2, 8, 0.8), FeatureLanguage::kJapanese);
}

TEST(LanguageClassTest, AuthorsRuleIsStrictAtTheThreshold) {
  const TokenText text = [](int64_t id) -> std::string {
    if (id == 1) return "の";
    if (id == 2) return "the";
    return "42";
  };
  const std::vector<int64_t> nine_of_ten = {1, 1, 1, 1, 1, 1, 1, 1, 1, 2};
  EXPECT_EQ(ClassifyByMaxTokens(nine_of_ten, text), FeatureLanguage::kMixed);
  EXPECT_EQ(ClassifyByMaxTokens(nine_of_ten, text, 0.85), FeatureLanguage::kJapanese);
  EXPECT_EQ(ClassifyByMaxTokens(std::vector<int64_t>(10, 1), text), FeatureLanguage::kJapanese);
  EXPECT_EQ(ClassifyByMaxTokens(std::vector<int64_t>(10, 2), text), FeatureLanguage::kEnglish);
  // Tokens of neither script stay in the denominator: 10 of 11 English is > 0.9.
  std::vector<int64_t> with_digit(10, 2);
  with_digit.push_back(3);
  EXPECT_EQ(ClassifyByMaxTokens(with_digit, text), FeatureLanguage::kEnglish);
  with_digit.push_back(3);  // 10 of 12
  EXPECT_EQ(ClassifyByMaxTokens(with_digit, text), FeatureLanguage::kMixed);
  EXPECT_EQ(ClassifyByMaxTokens({}, text), FeatureLanguage::kDead);
}

TEST(LanguageClassTest, NamesAndChecks) {
  EXPECT_EQ(LanguageRuleName(LanguageRule::kAllActivations), "all_activations");
  EXPECT_EQ(LanguageRuleName(LanguageRule::kAuthorsMaxToken), "authors_max_token");
  EXPECT_EQ(*ParseLanguageRule("authors_max_token"), LanguageRule::kAuthorsMaxToken);
  EXPECT_EQ(*ParseLanguageRule("all_activations"), LanguageRule::kAllActivations);
  const absl::Status bad = ParseLanguageRule("authors").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("all_activations"), absl::string_view::npos);
  EXPECT_EQ(FeatureLanguageName(FeatureLanguage::kMixed), "mixed");

  FeatureStats stats;
  stats.count = 1;
  stats.by_language[kJa] = 1;
  EXPECT_EQ(*ClassifyFeature(stats, LanguageRule::kAllActivations, 0.9, nullptr), FeatureLanguage::kJapanese);
  EXPECT_FALSE(ClassifyFeature(stats, LanguageRule::kAllActivations, 0.5, nullptr).ok());
  EXPECT_FALSE(ClassifyFeature(stats, LanguageRule::kAllActivations, 1.1, nullptr).ok());
  EXPECT_FALSE(ClassifyFeature(stats, LanguageRule::kAuthorsMaxToken, 0.9, nullptr).ok());
}

// ---------------------------------------------------------------- statistics

TEST(FeatureStatisticsTest, SpansJoinAcrossASplitWindowAndDeadFeaturesStayDead) {
  FeatureStatistics stats = MustCreate(8);
  // Window 0, positions 1–6, split after position 4; window 1 follows.
  // Latent 3 fires at w0 p1 p2 | p4 p5 p6 | w1 p1: three runs (the second
  // straddles the batches; w0 p6 → w1 p1 is not a run). Latent 5 fires at
  // w0 p4 and p5 only: one run of two, across the split.
  ASSERT_TRUE(AddRows(stats,
                      {{0, 1, 100, kEn, {{3, 0.5f}}},
                       {0, 2, 101, kEn, {{3, 0.4f}, {1, 0.0f}}},
                       {0, 3, 102, kEn, {}},
                       {0, 4, 103, kJa, {{3, 0.2f}, {5, 1.0f}}}},
                      2)
                  .ok());
  ASSERT_TRUE(AddRows(stats,
                      {{0, 5, 104, kJa, {{5, 0.3f}, {3, 0.9f}}},
                       {0, 6, 100, kJa, {{3, 0.1f}}},
                       {1, 1, 100, kEn, {{3, 0.7f}}},
                       {1, 2, 105, kEn, {}}},
                      2)
                  .ok());
  EXPECT_EQ(stats.rows(), 8);
  EXPECT_EQ(stats.rows_by_language()[kJa], 3);
  const FeatureStats& f3 = stats.feature(3);
  EXPECT_EQ(f3.count, 6);
  EXPECT_EQ(f3.runs, 3);
  EXPECT_DOUBLE_EQ(f3.mean_span(), 2.0);
  EXPECT_EQ(f3.en_count(), 3);
  EXPECT_EQ(f3.ja_count(), 3);
  EXPECT_EQ(f3.token_counts.at(100), 3);
  EXPECT_EQ(f3.token_counts.size(), 4u);
  const FeatureStats& f5 = stats.feature(5);
  EXPECT_EQ(f5.count, 2);
  EXPECT_EQ(f5.runs, 1);
  EXPECT_DOUBLE_EQ(f5.mean_span(), 2.0);
  // Latent 1 appeared only with value 0; padding latents 6, 7 likewise.
  for (int64_t dead : {0, 1, 2, 4, 6, 7}) {
    EXPECT_TRUE(stats.feature(dead).dead()) << dead;
    EXPECT_EQ(stats.feature(dead).mean_span(), 0.0);
  }
  // Per-window maxima: w0's max moved from p1 (0.5) to p5 (0.9) in the second batch.
  ASSERT_EQ(f3.window_max_tokens.size(), 2u);
  EXPECT_EQ(f3.window_max_tokens[0].window, 0);
  EXPECT_EQ(f3.window_max_tokens[0].position, 5);
  EXPECT_EQ(f3.window_max_tokens[0].token_id, 104);
  EXPECT_EQ(f3.window_max_tokens[1].token_id, 100);
}

TEST(FeatureStatisticsTest, KeepsTheTopExamplesByValueTiesEarlierFirst) {
  FeatureStatistics stats = MustCreate(4, {.top_examples = 3});
  ASSERT_TRUE(AddRows(stats,
                      {{0, 1, 10, kEn, {{0, 0.5f}}},
                       {0, 2, 11, kEn, {{0, 0.9f}}},
                       {0, 3, 12, kEn, {{0, 0.7f}}},
                       {1, 1, 13, kEn, {{0, 0.9f}}},
                       {1, 2, 14, kEn, {{0, 0.1f}}}},
                      1)
                  .ok());
  ASSERT_TRUE(AddRows(stats, {{2, 1, 15, kEn, {{0, 0.8f}}}}, 1).ok());
  const std::vector<ActivationExample>& top = stats.feature(0).top;
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].value, 0.9f);
  EXPECT_EQ(top[0].token_id, 11);
  EXPECT_EQ(top[1].value, 0.9f);
  EXPECT_EQ(top[1].window, 1);
  EXPECT_EQ(top[1].position, 1);
  EXPECT_EQ(top[2].value, 0.8f);
  EXPECT_EQ(top[2].window, 2);
}

TEST(FeatureStatisticsTest, AuthorsRuleReadsOnlyTheFirstFiftyWindows) {
  // Latent 0 fires once in each of 60 windows: Japanese tokens in the first
  // 50, English in the last 10.
  FeatureStatistics capped = MustCreate(2);
  FeatureStatistics uncapped = MustCreate(2, {.max_token_windows = 60});
  std::vector<Row> rows;
  for (int64_t w = 0; w < 60; ++w) rows.push_back({w, 1, w < 50 ? 1 : 2, w < 50 ? kJa : kEn, {{0, 1.0f}}});
  ASSERT_TRUE(AddRows(capped, rows, 1).ok());
  ASSERT_TRUE(AddRows(uncapped, rows, 1).ok());
  const TokenText text = [](int64_t id) -> std::string { return id == 1 ? "です" : "the"; };
  ASSERT_EQ(capped.feature(0).window_max_tokens.size(), 50u);
  EXPECT_EQ(capped.feature(0).window_max_tokens.back().window, 49);
  EXPECT_EQ(*ClassifyFeature(capped.feature(0), LanguageRule::kAuthorsMaxToken, 0.9, text), FeatureLanguage::kJapanese);
  EXPECT_EQ(*ClassifyFeature(uncapped.feature(0), LanguageRule::kAuthorsMaxToken, 0.9, text), FeatureLanguage::kMixed);
  // All 60 activations: 50/60 Japanese is below 0.9.
  EXPECT_EQ(*ClassifyFeature(capped.feature(0), LanguageRule::kAllActivations, 0.9, text), FeatureLanguage::kMixed);
  EXPECT_EQ(*ClassifyFeature(capped.feature(1), LanguageRule::kAuthorsMaxToken, 0.9, text), FeatureLanguage::kDead);
}

TEST(FeatureStatisticsTest, RefusedBatchesCountNothing) {
  FeatureStatistics stats = MustCreate(4);
  ASSERT_TRUE(AddRows(stats, {{3, 5, 1, kEn, {{0, 1.0f}}}}, 2).ok());
  // Out of order against the previous call, within a batch, repeated
  // latent, unknown language, latent out of range.
  EXPECT_FALSE(AddRows(stats, {{3, 5, 1, kEn, {{0, 1.0f}}}}, 2).ok());
  EXPECT_FALSE(AddRows(stats, {{4, 2, 1, kEn, {{0, 1.0f}}}, {4, 1, 1, kEn, {}}}, 2).ok());
  EXPECT_FALSE(AddRows(stats, {{5, 1, 1, kEn, {{0, 1.0f}, {0, 0.5f}}}}, 2).ok());
  EXPECT_FALSE(AddRows(stats, {{5, 1, 1, 7, {{0, 1.0f}}}}, 2).ok());
  EXPECT_FALSE(AddRows(stats, {{5, 1, 1, kEn, {{4, 1.0f}}}}, 2).ok());
  EXPECT_EQ(stats.rows(), 1);
  EXPECT_EQ(stats.feature(0).count, 1);
  // The same latent again in the next window after all those refusals.
  ASSERT_TRUE(AddRows(stats, {{5, 1, 1, kEn, {{0, 1.0f}}}}, 2).ok());
  EXPECT_EQ(stats.feature(0).count, 2);
  EXPECT_EQ(stats.feature(0).runs, 2);
  // Shapes and dtypes.
  auto [codes, labels] = MakeBatch({{6, 1, 1, kEn, {}}}, 2, 4);
  EXPECT_FALSE(stats.Add({codes.values, codes.indices.to(torch::kFloat32)}, labels).ok());
  EXPECT_FALSE(
      stats.Add(codes, {labels.token_ids, labels.languages, labels.windows.narrow(0, 0, 0), labels.positions}).ok());
  EXPECT_FALSE(FeatureStatistics::Create(0).ok());
  EXPECT_FALSE(FeatureStatistics::Create(4, {.top_examples = -1}).ok());
}

TEST(FeatureStatisticsTest, CountsMatchATensorReferenceOnRandomCodesSplitAnywhere) {
  torch::manual_seed(7);
  const int64_t n_latents = 512, k = 8, rows = 3000;
  // Distinct latents per row (top-k of random scores), some values zero.
  const torch::Tensor indices = std::get<1>(torch::rand({rows, n_latents}).topk(k, 1));
  const torch::Tensor values = torch::relu(torch::randn({rows, k}));
  const torch::Tensor positions = torch::arange(rows) % 64 + 1;
  const torch::Tensor windows = torch::arange(rows).div(64, "floor").to(torch::kInt64);
  const torch::Tensor tokens = torch::randint(0, 50, {rows}, torch::kInt64);
  const torch::Tensor languages = (windows % 2).to(torch::kUInt8);
  FeatureStatistics stats = MustCreate(n_latents);
  for (int64_t start = 0; start < rows; start += 700) {  // 700 is not a multiple of 64
    const int64_t len = std::min<int64_t>(700, rows - start);
    ASSERT_TRUE(stats
                    .Add({values.narrow(0, start, len), indices.narrow(0, start, len)},
                         {tokens.narrow(0, start, len), languages.narrow(0, start, len), windows.narrow(0, start, len),
                          positions.narrow(0, start, len)})
                    .ok());
  }
  const torch::Tensor fired = indices.masked_select(values > 0);
  const torch::Tensor expected = torch::bincount(fired, {}, n_latents);
  int64_t total = 0;
  for (int64_t i = 0; i < n_latents; ++i) {
    ASSERT_EQ(stats.feature(i).count, expected[i].item<int64_t>()) << i;
    EXPECT_EQ(stats.feature(i).en_count() + stats.feature(i).ja_count(), stats.feature(i).count);
    total += stats.feature(i).count;
  }
  EXPECT_EQ(total, fired.numel());
  // Runs by brute force for one busy latent.
  const int64_t latent = fired[0].item<int64_t>();
  const torch::Tensor on = ((indices == latent) & (values > 0)).any(1);
  int64_t runs = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const bool prev = r > 0 && on[r - 1].item<bool>() && windows[r - 1].item<int64_t>() == windows[r].item<int64_t>();
    if (on[r].item<bool>() && !prev) ++runs;
  }
  EXPECT_EQ(stats.feature(latent).runs, runs);
}

// ---------------------------------------------------------------- report

TEST(FeatureReportTest, MarkTokenCutsAndMarks) {
  const std::vector<std::string> texts = {"<s>", "a", "b", "c", "d", "e"};
  EXPECT_EQ(*MarkToken(texts, 3, 1, 1), "…b[[c]]d…");
  EXPECT_EQ(*MarkToken(texts, 1, 5, 10), "<s>[[a]]bcde");
  EXPECT_EQ(*MarkToken(texts, 5, 0, 3), "…[[e]]");
  EXPECT_FALSE(MarkToken(texts, 6, 1, 1).ok());
  EXPECT_FALSE(MarkToken(texts, 2, -1, 1).ok());
}

// Four latents: 0 Japanese, 1 English, 2 Mixed, 3 dead.
FeatureStatistics ReportStatistics() {
  FeatureStatistics stats = MustCreate(4, {.top_examples = 2});
  std::vector<Row> rows;
  for (int64_t p = 1; p <= 10; ++p) {
    // Latent 0: ja on 9 of 10 rows; latent 1: English on every row of window 1.
    rows.push_back({0, p, 10 + p % 2, p == 10 ? kEn : kJa, {{0, 0.1f * static_cast<float>(p)}}});
  }
  for (int64_t p = 1; p <= 4; ++p) rows.push_back({1, p, 10, kEn, {{1, 1.0f}, {2, p % 2 == 0 ? 1.0f : 0.0f}}});
  rows.push_back({2, 1, 30, kJa, {{2, 1.0f}}});
  rows.push_back({2, 3, 30, kJa, {{2, 1.0f}}});
  EXPECT_TRUE(AddRows(stats, rows, 2).ok());
  return stats;
}

TEST(FeatureReportTest, RecordsSummaryAndJson) {
  const FeatureStatistics stats = ReportStatistics();
  torch::Tensor table = torch::zeros({40, 2});
  table[10] = torch::tensor({1.0f, 0.0f});
  table[11] = torch::tensor({0.0f, 1.0f});
  table[30] = torch::tensor({0.0f, 1.0f});
  const TokenEmbeddings embeddings = *TokenEmbeddings::FromTensor(table);
  const SnippetText snippet = [](int64_t window, int64_t position) -> absl::StatusOr<std::string> {
    return absl::StrCat("w", window, "[[", position, "]]");
  };
  absl::StatusOr<FeatureReport> report =
      BuildFeatureReport(stats, {.embeddings = &embeddings, .snippet_text = snippet}, {});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->features.size(), 4u);
  const FeatureRecord& ja = report->features[0];
  EXPECT_EQ(ja.language, FeatureLanguage::kJapanese);
  EXPECT_EQ(ja.ja_count, 9);
  EXPECT_DOUBLE_EQ(ja.mean_span, 10.0);
  EXPECT_NEAR(ja.r, 0.0, 1e-12);  // tokens 10 and 11 are orthogonal
  ASSERT_EQ(ja.top.size(), 2u);
  EXPECT_EQ(ja.top[0].example.position, 10);
  EXPECT_EQ(ja.top[0].text, "w0[[10]]");
  EXPECT_EQ(ja.top[1].example.position, 9);
  EXPECT_EQ(report->features[1].language, FeatureLanguage::kEnglish);
  EXPECT_EQ(report->features[1].r, 1.0);
  const FeatureRecord& mixed = report->features[2];
  EXPECT_EQ(mixed.language, FeatureLanguage::kMixed);  // 2 en (w1 p2, p4), 2 ja
  EXPECT_EQ(mixed.count, 4);
  EXPECT_DOUBLE_EQ(mixed.mean_span, 1.0);
  EXPECT_EQ(mixed.clusters, 2);
  EXPECT_TRUE(std::isnan(report->features[3].r));

  const SaeSummary& s = report->summary;
  EXPECT_EQ(s.live, 3);
  EXPECT_EQ(s.dead, 1);
  EXPECT_DOUBLE_EQ(s.fraction_japanese, 0.25);
  EXPECT_DOUBLE_EQ(s.fraction_english, 0.25);
  EXPECT_DOUBLE_EQ(s.fraction_mixed, 0.25);
  EXPECT_DOUBLE_EQ(s.fraction_dead, 0.25);
  EXPECT_DOUBLE_EQ(s.mean_span, (10.0 + 4.0 + 1.0) / 3);
  EXPECT_NEAR(s.mean_r, (0.0 + 1.0 + 0.0) / 3, 1e-12);

  const nlohmann::json json = FeatureReportToJson(*report);
  EXPECT_EQ(json["rule"], "all_activations");
  EXPECT_DOUBLE_EQ(json["threshold"].get<double>(), 0.9);
  EXPECT_EQ(json["features"].size(), 4u);
  EXPECT_EQ(json["features"][0]["class"], "japanese");
  EXPECT_EQ(json["features"][0]["top"][0]["text"], "w0[[10]]");
  EXPECT_TRUE(json["features"][3]["r"].is_null());
  EXPECT_EQ(json["features"][3]["class"], "dead");
  EXPECT_EQ(json["summary"]["live"], 3);

  // Without embeddings there is no R; the authors' rule needs the text.
  absl::StatusOr<FeatureReport> plain = BuildFeatureReport(stats, {}, {});
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(std::isnan(plain->features[0].r));
  EXPECT_TRUE(std::isnan(plain->summary.mean_r));
  EXPECT_FALSE(BuildFeatureReport(stats, {}, {.rule = LanguageRule::kAuthorsMaxToken}).ok());
  const SnippetText failing = [](int64_t, int64_t) -> absl::StatusOr<std::string> {
    return absl::NotFoundError("no window");
  };
  EXPECT_EQ(BuildFeatureReport(stats, {.snippet_text = failing}, {}).status().code(), absl::StatusCode::kNotFound);
}

TEST(FeatureReportTest, SummaryFractionsSumToOne) {
  std::vector<FeatureRecord> records(7);
  const FeatureLanguage classes[] = {FeatureLanguage::kJapanese, FeatureLanguage::kJapanese, FeatureLanguage::kEnglish,
                                     FeatureLanguage::kMixed,    FeatureLanguage::kDead,     FeatureLanguage::kDead,
                                     FeatureLanguage::kMixed};
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].language = classes[i];
    records[i].mean_span = classes[i] == FeatureLanguage::kDead ? 0.0 : 2.0;
    records[i].r = classes[i] == FeatureLanguage::kDead ? kNotComputed : 0.5;
  }
  const SaeSummary s = Summarize(records);
  EXPECT_NEAR(s.fraction_japanese + s.fraction_english + s.fraction_mixed + s.fraction_dead, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(s.fraction_japanese, 2.0 / 7);
  EXPECT_DOUBLE_EQ(s.fraction_dead, 2.0 / 7);
  EXPECT_EQ(s.live, 5);
  EXPECT_DOUBLE_EQ(s.mean_r, 0.5);
  EXPECT_DOUBLE_EQ(s.mean_span, 2.0);
}

TEST(FeatureReportTest, WritesFeaturesJsonWithBrokenUtf8Replaced) {
  const FeatureStatistics stats = ReportStatistics();
  const SnippetText broken = [](int64_t, int64_t) -> absl::StatusOr<std::string> { return std::string("x\xE3\x81"); };
  absl::StatusOr<FeatureReport> report = BuildFeatureReport(stats, {.snippet_text = broken}, {});
  ASSERT_TRUE(report.ok());
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / absl::StrCat("lm_analysis_test_", getpid(), "_features.json");
  ASSERT_TRUE(WriteFeaturesJson(*report, path).ok());
  absl::StatusOr<std::string> text = fs::ReadFile(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(text.ok());
  const nlohmann::json json = nlohmann::json::parse(*text);
  EXPECT_EQ(json["features"][0]["top"][0]["text"], "x\xEF\xBF\xBD");  // one U+FFFD for the cut sequence
  EXPECT_EQ(json["summary"]["n_latents"], 4);
}

}  // namespace
}  // namespace expsvc::lm
