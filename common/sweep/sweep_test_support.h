#pragma once
// Tests only: parsing a sweep from a string and reading its errors, shared
// by the parser's and the expansion's tests.

#include <string>
#include <string_view>
#include <vector>

#include "common/kinds/job_kind_catalog.h"
#include "common/sweep/sweep_spec.h"
#include "gtest/gtest.h"

namespace expsvc::sweep_testing {

// The catalog's kinds as the unknown-kind error lists them.
inline std::string KnownKindList() {
  std::string list;
  for (const JobKindSpec& kind : AllJobKinds()) list += (list.empty() ? "" : ", ") + kind.name;
  return list;
}

using Json = nlohmann::json;

inline absl::StatusOr<SweepPlan> Parse(std::string_view yaml, const ExpandOptions& options = {}) {
  return ParseSweep(yaml, "sweep.yaml", options);
}

inline SweepPlan ParseOk(std::string_view yaml) {
  absl::StatusOr<SweepPlan> plan = Parse(yaml);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *std::move(plan) : SweepPlan{};
}

// The error message of a sweep expected to be refused.
inline std::string ErrorOf(std::string_view yaml, const ExpandOptions& options = {}) {
  absl::StatusOr<SweepPlan> plan = Parse(yaml, options);
  EXPECT_FALSE(plan.ok()) << "unexpectedly parsed:\n" << yaml;
  if (plan.ok()) return "";
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(plan.status().message());
}

inline ::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

inline std::vector<int64_t> Parents(const SweepPlan& plan, size_t job) {
  return plan.jobs.at(job).parents;
}

}  // namespace expsvc::sweep_testing
