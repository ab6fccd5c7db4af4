// One definition per parameter: the schema's defaults come from the struct,
// Parse fills the struct, and the catalog's kinds parse their own defaults.
#include "common/kinds/kind_definition.h"

#include <gtest/gtest.h>

#include "common/kinds/command_kinds.h"
#include "common/kinds/diagnostic_kinds.h"
#include "common/kinds/job_kind_catalog.h"
#include "common/kinds/lm_kinds.h"
#include "common/kinds/music_kinds.h"
#include "common/kinds/sae_kinds.h"

namespace expsvc::kinds {
namespace {

using Json = nlohmann::json;

struct Base {
  int64_t shared = 5;
};
struct Example : Base {
  int64_t count = 3;
  double rate = 0.5;
  std::string mode = "fast";
  std::optional<std::string> label;
  std::optional<double> fraction;
};

KindDefinition<Example> Definition() {
  KindDefinition<Example> d("example", "A kind for this test.");
  d.Int("count", &Example::count, "How many.", {1, 10})
      .Double("rate", &Example::rate, "How fast.", {0, 1})
      .Choice("mode", &Example::mode, {"slow", "fast"}, "Which way.")
      .OptionalString("label", &Example::label, "A label.")
      .OptionalDouble("fraction", &Example::fraction, "A share.", {0, 1})
      .Int("shared", &Example::shared, "From the base struct.");
  return d;
}

TEST(KindDefinitionTest, SchemaDefaultsComeFromTheStruct) {
  const KindDefinition<Example> d = Definition();
  const JobKindSpec& spec = d.spec();
  ASSERT_EQ(spec.params.size(), 6u);
  EXPECT_EQ(spec.FindParam("count")->default_value, Json(3));
  EXPECT_EQ(spec.FindParam("count")->type, ParamType::kInt);
  EXPECT_EQ(*spec.FindParam("count")->max, 10);
  EXPECT_EQ(spec.FindParam("rate")->default_value, Json(0.5));
  EXPECT_EQ(spec.FindParam("mode")->choices, (std::vector<std::string>{"slow", "fast"}));
  EXPECT_TRUE(spec.FindParam("label")->default_value.is_null());
  EXPECT_TRUE(spec.FindParam("fraction")->default_value.is_null());
  EXPECT_EQ(spec.FindParam("shared")->default_value, Json(5));
}

TEST(KindDefinitionTest, ParseFillsTheStructAndKeepsDefaults) {
  const KindDefinition<Example> d = Definition();
  absl::StatusOr<Example> parsed = d.Parse(Json{{"count", 7}, {"label", "x"}, {"shared", 9}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->count, 7);
  EXPECT_EQ(parsed->rate, 0.5);
  EXPECT_EQ(parsed->mode, "fast");
  EXPECT_EQ(parsed->label, "x");
  EXPECT_FALSE(parsed->fraction.has_value());
  EXPECT_EQ(parsed->shared, 9);
  // An integer where a double is expected is accepted and converted.
  parsed = d.Parse(Json{{"rate", 1}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->rate, 1.0);
}

TEST(KindDefinitionTest, ParseRefusesWhatTheSchemaRefuses) {
  const KindDefinition<Example> d = Definition();
  EXPECT_EQ(d.Parse(Json{{"count", 11}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.Parse(Json{{"mode", "medium"}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.Parse(Json{{"unknown", 1}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.Parse(Json{{"fraction", 2.0}}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KindDefinitionTest, CatalogKindsParseTheirOwnDefaults) {
  EXPECT_EQ(SleepParams::FromJson(Json::object())->steps, 10);
  EXPECT_EQ(TrainMusicParams::FromJson(Json::object())->attention, "Attn");
  EXPECT_EQ(TrainMusicParams::FromJson(Json::object())->threads, 0);
  EXPECT_EQ(EvaluateMusicParams::FromJson(Json::object())->top_p, 0.9);
  EXPECT_FALSE(EvaluateMusicParams::FromJson(Json::object())->attention.has_value());
  EXPECT_EQ(GenerateMusicParams::FromJson(Json::object())->generate_bars, 12);
  EXPECT_EQ(BuildCorpusParams::FromJson(Json::object())->vocab_size, 8000);
  EXPECT_EQ(TrainLmParams::FromJson(Json::object())->warmup_steps, 50);
  EXPECT_EQ(TrainSaeParams::FromJson(Json::object())->n_latents, 32768);
  EXPECT_EQ(TrainSaeParams::FromJson(Json::object())->device, "auto");
  EXPECT_EQ(AnalyzeSaeParams::FromJson(Json::object())->language_threshold, 0.9);
  EXPECT_EQ(InterveneParams::FromJson(Json::object())->layer, 1);
  EXPECT_EQ(CommandParams::FromJson(Json{{"command", {"true"}}})->grace_seconds, 10.0);
  // `command` has no default: it must be given.
  EXPECT_EQ(CommandParams::FromJson(Json::object()).status().code(), absl::StatusCode::kInvalidArgument);
  // Every kind in the catalog is one of these definitions, in this order.
  std::vector<std::string> names;
  for (const JobKindSpec& kind : AllJobKinds()) names.push_back(kind.name);
  EXPECT_EQ(names, (std::vector<std::string>{"noop", "sleep", "train_music", "evaluate_music", "generate_music",
                                             "build_corpus", "train_lm", "train_sae", "analyze_sae", "intervene",
                                             "command"}));
}

TEST(KindDefinitionTest, AttentionChoicesAreTheVariantNamesInPaperOrder) {
  const ParamSpec* attention = TrainMusicParams::Spec().FindParam("attention");
  ASSERT_NE(attention, nullptr);
  EXPECT_EQ(attention->choices, AttentionVariantNames());
  EXPECT_EQ(AttentionVariantNames(),
            (std::vector<std::string>{"Attn", "RelAttn", "RIPOAttn", "CirRelAttn-S", "CirRelAttn-H"}));
  // The evaluation label accepts the same names and nothing else.
  EXPECT_EQ(EvaluateMusicParams::Spec().FindParam("attention")->choices, AttentionVariantNames());
  EXPECT_FALSE(EvaluateMusicParams::FromJson(Json{{"attention", "Atn"}}).ok());
}

}  // namespace
}  // namespace expsvc::kinds
