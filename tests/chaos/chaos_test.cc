// Chaos at the SAE study's shape (label: chaos): a sweep laid out like
// examples/sweeps/llmjp-sae.yaml (one group per model x checkpoint, one job
// per layer, plus one dependent job per group) of short sleep jobs that
// checkpoint, run by several workers while a driver SIGKILLs random workers
// (restarting them), kills and restarts the scheduler, and restarts
// PostgreSQL in immediate mode, all with the default max_attempts. At the end
// everything must have succeeded with nothing lost or doubled.
//
// EXPSVC_CHAOS_SCALE=full runs the study's 1572 jobs in 79 groups on 8
// workers with 100 worker kills, 3 scheduler and 2 PostgreSQL restarts;
// the default is a short variant for ./scripts/test.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs/file_io.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "tests/support/local_stack.h"

namespace expsvc::testing {
namespace {

namespace fs = std::filesystem;

struct ChaosScale {
  const char* name;
  // Layers per model, and checkpoints per model: one group per (model, checkpoint).
  std::vector<int> layers;
  std::vector<int> checkpoints_per_model;
  int workers;
  int slots;
  int worker_kills;
  int scheduler_restarts;
  int postgres_restarts;
  double job_seconds;
  int steps;
  int checkpoint_every;
  // The faults are spread over this long.
  double fault_window_s;
  double deadline_s;
};

// The study: LLM-jp v3's five models (12..28 layers), 16 checkpoints each
// except the last model's 15: 1572 jobs in 79 groups.
const ChaosScale kFull{"full", {12, 16, 20, 24, 28}, {16, 16, 16, 16, 15}, 8, 4, 100, 3, 2, 4.0, 8, 1, 180, 1800};
const ChaosScale kShort{"short", {12, 16}, {3, 3}, 4, 2, 12, 1, 1, 1.0, 5, 1, 20, 300};

std::string Range(int from, int to) {
  std::vector<int> values;
  for (int v = from; v <= to; ++v) values.push_back(v);
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

std::string ChaosSweep(const ChaosScale& scale) {
  std::string grids, report_grids;
  for (size_t m = 0; m < scale.layers.size(); ++m) {
    const std::string model = absl::StrCat("model-", m + 1);
    const std::string checkpoints = Range(1, scale.checkpoints_per_model[m]);
    absl::StrAppend(&grids, "      - {model: [", model, "], layer: ", Range(1, scale.layers[m]),
                    ", checkpoint: ", checkpoints, "}\n");
    absl::StrAppend(&report_grids, "      - {model: [", model, "], checkpoint: ", checkpoints, "}\n");
  }
  return absl::StrCat("name: chaos\nstages:\n  - name: sae\n    kind: sleep\n    params: {seconds: ", scale.job_seconds,
                      ", steps: ", scale.steps, ", checkpoint_every: ", scale.checkpoint_every, "}\n    grids:\n", grids,
                      "    group_by: [model, checkpoint]\n  - name: report\n    kind: noop\n    depends_on: sae\n"
                      "    grids:\n",
                      report_grids);
}

int64_t Scalar(const std::string& conninfo, const std::string& sql) {
  for (int attempt = 0;; ++attempt) {
    try {
      pqxx::connection connection(conninfo);
      pqxx::work txn(connection);
      return txn.exec1(sql)[0].as<int64_t>();
    } catch (const std::exception&) {
      if (attempt == 50) throw;  // PostgreSQL restarting: wait for it
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

pqxx::result Rows(const std::string& conninfo, const std::string& sql) {
  pqxx::connection connection(conninfo);
  pqxx::work txn(connection);
  return txn.exec(sql);
}

TEST(ChaosTest, StudyShapedSweepComesOutWholeWhateverDies) {
  const char* scale_name = std::getenv("EXPSVC_CHAOS_SCALE");
  const ChaosScale& scale = scale_name != nullptr && std::string(scale_name) == "full" ? kFull : kShort;
  LocalStack::Options options;
  options.lease_ttl_ms = 3000;
  options.retry_backoff_ms = 100;
  auto started = LocalStack::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  LocalStack& stack = **started;
  const std::string sweep_path = absl::StrCat(stack.directory(), "/chaos.yaml");
  std::ofstream(sweep_path) << ChaosSweep(scale);
  CommandResult submitted = stack.Expctl({"submit", sweep_path});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string& db = stack.conninfo();
  const int64_t total = Scalar(db, "SELECT count(*) FROM jobs");
  const int64_t groups = Scalar(db, "SELECT count(DISTINCT group_key) FROM jobs");
  std::fprintf(stderr, "chaos (%s): %lld jobs, %lld groups, %d workers x %d slots\n", scale.name,
               static_cast<long long>(total), static_cast<long long>(groups), scale.workers, scale.slots);
  for (int i = 0; i < scale.workers; ++i) ASSERT_TRUE(stack.StartWorker(scale.slots, absl::StrCat("chaos-", i)).ok());

  // The faults, shuffled, one every fault_window / count seconds.
  enum class Fault { kWorker, kScheduler, kPostgres };
  std::vector<Fault> faults(scale.worker_kills, Fault::kWorker);
  faults.insert(faults.end(), scale.scheduler_restarts, Fault::kScheduler);
  faults.insert(faults.end(), scale.postgres_restarts, Fault::kPostgres);
  std::mt19937 random(1572);
  std::shuffle(faults.begin(), faults.end(), random);
  const auto begin = std::chrono::steady_clock::now();
  const auto spacing = std::chrono::duration<double>(scale.fault_window_s / static_cast<double>(faults.size()));
  int worker_kills = 0, scheduler_restarts = 0, postgres_restarts = 0;
  for (Fault fault : faults) {
    std::this_thread::sleep_for(spacing);
    switch (fault) {
      case Fault::kWorker: {
        const int index = std::uniform_int_distribution<int>(0, scale.workers - 1)(random);
        stack.StopWorker(index, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 500)(random)));
        ASSERT_TRUE(stack.RestartWorker(index).ok());
        ++worker_kills;
        break;
      }
      case Fault::kScheduler:
        stack.StopScheduler(SIGKILL);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        ASSERT_TRUE(stack.StartScheduler().ok());
        ++scheduler_restarts;
        break;
      case Fault::kPostgres:
        ASSERT_TRUE(stack.RestartPostgres(/*immediate=*/true).ok());
        ++postgres_restarts;
        break;
    }
  }

  const bool finished = WaitFor(
      [&] { return Scalar(db, "SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')") == total; },
      scale.deadline_s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  const int64_t succeeded = Scalar(db, "SELECT count(*) FROM jobs WHERE state = 'succeeded'");
  const int64_t claims = Scalar(db, "SELECT sum(lease_epoch) FROM jobs");
  const int64_t rescues = Scalar(db, "SELECT count(*) FROM job_logs WHERE line LIKE '[scheduler] lease expired%'");
  const int64_t uncounted =
      Scalar(db, "SELECT count(*) FROM job_logs WHERE line LIKE '[scheduler] lease expired after a checkpoint%'");
  const int64_t max_attempt = Scalar(db, "SELECT max(attempt) FROM jobs");
  std::fprintf(stderr,
               "chaos (%s): %lld of %lld succeeded in %.0f s; %d worker kills, %d scheduler restarts, %d PostgreSQL "
               "restarts; %lld leases rescued (%lld after a checkpoint, not counted); %lld claims for %lld jobs; "
               "highest attempt %lld\n",
               scale.name, static_cast<long long>(succeeded), static_cast<long long>(total), seconds, worker_kills,
               scheduler_restarts, postgres_restarts, static_cast<long long>(rescues), static_cast<long long>(uncounted),
               static_cast<long long>(claims), static_cast<long long>(total), static_cast<long long>(max_attempt));
  ASSERT_TRUE(finished) << "jobs stuck: "
                        << Scalar(db, "SELECT count(*) FROM jobs WHERE state IN ('waiting', 'queued', 'running')");
  if (succeeded != total) {
    for (const auto& row : Rows(db, "SELECT id, state, attempt, error FROM jobs WHERE state <> 'succeeded' LIMIT 5")) {
      ADD_FAILURE() << "job " << row[0].c_str() << " " << row[1].c_str() << " (attempt " << row[2].c_str()
                    << "): " << row[3].c_str();
    }
  }
  ASSERT_EQ(succeeded, total);

  // Each job completed once, by the holder of its last epoch: no worker log
  // claims a success under another epoch, or twice.
  std::map<int64_t, int64_t> final_epoch;
  for (const auto& row : Rows(db, "SELECT id, lease_epoch FROM jobs")) {
    final_epoch[row[0].as<int64_t>()] = row[1].as<int64_t>();
  }
  std::map<int64_t, int> successes;
  const std::regex success_line(R"(job (\d+) succeeded in [0-9.]+ s \(epoch (\d+)\))");
  for (int i = 0; i < scale.workers; ++i) {
    const std::string log = ::expsvc::fs::ReadFile(stack.WorkerLog(i)).value_or("");
    for (std::sregex_iterator it(log.begin(), log.end(), success_line), end; it != end; ++it) {
      const int64_t job = std::stoll((*it)[1]);
      EXPECT_EQ(std::stoll((*it)[2]), final_epoch[job]) << "job " << job << " completed under a stale epoch";
      ++successes[job];
    }
  }
  for (const auto& [job, count] : successes) EXPECT_EQ(count, 1) << "job " << job << " completed " << count << " times";
  // A success goes unlogged only when its worker was killed right after it.
  EXPECT_GE(static_cast<int64_t>(successes.size()), total - worker_kills) << "the success log lines were not found";

  // Metrics: one point per step of every sleep job, none past its last step.
  EXPECT_EQ(Scalar(db, absl::StrCat("SELECT count(*) FROM (SELECT job_id FROM metrics WHERE key = 'progress' "
                                    "GROUP BY job_id HAVING count(*) = ",
                                    scale.steps, " AND min(step) = 1 AND max(step) = ", scale.steps, ") whole")),
            Scalar(db, "SELECT count(*) FROM jobs WHERE kind = 'sleep'"));
  EXPECT_EQ(Scalar(db, absl::StrCat("SELECT count(*) FROM metrics WHERE step > ", scale.steps)), 0);

  // Artifacts: every record's file exists with its checksum, and every file
  // under the root (but the scheduler's tmp/) has a record once the start-up
  // sweep has run: a scheduler killed between moving an upload into place
  // and recording it leaves a file that only that sweep removes. Restarted
  // with no age limit (nothing uploads now), it must leave exactly the
  // recorded files.
  stack.StopScheduler(SIGTERM);
  ASSERT_TRUE(stack.StartScheduler({"--unrecorded_file_age_s=0"}).ok());
  std::this_thread::sleep_for(std::chrono::seconds(3));
  std::set<std::string> recorded;
  for (const auto& row : Rows(db, "SELECT storage_path, sha256, size_bytes FROM artifacts")) {
    const std::string path = row[0].c_str();
    recorded.insert(path);
    auto sha = Sha256HexOfFile(path);
    ASSERT_TRUE(sha.ok()) << "artifact file missing: " << path;
    EXPECT_EQ(*sha, row[1].c_str()) << path;
  }
  EXPECT_EQ(recorded.size(), static_cast<size_t>(Scalar(db, "SELECT count(*) FROM jobs WHERE kind = 'sleep'")));
  const fs::path root = stack.artifact_root();
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    if (it.depth() == 0 && it->path().filename() == "tmp") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) EXPECT_TRUE(recorded.contains(it->path().string())) << "unrecorded " << it->path();
  }
}

}  // namespace
}  // namespace expsvc::testing
