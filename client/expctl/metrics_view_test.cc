#include "client/expctl/metrics_view.h"

#include <gtest/gtest.h>

namespace expsvc::expctl {
namespace {

v1::QueryMetricsResponse ThreeJobs() {
  v1::QueryMetricsResponse response;
  struct Spec {
    int64_t id;
    const char* params;
    double loss;
    bool has_acc;
  };
  // Out of order on purpose: the view sorts by job id.
  for (const Spec& spec : {Spec{3, R"({"lr":0.01,"seed":1,"model":"tiny"})", 0.25, false},
                           Spec{1, R"({"lr":0.1,"seed":1,"model":"tiny"})", 1.0 / 3, true},
                           Spec{2, R"({"lr":0.1,"seed":2,"model":"tiny"})", 0.5, true}}) {
    v1::MetricsRow* row = response.add_rows();
    row->set_job_id(spec.id);
    row->set_stage("train");
    row->set_state("succeeded");
    row->set_params_json(spec.params);
    (*row->mutable_values())["loss"] = spec.loss;
    if (spec.has_acc) (*row->mutable_values())["acc"] = 0.9;
  }
  response.add_keys("acc");
  response.add_keys("loss");
  return response;
}

TEST(MetricsViewTest, PivotsOnlyVaryingParams) {
  MetricsView view = BuildMetricsView(ThreeJobs(), {});
  EXPECT_EQ(view.param_columns, (std::vector<std::string>{"lr", "seed"}));
  EXPECT_EQ(view.key_columns, (std::vector<std::string>{"acc", "loss"}));
  ASSERT_EQ(view.rows.size(), 3u);
  EXPECT_EQ(view.rows[0].job_id, 1);
  EXPECT_EQ(view.rows[2].job_id, 3);
  EXPECT_FALSE(view.rows[2].values[0].has_value()) << "job 3 has no acc";
}

TEST(MetricsViewTest, AllParamsAndExplicitKeys) {
  MetricsView view = BuildMetricsView(ThreeJobs(), {.all_params = true, .keys = {"loss"}});
  EXPECT_EQ(view.param_columns, (std::vector<std::string>{"lr", "model", "seed"}));
  EXPECT_EQ(view.key_columns, (std::vector<std::string>{"loss"}));
  EXPECT_EQ(view.rows[0].values.size(), 1u);
}

TEST(MetricsViewTest, TableHasSixSignificantDigits) {
  std::string table = RenderMetricsTable(BuildMetricsView(ThreeJobs(), {}), 120);
  EXPECT_EQ(table,
            "JOB  STAGE  STATE        lr  seed  acc      loss\n"
            "  1  train  succeeded   0.1     1  0.9  0.333333\n"
            "  2  train  succeeded   0.1     2  0.9       0.5\n"
            "  3  train  succeeded  0.01     1    -      0.25\n");
}

TEST(MetricsViewTest, CsvKeepsFullPrecisionAndBlanks) {
  std::string csv = RenderMetricsCsv(BuildMetricsView(ThreeJobs(), {}));
  EXPECT_EQ(csv,
            "job_id,stage,state,lr,seed,acc,loss\n"
            "1,train,succeeded,0.1,1,0.9,0.3333333333333333\n"
            "2,train,succeeded,0.1,2,0.9,0.5\n"
            "3,train,succeeded,0.01,1,,0.25\n");
}

TEST(MetricsViewTest, JsonHasEveryParamAndNullForMissing) {
  nlohmann::json rows = MetricsViewToJson(BuildMetricsView(ThreeJobs(), {}));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["job_id"], 1);
  EXPECT_EQ(rows[0]["params"]["model"], "tiny");
  EXPECT_TRUE(rows[2]["metrics"]["acc"].is_null());
  EXPECT_EQ(rows[2]["metrics"]["loss"], 0.25);
}

TEST(MetricsViewTest, ParamNamedLikeAKeyGetsAPrefix) {
  v1::QueryMetricsResponse response;
  for (int i = 1; i <= 2; ++i) {
    v1::MetricsRow* row = response.add_rows();
    row->set_job_id(i);
    row->set_params_json(i == 1 ? R"({"loss":"l1"})" : R"({"loss":"l2"})");
    (*row->mutable_values())["loss"] = i;
  }
  std::string csv = RenderMetricsCsv(BuildMetricsView(response, {}));
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "job_id,stage,state,param.loss,loss");
}

TEST(MetricsViewTest, SeriesRowsAreSorted) {
  v1::QueryMetricsResponse response;
  v1::MetricsSeries* later = response.add_series();
  later->set_job_id(2);
  later->set_key("loss");
  v1::SeriesPoint* point = later->add_points();
  point->set_step(0);
  point->set_value(1.5);
  v1::MetricsSeries* first = response.add_series();
  first->set_job_id(1);
  first->set_key("loss");
  for (int step : {10, 0}) {
    v1::SeriesPoint* p = first->add_points();
    p->set_step(step);
    p->set_value(step / 10.0);
  }
  EXPECT_EQ(RenderSeriesCsv(response), "job_id,key,step,value\n1,loss,0,0\n1,loss,10,1\n2,loss,0,1.5\n");
  nlohmann::json json = SeriesToJson(response);
  EXPECT_EQ(json[0], nlohmann::json({{"job_id", 1}, {"key", "loss"}, {"step", 0}, {"value", 0.0}}));
}

}  // namespace
}  // namespace expsvc::expctl
