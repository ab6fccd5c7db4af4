#include "client/expctl/sae_report.h"

#include <gtest/gtest.h>

#include "client/expctl/exit_codes.h"

namespace expsvc::expctl {
namespace {

ReportJob Analysis(int64_t id, const std::string& model, int64_t layer, int64_t checkpoint,
                   std::map<std::string, double> metrics = {}) {
  nlohmann::json params = {{"layer", layer}, {"checkpoint", checkpoint}, {"language_rule", "all_activations"}};
  if (!model.empty()) params["model"] = model;
  return ReportJob{.job_id = id, .params = std::move(params), .metrics = std::move(metrics)};
}

std::map<std::string, double> Fractions(double japanese, double english, double mixed, double dead, double r) {
  return {{"fraction_japanese", japanese},
          {"fraction_english", english},
          {"fraction_mixed", mixed},
          {"fraction_dead", dead},
          {"mean_r", r}};
}

SaeReport Build(const std::vector<ReportJob>& jobs, SaeReportOptions options = {}) {
  absl::StatusOr<SaeReport> report = BuildSaeReport(jobs, options);
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? *report : SaeReport{};
}

TEST(SaeReportTest, LayersAndCheckpointsAreOrderedNumerically) {
  // Given out of order, and so that text order would differ (10 < 2, 1000 < 20).
  const std::vector<ReportJob> jobs = {
      Analysis(1, "", 10, 1000, Fractions(0.1, 0.2, 0.6, 0.1, 0.5)),
      Analysis(2, "", 2, 20, Fractions(0.2, 0.2, 0.5, 0.1, 0.4)),
      Analysis(3, "", 2, 1000, Fractions(0.3, 0.3, 0.3, 0.1, 0.8)),
      Analysis(4, "", 10, 20, Fractions(0.0, 0.1, 0.8, 0.1, 0.2)),
  };
  SaeReport report = Build(jobs);
  ASSERT_EQ(report.models.size(), 1u);
  const SaeModelReport& model = report.models[0];
  EXPECT_EQ(model.model, "");
  EXPECT_EQ(model.layers, (std::vector<int64_t>{2, 10}));
  EXPECT_EQ(model.checkpoints, (std::vector<int64_t>{20, 1000}));
  EXPECT_DOUBLE_EQ(model.Cell("fraction_mixed", 0, 0).value, 0.5);  // layer 2, step 20
  EXPECT_DOUBLE_EQ(model.Cell("fraction_mixed", 1, 1).value, 0.6);  // layer 10, step 1000
  EXPECT_DOUBLE_EQ(model.Cell("mean_r", 0, 1).value, 0.8);
  EXPECT_EQ(model.language_layer, 2);  // the lower middle of {2, 10}

  EXPECT_EQ(RenderSaeReportMarkdown(report),
            "Mixed fraction (fraction_mixed); rows: layer, columns: checkpoint (step)\n"
            "\n"
            "| layer |    20 |  1000 |\n"
            "| ----- | ----: | ----: |\n"
            "| 2     | 0.500 | 0.300 |\n"
            "| 10    | 0.800 | 0.600 |\n"
            "\n"
            "Mean R (mean_r); rows: layer, columns: checkpoint (step)\n"
            "\n"
            "| layer |    20 |  1000 |\n"
            "| ----- | ----: | ----: |\n"
            "| 2     | 0.400 | 0.800 |\n"
            "| 10    | 0.200 | 0.500 |\n"
            "\n"
            "Languages at layer 2 (fractions of all latents)\n"
            "\n"
            "| checkpoint | Japanese | English | Mixed |  dead |\n"
            "| ---------- | -------: | ------: | ----: | ----: |\n"
            "| 20         |    0.200 |   0.200 | 0.500 | 0.100 |\n"
            "| 1000       |    0.300 |   0.300 | 0.300 | 0.100 |\n");
}

TEST(SaeReportTest, MissingMetricsAndPendingJobsShowAsDashes) {
  const std::vector<ReportJob> jobs = {
      Analysis(1, "", 1, 10, {{"fraction_mixed", 0.67}}),  // no mean_r, no language split
      Analysis(2, "", 1, 100),                             // not reported yet
      Analysis(3, "", 2, 10, Fractions(0.25, 0.25, 0.25, 0.25, 0.9)),
  };
  SaeReport report = Build(jobs, {.layer = 1});
  const SaeModelReport& model = report.models[0];
  EXPECT_EQ(model.Cell("mean_r", 0, 0).count, 0);
  EXPECT_EQ(model.Cell("fraction_mixed", 0, 1).count, 0);
  EXPECT_EQ(model.jobs[0][1], 1);  // the pending job keeps its place
  EXPECT_EQ(model.Cell("fraction_mixed", 1, 1).count, 0);
  EXPECT_EQ(model.jobs[1][1], 0);  // no job at layer 2, step 100

  const std::string text = RenderSaeReportMarkdown(report);
  EXPECT_NE(text.find("| 1     | 0.670 |   - |\n| 2     | 0.250 |   - |\n"), std::string::npos) << text;
  EXPECT_NE(text.find("| 10         |        - |       - | 0.670 |    - |\n"
                      "| 100        |        - |       - |     - |    - |\n"),
            std::string::npos)
      << text;

  // CSV: one line per job site, empty cells for missing values.
  EXPECT_EQ(RenderSaeReportCsv(report),
            "model,layer,checkpoint,fraction_japanese,fraction_english,fraction_mixed,fraction_dead,mean_r,mean_span,jobs\n"
            ",1,10,,,0.67,,,,1\n"
            ",1,100,,,,,,,1\n"
            ",2,10,0.25,0.25,0.25,0.25,0.9,,1\n");
  const nlohmann::json json = SaeReportToJson(report);
  EXPECT_EQ(json["models"][0]["values"]["mean_r"], nlohmann::json::parse("[[null, null], [0.9, null]]"));
  EXPECT_EQ(json["models"][0]["language_layer"], 1);
}

TEST(SaeReportTest, OneSectionPerModelInTheOrderOfTheirFirstJob) {
  std::vector<ReportJob> jobs;
  int64_t id = 1;
  // llm-jp-3-440m's jobs come first in the sweep; text order would put 150m first.
  for (int64_t layer = 1; layer <= 4; ++layer) jobs.push_back(Analysis(id++, "llm-jp-3-440m", layer, 988240));
  for (int64_t layer = 1; layer <= 3; ++layer) jobs.push_back(Analysis(id++, "llm-jp-3-150m", layer, 988240));
  std::reverse(jobs.begin(), jobs.end());  // the input order does not matter
  SaeReport report = Build(jobs);
  ASSERT_EQ(report.models.size(), 2u);
  EXPECT_EQ(report.models[0].model, "llm-jp-3-440m");
  EXPECT_EQ(report.models[0].language_layer, 2);  // the lower middle of 1..4
  EXPECT_EQ(report.models[1].model, "llm-jp-3-150m");
  EXPECT_EQ(report.models[1].language_layer, 2);  // the middle of 1..3
  const std::string text = RenderSaeReportMarkdown(report);
  EXPECT_EQ(text.rfind("## model llm-jp-3-440m\n", 0), 0u) << text;
  EXPECT_NE(text.find("\n## model llm-jp-3-150m\n"), std::string::npos) << text;
}

TEST(SaeReportTest, LayerOptionPicksTheLanguageTable) {
  const std::vector<ReportJob> jobs = {
      Analysis(1, "small", 1, 10, Fractions(0.1, 0.1, 0.7, 0.1, 0.3)),
      Analysis(2, "small", 2, 10, Fractions(0.2, 0.2, 0.5, 0.1, 0.6)),
      Analysis(3, "large", 1, 10),
      Analysis(4, "large", 2, 10),
      Analysis(5, "large", 3, 10),
  };
  SaeReport report = Build(jobs, {.layer = 3});
  EXPECT_FALSE(report.models[0].language_layer.has_value());  // small has no layer 3
  EXPECT_EQ(report.models[1].language_layer, 3);
  EXPECT_NE(RenderSaeReportMarkdown(report).find("No analysis at layer 3 in this model (layers 1, 2).\n"),
            std::string::npos);

  absl::StatusOr<SaeReport> absent = BuildSaeReport(jobs, {.layer = 7});
  ASSERT_FALSE(absent.ok());
  EXPECT_TRUE(IsUsageError(absent.status()));
  EXPECT_EQ(absent.status().message(), "--layer: no analyze_sae job has layer 7 (layers: 1, 2, 3)");
}

TEST(SaeReportTest, RepeatedAnalysesAreAveragedAndCounted) {
  const std::vector<ReportJob> jobs = {
      Analysis(1, "", 1, 10, {{"fraction_mixed", 0.2}}),
      Analysis(2, "", 1, 10, {{"fraction_mixed", 0.4}}),
  };
  SaeReport report = Build(jobs);
  const SaeCell& cell = report.models[0].Cell("fraction_mixed", 0, 0);
  EXPECT_EQ(cell.count, 2);
  EXPECT_DOUBLE_EQ(cell.value, 0.3);
  EXPECT_NE(RenderSaeReportMarkdown(report).find("0.300 (n=2)"), std::string::npos);
}

TEST(SaeReportTest, CheckpointZeroIsTheLastOfTheParentRun) {
  SaeReport report = Build({Analysis(1, "", 1, 0, {{"fraction_mixed", 0.5}})});
  EXPECT_NE(RenderSaeReportMarkdown(report).find("| layer |  last |\n"), std::string::npos);
}

TEST(SaeReportTest, NoUsableJobIsAnError) {
  absl::StatusOr<SaeReport> none = BuildSaeReport({});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  ReportJob odd{.job_id = 1, .params = {{"layer", "middle"}, {"checkpoint", 10}}, .metrics = {}};
  EXPECT_EQ(BuildSaeReport({odd}).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace expsvc::expctl
