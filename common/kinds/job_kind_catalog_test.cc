#include "common/kinds/job_kind_catalog.h"
#include <algorithm>

#include <string>

#include "gtest/gtest.h"

namespace expsvc {
namespace {

using Json = nlohmann::json;

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

const JobKindSpec& Sleep() {
  const JobKindSpec* kind = FindJobKind("sleep");
  EXPECT_NE(kind, nullptr);
  return *kind;
}

// The error message of a validation expected to fail.
std::string ErrorOf(const JobKindSpec& kind, const Json& params) {
  absl::StatusOr<Json> result = ValidateJobParams(kind, params);
  EXPECT_FALSE(result.ok()) << "unexpectedly valid: " << params.dump();
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

// A kind with every parameter feature, since the catalog's own kinds have
// no required, choice or list parameters.
JobKindSpec TestKind() {
  return {.name = "test",
          .params = {{.name = "model", .type = ParamType::kString, .required = true, .choices = {"a", "b"}},
                     {.name = "layers", .type = ParamType::kIntList, .min = 0, .max = 10},
                     {.name = "lrs", .type = ParamType::kDoubleList, .min = 0},
                     {.name = "tags", .type = ParamType::kStringList},
                     {.name = "flag", .type = ParamType::kBool, .default_value = false},
                     {.name = "extra", .type = ParamType::kObject}}};
}

TEST(JobKindCatalogTest, FindsCatalogKinds) {
  ASSERT_NE(FindJobKind("noop"), nullptr);
  ASSERT_NE(FindJobKind("sleep"), nullptr);
  EXPECT_EQ(FindJobKind("sleep")->name, "sleep");
  EXPECT_EQ(FindJobKind("slep"), nullptr);
  EXPECT_EQ(FindJobKind(""), nullptr);
  ASSERT_GE(AllJobKinds().size(), 5u);
  EXPECT_EQ(AllJobKinds()[0].name, "noop");
  EXPECT_EQ(AllJobKinds()[1].name, "sleep");
  EXPECT_EQ(AllJobKinds()[2].name, "train_music");
  for (const char* kind : {"evaluate_music", "generate_music"}) {
    ASSERT_NE(FindJobKind(kind), nullptr) << kind;
    // Labels let a sweep match these stages to their training on shared axes.
    for (const char* label : {"representation", "attention", "seed", "data_fraction"}) {
      const auto& params = FindJobKind(kind)->params;
      EXPECT_TRUE(std::any_of(params.begin(), params.end(), [&](const ParamSpec& p) { return p.name == label; }))
          << kind << " lacks " << label;
    }
  }
  EXPECT_EQ(FindJobKind("sleep"), &AllJobKinds()[1]);
  // Study kinds take only their own parameters.
  EXPECT_FALSE(FindJobKind("train_music")->accepts_extra_params);
}

TEST(JobKindCatalogTest, ParamTypeNames) {
  EXPECT_EQ(ParamTypeName(ParamType::kInt), "int");
  EXPECT_EQ(ParamTypeName(ParamType::kDoubleList), "list of double");
  EXPECT_EQ(ParamTypeName(ParamType::kObject), "object");
}

TEST(JobKindCatalogTest, FillsSleepDefaults) {
  absl::StatusOr<Json> params = ValidateJobParams(Sleep(), Json::object());
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(*params, Json::parse(R"({"seconds": 1.0, "steps": 10, "fail_attempts": 0, "fail_at_step": -1,
                                     "checkpoint_every": 0, "exit_code": 0})"));
  EXPECT_FALSE(params->contains("note"));  // null default: left absent
  EXPECT_TRUE((*params)["seconds"].is_number_float());
}

TEST(JobKindCatalogTest, KeepsGivenValuesAndTreatsNullAsAbsent) {
  absl::StatusOr<Json> params =
      ValidateJobParams(Sleep(), Json::parse(R"({"seconds": 2, "steps": 4, "note": "hi", "fail_attempts": null})"));
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ((*params)["seconds"], 2);
  EXPECT_TRUE((*params)["seconds"].is_number_integer());  // ints are fine for doubles, and stay ints
  EXPECT_EQ((*params)["steps"], 4);
  EXPECT_EQ((*params)["note"], "hi");
  EXPECT_EQ((*params)["fail_attempts"], 0);

  absl::StatusOr<Json> no_params = ValidateJobParams(*FindJobKind("noop"), Json(nullptr));
  ASSERT_TRUE(no_params.ok()) << no_params.status();
  EXPECT_EQ(*no_params, Json::object());
}

TEST(JobKindCatalogTest, RejectsNonObjects) {
  EXPECT_EQ(ErrorOf(Sleep(), Json::array({1})), "params of kind 'sleep' must be a JSON object, got [1]");
  EXPECT_TRUE(Contains(ErrorOf(Sleep(), Json("seconds")), "must be a JSON object"));
}

TEST(JobKindCatalogTest, RejectsUnknownParameters) {
  EXPECT_EQ(ErrorOf(TestKind(), Json::parse(R"({"model": "a", "modle": "b"})")),
            "kind 'test' has no parameter 'modle' (known: model, layers, lrs, tags, flag, extra)");
  EXPECT_EQ(ErrorOf(JobKindSpec{.name = "bare"}, Json::parse(R"({"x": 1})")),
            "kind 'bare' has no parameter 'x' (known: none)");
}

// noop and sleep are diagnostic kinds: any other parameter is a label.
TEST(JobKindCatalogTest, DiagnosticKindsKeepLabels) {
  EXPECT_TRUE(FindJobKind("noop")->accepts_extra_params);
  EXPECT_TRUE(Sleep().accepts_extra_params);
  EXPECT_FALSE(TestKind().accepts_extra_params);
  absl::StatusOr<Json> params =
      ValidateJobParams(Sleep(), Json::parse(R"({"model": "pythia-70m", "layer": 3, "steps": 2})"));
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ((*params)["model"], "pythia-70m");
  EXPECT_EQ((*params)["layer"], 3);
  EXPECT_EQ((*params)["steps"], 2);
  EXPECT_EQ((*params)["seconds"], 1.0);
  // Declared parameters are still checked next to labels.
  EXPECT_EQ(ErrorOf(Sleep(), Json::parse(R"({"model": "m", "steps": "2"})")),
            "parameter 'steps' of kind 'sleep': expected an integer, got \"2\"");
}

TEST(JobKindCatalogTest, RejectsWrongTypes) {
  EXPECT_EQ(ErrorOf(Sleep(), Json::parse(R"({"seconds": "abc"})")),
            "parameter 'seconds' of kind 'sleep': expected a number, got \"abc\"");
  EXPECT_EQ(ErrorOf(Sleep(), Json::parse(R"({"steps": "3"})")),
            "parameter 'steps' of kind 'sleep': expected an integer, got \"3\"");
  EXPECT_EQ(ErrorOf(Sleep(), Json::parse(R"({"note": 5})")),
            "parameter 'note' of kind 'sleep': expected a string, got 5");
  EXPECT_EQ(ErrorOf(Sleep(), Json::parse(R"({"seconds": true})")),
            "parameter 'seconds' of kind 'sleep': expected a number, got true");
}

TEST(JobKindCatalogTest, RejectsWholeDoublesForInts) {
  const std::string error = ErrorOf(Sleep(), Json::parse(R"({"steps": 3.0})"));
  EXPECT_TRUE(Contains(error, "parameter 'steps' of kind 'sleep': expected an integer, got 3.0"));
  EXPECT_TRUE(Contains(error, "floating-point value is not accepted for an integer, even a whole one"));
}

TEST(JobKindCatalogTest, ChecksBounds) {
  EXPECT_EQ(ErrorOf(Sleep(), Json::parse(R"({"steps": 0})")),
            "parameter 'steps' of kind 'sleep': 0 is below the minimum 1");
  EXPECT_EQ(ErrorOf(Sleep(), Json::parse(R"({"steps": 1000001})")),
            "parameter 'steps' of kind 'sleep': 1000001 is above the maximum 1000000");
  EXPECT_EQ(ErrorOf(Sleep(), Json::parse(R"({"seconds": 86400.5})")),
            "parameter 'seconds' of kind 'sleep': 86400.5 is above the maximum 86400");
  EXPECT_EQ(ErrorOf(Sleep(), Json::parse(R"({"seconds": -0.5})")),
            "parameter 'seconds' of kind 'sleep': -0.5 is below the minimum 0");
  EXPECT_TRUE(ValidateJobParams(Sleep(), Json::parse(R"({"seconds": 86400, "steps": 1000000})")).ok());
  EXPECT_TRUE(ValidateJobParams(Sleep(), Json::parse(R"({"seconds": 0, "steps": 1})")).ok());
}

TEST(JobKindCatalogTest, RequiresRequiredParameters) {
  EXPECT_EQ(ErrorOf(TestKind(), Json::object()), "kind 'test': missing required parameter 'model' (string)");
  absl::StatusOr<Json> params = ValidateJobParams(TestKind(), Json::parse(R"({"model": "b"})"));
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(*params, Json::parse(R"({"model": "b", "flag": false})"));
}

TEST(JobKindCatalogTest, ChecksChoices) {
  EXPECT_EQ(ErrorOf(TestKind(), Json::parse(R"({"model": "c"})")),
            "parameter 'model' of kind 'test': \"c\" is not one of the choices: a, b");
}

TEST(JobKindCatalogTest, ChecksEveryListElement) {
  EXPECT_EQ(ErrorOf(TestKind(), Json::parse(R"({"model": "a", "layers": [1, "x"]})")),
            "parameter 'layers' of kind 'test': element 1: expected an integer, got \"x\"");
  EXPECT_EQ(ErrorOf(TestKind(), Json::parse(R"({"model": "a", "layers": [1, 2, 11]})")),
            "parameter 'layers' of kind 'test': element 2: 11 is above the maximum 10");
  EXPECT_TRUE(Contains(ErrorOf(TestKind(), Json::parse(R"({"model": "a", "layers": [1.0]})")),
                       "parameter 'layers' of kind 'test': element 0: expected an integer, got 1.0 (a floating"));
  EXPECT_EQ(ErrorOf(TestKind(), Json::parse(R"({"model": "a", "layers": 3})")),
            "parameter 'layers' of kind 'test': expected a list, got 3");
  EXPECT_EQ(ErrorOf(TestKind(), Json::parse(R"({"model": "a", "lrs": [0.1, -1]})")),
            "parameter 'lrs' of kind 'test': element 1: -1 is below the minimum 0");
  EXPECT_EQ(ErrorOf(TestKind(), Json::parse(R"({"model": "a", "tags": ["x", 1]})")),
            "parameter 'tags' of kind 'test': element 1: expected a string, got 1");
  absl::StatusOr<Json> params =
      ValidateJobParams(TestKind(), Json::parse(R"({"model": "a", "layers": [], "lrs": [1, 0.5], "tags": ["x"]})"));
  EXPECT_TRUE(params.ok()) << params.status();
}

TEST(JobKindCatalogTest, ChecksBoolsAndObjects) {
  EXPECT_EQ(ErrorOf(TestKind(), Json::parse(R"({"model": "a", "flag": "yes"})")),
            "parameter 'flag' of kind 'test': expected true or false, got \"yes\"");
  EXPECT_EQ(ErrorOf(TestKind(), Json::parse(R"({"model": "a", "extra": [1]})")),
            "parameter 'extra' of kind 'test': expected an object, got [1]");
  absl::StatusOr<Json> params =
      ValidateJobParams(TestKind(), Json::parse(R"({"model": "a", "flag": true, "extra": {"k": [1]}})"));
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ((*params)["flag"], true);
  EXPECT_EQ((*params)["extra"], Json::parse(R"({"k": [1]})"));
}

TEST(JobKindCatalogTest, RejectsIntegersBeyondInt64) {
  EXPECT_TRUE(Contains(ErrorOf(TestKind(), Json::parse(R"({"model": "a", "layers": [18446744073709551615]})")),
                       "does not fit in 64 bits"));
}

}  // namespace
}  // namespace expsvc
