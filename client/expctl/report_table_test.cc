#include "client/expctl/report_table.h"

#include <gtest/gtest.h>

#include <cmath>

#include "client/expctl/exit_codes.h"

namespace expsvc::expctl {
namespace {

ReportJob Job(int64_t id, nlohmann::json params, std::map<std::string, double> metrics) {
  return ReportJob{.job_id = id, .params = std::move(params), .metrics = std::move(metrics)};
}

ReportTable Build(const std::vector<ReportJob>& jobs, ReportOptions options = {}) {
  absl::StatusOr<ReportTable> table = BuildReportTable(jobs, options);
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *table : ReportTable{};
}

std::vector<std::string> RowTexts(const ReportTable& table) {
  std::vector<std::string> texts;
  for (const ReportRow& row : table.rows) {
    std::string text;
    for (const nlohmann::json& value : row.values) {
      text += (text.empty() ? "" : "/") + (value.is_string() ? value.get<std::string>() : value.dump());
    }
    texts.push_back(text);
  }
  return texts;
}

TEST(ReportTableTest, RepetitionsAreGroupedWithMeanAndSampleStd) {
  // Attn over seeds 1..3: test_loss 1.0, 1.2, 1.4 → mean 1.2,
  // std = sqrt((0.2² + 0² + 0.2²) / (3 − 1)) = 0.2.
  // RelAttn over seeds 1..2: 0.9, 1.0 → mean 0.95, std = sqrt(2 · 0.05² / 1) ≈ 0.0707.
  std::vector<ReportJob> jobs = {
      Job(1, {{"attention", "Attn"}, {"seed", 1}}, {{"test_loss", 1.0}}),
      Job(2, {{"attention", "Attn"}, {"seed", 2}}, {{"test_loss", 1.2}}),
      Job(3, {{"attention", "Attn"}, {"seed", 3}}, {{"test_loss", 1.4}}),
      Job(4, {{"attention", "RelAttn"}, {"seed", 1}}, {{"test_loss", 0.9}}),
      Job(5, {{"attention", "RelAttn"}, {"seed", 2}}, {{"test_loss", 1.0}}),
  };
  ReportTable table = Build(jobs);
  ASSERT_EQ(table.row_params, std::vector<std::string>{"attention"});
  ASSERT_EQ(table.columns.size(), 1u);  // only Loss is reported
  EXPECT_EQ(table.columns[0].label, "Loss");
  ASSERT_EQ(table.rows.size(), 2u);

  const ReportRow& attn = table.rows[0];
  EXPECT_EQ(attn.values[0], "Attn");
  EXPECT_EQ(attn.job_ids, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(attn.repetitions, 3);
  EXPECT_EQ(attn.cells[0].key, "test_loss");
  EXPECT_EQ(attn.cells[0].count, 3);
  EXPECT_NEAR(attn.cells[0].mean, 1.2, 1e-12);
  EXPECT_NEAR(attn.cells[0].std_dev, 0.2, 1e-12);

  const ReportRow& rel = table.rows[1];
  EXPECT_NEAR(rel.cells[0].mean, 0.95, 1e-12);
  EXPECT_NEAR(rel.cells[0].std_dev, std::sqrt(0.005), 1e-12);

  EXPECT_EQ(RenderReportMarkdown(table),
            "| attention |   n |          Loss |\n"
            "| --------- | --: | ------------: |\n"
            "| Attn      |   3 | 1.200 ± 0.200 |\n"
            "| RelAttn   |   2 | 0.950 ± 0.071 |\n");
}

TEST(ReportTableTest, SingleRepetitionShowsTheMeanOnly) {
  ReportTable table = Build({Job(7, {{"attention", "Attn"}}, {{"test_loss", 0.97913}})});
  ASSERT_EQ(table.rows.size(), 1u);
  EXPECT_TRUE(std::isnan(table.rows[0].cells[0].std_dev));
  EXPECT_NE(RenderReportMarkdown(table).find("| 0.979 |"), std::string::npos) << RenderReportMarkdown(table);
}

TEST(ReportTableTest, RowsFollowThePaperOrder) {
  std::vector<ReportJob> jobs;
  int64_t id = 0;
  for (const char* attention : {"CirRelAttn-H", "Zeta", "RelAttn", "Attn", "CirRelAttn-S", "RIPOAttn", "Alpha"}) {
    for (const char* representation : {"event", "note"}) {
      jobs.push_back(Job(++id, {{"representation", representation}, {"attention", attention}}, {{"test_loss", 1.0}}));
    }
  }
  ReportTable table = Build(jobs);
  ASSERT_EQ(table.row_params, (std::vector<std::string>{"representation", "attention"}));
  EXPECT_EQ(RowTexts(table), (std::vector<std::string>{
                                 "note/Attn", "note/RelAttn", "note/RIPOAttn", "note/CirRelAttn-S", "note/CirRelAttn-H",
                                 "note/Alpha", "note/Zeta", "event/Attn", "event/RelAttn", "event/RIPOAttn",
                                 "event/CirRelAttn-S", "event/CirRelAttn-H", "event/Alpha", "event/Zeta"}));
}

TEST(ReportTableTest, DataFractionDescendingOtherValuesAscendingMissingLast) {
  std::vector<ReportJob> jobs = {
      Job(1, {{"data_fraction", 0.125}, {"attention", "Attn"}}, {{"test_loss", 1}}),
      Job(2, {{"data_fraction", 1}, {"attention", "Attn"}}, {{"test_loss", 1}}),
      Job(3, {{"data_fraction", 0.5}, {"attention", "Attn"}}, {{"test_loss", 1}}),
      Job(4, {{"attention", "Attn"}}, {{"test_loss", 1}}),
  };
  ReportTable table = Build(jobs);
  ASSERT_EQ(table.row_params, (std::vector<std::string>{"data_fraction", "attention"}));
  EXPECT_EQ(RowTexts(table), (std::vector<std::string>{"1/Attn", "0.5/Attn", "0.125/Attn", "null/Attn"}));

  // Any other parameter: numbers numerically (2 before 10), then strings.
  std::vector<ReportJob> seeds = {
      Job(1, {{"seed", 10}}, {{"test_loss", 1}}), Job(2, {{"seed", "b"}}, {{"test_loss", 1}}),
      Job(3, {{"seed", 2}}, {{"test_loss", 1}}), Job(4, {{"seed", "a"}}, {{"test_loss", 1}})};
  ReportTable by_seed = Build(seeds, {.row_params = {"seed"}});
  EXPECT_EQ(RowTexts(by_seed), (std::vector<std::string>{"2", "10", "a", "b"}));
}

TEST(ReportTableTest, DefaultRowsOnlyVaryingRepresentationAndFraction) {
  std::vector<ReportJob> one_representation = {
      Job(1, {{"representation", "note"}, {"data_fraction", 1}, {"attention", "Attn"}, {"seed", 1}},
          {{"test_loss", 1}}),
      Job(2, {{"representation", "note"}, {"data_fraction", 0.5}, {"attention", "Attn"}, {"seed", 1}},
          {{"test_loss", 1}}),
  };
  EXPECT_EQ(DefaultRowParams(one_representation), (std::vector<std::string>{"data_fraction", "attention"}));

  // attention is a row even when it has a single value.
  std::vector<ReportJob> one_attention = {
      Job(1, {{"representation", "note"}, {"attention", "Attn"}}, {{"test_loss", 1}}),
      Job(2, {{"representation", "event"}, {"attention", "Attn"}}, {{"test_loss", 1}}),
  };
  EXPECT_EQ(DefaultRowParams(one_attention), (std::vector<std::string>{"representation", "attention"}));

  // A varying event-based pitch rule splits the variants' rows; a single one does not.
  std::vector<ReportJob> pitch_rules = {
      Job(1, {{"attention", "CirRelAttn-H"}, {"event_pitch_rule", "causal"}}, {{"test_loss", 1}}),
      Job(2, {{"attention", "CirRelAttn-H"}, {"event_pitch_rule", "previous_note"}}, {{"test_loss", 1}}),
  };
  EXPECT_EQ(DefaultRowParams(pitch_rules), (std::vector<std::string>{"attention", "event_pitch_rule"}));
  pitch_rules.pop_back();
  EXPECT_EQ(DefaultRowParams(pitch_rules), (std::vector<std::string>{"attention"}));

  // None of the three: a single row holding every job.
  std::vector<ReportJob> plain = {Job(1, {{"lr", 0.1}, {"seed", 1}}, {{"test_loss", 1.0}}),
                                  Job(2, {{"lr", 0.01}, {"seed", 2}}, {{"test_loss", 3.0}})};
  EXPECT_TRUE(DefaultRowParams(plain).empty());
  ReportTable table = Build(plain);
  ASSERT_EQ(table.rows.size(), 1u);
  EXPECT_EQ(table.rows[0].repetitions, 2);
  EXPECT_DOUBLE_EQ(table.rows[0].cells[0].mean, 2.0);

  // --rows overrides.
  ReportTable by_lr = Build(plain, {.row_params = {"lr"}});
  EXPECT_EQ(RowTexts(by_lr), (std::vector<std::string>{"0.01", "0.1"}));
}

TEST(ReportTableTest, JobsWithoutAnyColumnDoNotCountOrNameRows) {
  // A failed job (no metrics) and a preprocessing job with another
  // representation must not add a row nor make representation vary.
  std::vector<ReportJob> jobs = {
      Job(1, {{"representation", "note"}, {"attention", "Attn"}}, {{"test_loss", 1.0}}),
      Job(2, {{"representation", "note"}, {"attention", "Attn"}}, {}),
      Job(3, {{"representation", "event"}}, {{"windows", 100}}),
  };
  ReportTable table = Build(jobs);
  EXPECT_EQ(table.row_params, std::vector<std::string>{"attention"});
  ASSERT_EQ(table.rows.size(), 1u);
  EXPECT_EQ(table.rows[0].job_ids, std::vector<int64_t>{1});
  EXPECT_EQ(table.rows[0].repetitions, 1);
}

TEST(ReportTableTest, MissingMetricsFallbacksAndAbsentColumns) {
  std::vector<ReportJob> jobs = {
      // Attn: two seeds with test_loss, F1 only on one of them.
      Job(1, {{"attention", "Attn"}, {"seed", 1}},
          {{"params", 4321000}, {"test_loss", 1.0}, {"eval_loss", 5.0}, {"note_f1", 0.25}}),
      Job(2, {{"attention", "Attn"}, {"seed", 2}}, {{"params", 4321000}, {"test_loss", 2.0}}),
      // RelAttn: only eval_loss → the Loss column falls back.
      Job(3, {{"attention", "RelAttn"}, {"seed", 1}}, {{"params", 4880000}, {"eval_loss", 0.5}}),
  };
  ReportTable table = Build(jobs);
  std::vector<std::string> labels;
  for (const ReportColumn& column : table.columns) labels.push_back(column.label);
  // ms/note, F1 pianoroll, GS, CS, PRS are nowhere: left out.
  EXPECT_EQ(labels, (std::vector<std::string>{"Params", "Loss", "F1 note"}));

  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[0].cells[1].key, "test_loss");  // Attn has test_loss: eval_loss ignored
  EXPECT_DOUBLE_EQ(table.rows[0].cells[1].mean, 1.5);
  EXPECT_EQ(table.rows[0].cells[2].count, 1);
  EXPECT_EQ(table.rows[1].cells[1].key, "eval_loss");
  EXPECT_EQ(table.rows[1].cells[2].count, 0);
  EXPECT_EQ(table.rows[1].cells[2].key, "");

  EXPECT_EQ(RenderReportMarkdown(table),
            "| attention |   n |    Params |          Loss |     F1 note |\n"
            "| --------- | --: | --------: | ------------: | ----------: |\n"
            "| Attn      |   2 | 4,321,000 | 1.500 ± 0.707 | 0.250 (n=1) |\n"
            "| RelAttn   |   1 | 4,880,000 |       0.500 † |           - |\n"
            "\n"
            "† Loss: from eval_loss where the row has no test_loss.\n");

  EXPECT_EQ(RenderReportCsv(table),
            "attention,n,params_mean,params_std,params_n,loss_mean,loss_std,loss_n,loss_key,"
            "note_f1_mean,note_f1_std,note_f1_n\n"
            "Attn,2,4321000,0,2,1.5,0.7071067811865476,2,test_loss,0.25,,1\n"
            "RelAttn,1,4880000,,1,0.5,,1,eval_loss,,,0\n");

  nlohmann::json json = ReportTableToJson(table);
  EXPECT_EQ(json["row_params"], nlohmann::json({"attention"}));
  EXPECT_EQ(json["columns"][1]["keys"], nlohmann::json({"test_loss", "eval_loss"}));
  const nlohmann::json& attn = json["rows"][0];
  EXPECT_EQ(attn["params"]["attention"], "Attn");
  EXPECT_EQ(attn["n"], 2);
  EXPECT_EQ(attn["job_ids"], nlohmann::json({1, 2}));
  EXPECT_DOUBLE_EQ(attn["values"]["loss"]["mean"].get<double>(), 1.5);
  EXPECT_EQ(attn["values"]["note_f1"]["std"], nullptr);
  EXPECT_EQ(attn["values"]["note_f1"]["n"], 1);
  const nlohmann::json& rel = json["rows"][1];
  EXPECT_EQ(rel["values"]["loss"]["key"], "eval_loss");
  EXPECT_EQ(rel["values"]["note_f1"], nullptr);
}

TEST(ReportTableTest, ExplicitColumnsUseRawKeys) {
  std::vector<ReportJob> jobs = {
      Job(1, {{"attention", "CirRelAttn-H"}},
          {{"self_similarity_lag4", 0.61234}, {"ms_per_note", 20.8123}, {"lr_final", 0.000012344}}),
  };
  ReportTable table = Build(jobs, {.column_keys = {"ms_per_note", "self_similarity_lag4", "lr_final", "note_f1"}});
  ASSERT_EQ(table.columns.size(), 4u);  // kept even where no job has it (note_f1)
  EXPECT_EQ(RenderReportMarkdown(table),
            "| attention    |   n | ms_per_note | self_similarity_lag4 |  lr_final | note_f1 |\n"
            "| ------------ | --: | ----------: | -------------------: | --------: | ------: |\n"
            "| CirRelAttn-H |   1 |       20.81 |               0.6123 | 1.234e-05 |       - |\n");
}

TEST(ReportTableTest, ErrorsSayWhatIsMissing) {
  absl::StatusOr<ReportTable> none = BuildReportTable({}, {});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);

  std::vector<ReportJob> jobs = {Job(1, {{"attention", "Attn"}}, {{"loss", 1.0}, {"acc", 0.5}}),
                                 Job(2, {{"attention", "Attn"}}, {})};
  absl::StatusOr<ReportTable> no_columns = BuildReportTable(jobs, {});
  ASSERT_FALSE(no_columns.ok());
  EXPECT_EQ(no_columns.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(no_columns.status().message().find("its jobs report: acc, loss"), std::string::npos) << no_columns.status();
  EXPECT_NE(no_columns.status().message().find("--columns"), std::string::npos);

  absl::StatusOr<ReportTable> unknown_key = BuildReportTable(jobs, {.column_keys = {"bleu"}});
  EXPECT_EQ(unknown_key.status().code(), absl::StatusCode::kFailedPrecondition);

  absl::StatusOr<ReportTable> unknown_row = BuildReportTable(jobs, {.row_params = {"depth"}, .column_keys = {"loss"}});
  ASSERT_FALSE(unknown_row.ok());
  EXPECT_TRUE(IsUsageError(unknown_row.status())) << unknown_row.status();
}

TEST(ReportTableTest, MarkdownEscapesPipesAndCsvQuotes) {
  std::vector<ReportJob> jobs = {Job(1, {{"attention", "a|b, c"}}, {{"test_loss", 1.0}})};
  ReportTable table = Build(jobs);
  EXPECT_NE(RenderReportMarkdown(table).find("| a\\|b, c "), std::string::npos) << RenderReportMarkdown(table);
  EXPECT_EQ(RenderReportCsv(table),
            "attention,n,loss_mean,loss_std,loss_n,loss_key\n"
            "\"a|b, c\",1,1,,1,test_loss\n");
}

TEST(ReportTableTest, FromMetricsResponse) {
  v1::QueryMetricsResponse response;
  v1::MetricsRow* row = response.add_rows();
  row->set_job_id(9);
  row->set_params_json(R"({"attention":"Attn","seed":1})");
  (*row->mutable_values())["test_loss"] = 0.5;
  std::vector<ReportJob> jobs = ReportJobsFromMetrics(response);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].job_id, 9);
  EXPECT_EQ(jobs[0].params["attention"], "Attn");
  EXPECT_EQ(jobs[0].metrics.at("test_loss"), 0.5);
}

TEST(ReportTableTest, JobsTakeMissingParamsFromTheirParents) {
  // Two trainings (1, 2) and their evaluations (3, 4), which name only the
  // attention; a job with an empty label also inherits.
  std::vector<ReportJob> jobs = {
      {1, {{"representation", "note"}, {"attention", "Attn"}, {"seed", 1}}, {{"test_loss", 4.0}}},
      {2, {{"representation", "note"}, {"attention", "CirRelAttn-H"}, {"seed", 1}}, {{"test_loss", 3.0}}},
      {3, {{"attention", "Attn"}, {"representation", ""}}, {{"note_f1", 0.2}}},
      {4, {{"attention", "CirRelAttn-H"}}, {{"note_f1", 0.3}}},
  };
  std::map<int64_t, nlohmann::json> params;
  for (const ReportJob& job : jobs) params[job.job_id] = job.params;
  InheritParentParams(jobs, {{3, {1}}, {4, {2}}}, params);
  EXPECT_EQ(jobs[2].params["representation"], "note");
  EXPECT_EQ(jobs[2].params["seed"], 1);
  EXPECT_EQ(jobs[3].params["representation"], "note");
  EXPECT_EQ(jobs[3].params["attention"], "CirRelAttn-H") << "own values are kept";
  absl::StatusOr<ReportTable> table = BuildReportTable(jobs, {});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->rows.size(), 2u) << "training and evaluation share a row";
}

TEST(ReportTableTest, JobsWithoutAnyRowParameterAreLeftOut) {
  // A music training and an LM training in one sweep: both report params.
  const std::vector<ReportJob> jobs = {
      {1, {{"representation", "event"}, {"attention", "Attn"}}, {{"params", 100.0}, {"test_loss", 4.0}}},
      {2, {{"layers", 2}, {"hidden", 64}}, {{"params", 354624.0}}},
  };
  absl::StatusOr<ReportTable> table = BuildReportTable(jobs, {});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->row_params, std::vector<std::string>{"attention"});
  ASSERT_EQ(table->rows.size(), 1u);
  EXPECT_EQ(table->rows[0].job_ids, std::vector<int64_t>{1});
}

}  // namespace
}  // namespace expsvc::expctl
