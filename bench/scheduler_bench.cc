// Scheduler benchmark: a real scheduler over loopback gRPC on a throwaway
// PostgreSQL with its default durability (fsync on), several worker threads
// leasing and completing noop jobs. Prints, in one run:
//   - leased+completed noop jobs per second with several workers;
//   - p50/p99 latency of an idle worker's lease request while work is queued,
//     and of the long-poll wake-up when work arrives while it waits;
//   - the time to submit a 1,572-job sweep (the SAE study's size);
//   - the time to submit a 100,000-job sweep, and lease latency with it
//     queued, quiet and while other clients list and watch it;
//   - with a second replica on the same database: wake-up latency across
//     replicas (LISTEN/NOTIFY) and throughput with workers on both;
//   - the baseline: single-row UPDATEs per second on the same cluster, one
//     connection, autocommit, and the throughput as a ratio of it.
// The last line is key=value pairs.
//
//   scheduler_bench [--jobs=N] [--workers=N] [--batch=N] [--large_jobs=N] [--max_lease_batch=N] [--database=CONNINFO]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "expsvc/v1/jobs.grpc.pb.h"
#include "expsvc/v1/sweeps.grpc.pb.h"
#include "expsvc/v1/workers.grpc.pb.h"
#include "server/auth/token_authenticator.h"
#include "server/grpc/scheduler_server.h"
#include "server/testing/postgres_cluster.h"

namespace {

namespace v1 = expsvc::v1;
using Clock = std::chrono::steady_clock;

double Milliseconds(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

double Percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(fraction * static_cast<double>(values.size())));
  return values[index];
}

std::string StringFlag(int argc, char** argv, const char* name, const std::string& fallback) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return argv[i] + prefix.size();
  }
  return fallback;
}

int IntFlag(int argc, char** argv, const char* name, int fallback) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return std::atoi(argv[i] + prefix.size());
  }
  return fallback;
}

class Client {
 public:
  Client(const std::string& address, std::string token)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        sweeps_(v1::SweepService::NewStub(channel_)),
        workers_(v1::WorkerService::NewStub(channel_)),
        token_(std::move(token)) {}

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
    return context;
  }

  // Submits the sweep and returns it (exits on failure: the bench cannot go on).
  v1::Sweep Submit(const std::string& yaml) {
    v1::SubmitSweepRequest request;
    request.set_spec_yaml(yaml);
    request.set_file_name("bench.yaml");
    v1::SubmitSweepResponse response;
    grpc::Status status = sweeps_->SubmitSweep(Context().get(), request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "submit failed: %s\n", status.error_message().c_str());
      std::exit(1);
    }
    return response.sweep();
  }

  // Pages through every job of a sweep, as `expctl jobs` or the dashboard
  // does; returns the number of jobs seen.
  int64_t ListAllJobs(int64_t sweep_id, int page) {
    auto jobs = v1::JobService::NewStub(channel_);
    int64_t after = 0, seen = 0;
    while (true) {
      v1::ListJobsRequest request;
      request.set_sweep_id(sweep_id);
      request.set_limit(page);
      request.set_after_id(after);
      v1::ListJobsResponse response;
      if (!jobs->ListJobs(Context().get(), request, &response).ok() || response.jobs_size() == 0) return seen;
      seen += response.jobs_size();
      after = response.jobs(response.jobs_size() - 1).id();
    }
  }

  // Streams the sweep's counts until `stop`; returns the updates received.
  int WatchUntil(int64_t sweep_id, const std::atomic<bool>& stop) {
    auto context = Context();
    v1::WatchSweepRequest request;
    request.set_sweep_id(sweep_id);
    request.set_poll_interval_ms(100);
    auto stream = sweeps_->WatchSweep(context.get(), request);
    int updates = 0;
    v1::WatchSweepResponse update;
    std::thread canceller([&] {
      while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      context->TryCancel();
    });
    while (stream->Read(&update)) ++updates;
    canceller.join();
    stream->Finish();
    return updates;
  }

  std::string Register(const std::string& name) {
    v1::RegisterWorkerRequest request;
    request.set_name(name);
    v1::RegisterWorkerResponse response;
    if (!workers_->RegisterWorker(Context().get(), request, &response).ok()) std::exit(1);
    return response.worker_id();
  }

  v1::LeaseJobsResponse Lease(const std::string& worker_id, int max_jobs, int wait_ms) {
    v1::LeaseJobsRequest request;
    request.set_worker_id(worker_id);
    request.set_max_jobs(max_jobs);
    request.set_wait_ms(wait_ms);
    request.mutable_free()->set_cpu_cores(1024);
    request.mutable_free()->set_memory_mb(1 << 30);
    request.mutable_free()->set_gpus(64);
    v1::LeaseJobsResponse response;
    grpc::Status status = workers_->LeaseJobs(Context().get(), request, &response);
    if (!status.ok()) std::fprintf(stderr, "lease failed: %s\n", status.error_message().c_str());
    return response;
  }

  int Complete(const std::string& worker_id, const v1::LeaseJobsResponse& leased) {
    v1::CompleteJobsRequest request;
    request.set_worker_id(worker_id);
    for (const auto& job : leased.jobs()) {
      auto* lease = request.add_completions()->mutable_lease();
      lease->set_job_id(job.job().id());
      lease->set_epoch(job.epoch());
    }
    v1::CompleteJobsResponse response;
    grpc::Status status = workers_->CompleteJobs(Context().get(), request, &response);
    if (!status.ok()) std::fprintf(stderr, "complete failed: %s\n", status.error_message().c_str());
    return status.ok() ? leased.jobs_size() : 0;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SweepService::Stub> sweeps_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
  std::string token_;
};

std::string NoopSweep(const std::string& name, int jobs) {
  std::string grid = "[";
  for (int i = 0; i < jobs; ++i) absl::StrAppend(&grid, i == 0 ? "" : ",", i);
  return absl::StrCat("name: ", name, "\nstages:\n  - name: work\n    kind: noop\n    grid: {i: ", grid, "]}\n");
}

// The SAE study's shape: models × layers × checkpoints = 1572 jobs, grouped
// by model and checkpoint (79 groups).
std::string SaeSizedSweep(int repetition) {
  std::string yaml = absl::StrCat("name: sae-shape-", repetition, "\nstages:\n");
  const std::vector<std::pair<int, int>> models = {{12, 16}, {16, 16}, {20, 16}, {24, 16}, {28, 15}};
  for (size_t m = 0; m < models.size(); ++m) {
    std::string layers = "[", checkpoints = "[";
    for (int l = 0; l < models[m].first; ++l) absl::StrAppend(&layers, l == 0 ? "" : ",", l);
    for (int c = 0; c < models[m].second; ++c) absl::StrAppend(&checkpoints, c == 0 ? "" : ",", c);
    absl::StrAppend(&yaml, "  - name: model", m, "\n    kind: noop\n    params: {model: m", m,
                    "}\n    grid: {checkpoint: ", checkpoints, "], layer: ", layers,
                    "]}\n    group_by: [model, checkpoint]\n");
  }
  return yaml;
}

// One idle worker leases one job per call and completes it, `count` times;
// returns each lease call's latency.
std::vector<double> LeaseLatencies(Client& worker, const std::string& worker_id, int count) {
  std::vector<double> latencies;
  while (static_cast<int>(latencies.size()) < count) {
    const auto start = Clock::now();
    auto leased = worker.Lease(worker_id, 1, 0);
    const double elapsed = Milliseconds(Clock::now() - start);
    if (leased.jobs_size() == 0) break;
    latencies.push_back(elapsed);
    worker.Complete(worker_id, leased);
  }
  return latencies;
}

// A worker long-polls while a 1-job sweep is submitted, `repetitions` times;
// returns the time from the submit call to the worker holding the job.
std::vector<double> WakeLatencies(Client& submitter, Client& worker, const std::string& worker_id,
                                  const std::string& label, int repetitions = 30) {
  std::vector<double> latencies;
  for (int repetition = 0; repetition < repetitions; ++repetition) {
    std::atomic<bool> polling{false};
    std::atomic<Clock::rep> submitted{0};
    std::thread poller([&] {
      polling = true;
      auto leased = worker.Lease(worker_id, 1, 5000);
      latencies.push_back(Milliseconds(Clock::now() - Clock::time_point(Clock::duration(submitted.load()))));
      worker.Complete(worker_id, leased);
    });
    while (!polling) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    submitted = Clock::now().time_since_epoch().count();
    submitter.Submit(NoopSweep(absl::StrCat(label, "-", repetition), 1));
    poller.join();
  }
  return latencies;
}

// `workers` threads, spread over `addresses`, lease and complete a
// `jobs`-job noop sweep in batches; prints and returns jobs per second.
double Throughput(Client& submitter, const std::vector<std::string>& addresses, const std::string& worker_token,
                  int jobs, int workers, int batch, const std::string& label) {
  submitter.Submit(NoopSweep(label, jobs));
  std::atomic<int64_t> completed{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      Client worker(addresses[static_cast<size_t>(w) % addresses.size()], worker_token);
      const std::string id = worker.Register(absl::StrCat(label, "-", w));
      while (completed.load() < jobs) {
        auto leased = worker.Lease(id, batch, 200);
        if (leased.jobs_size() == 0) continue;
        completed += worker.Complete(id, leased);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double jobs_per_s = static_cast<double>(completed.load()) / seconds;
  std::printf("%s: %lld noop jobs leased and completed in %.2f s by %d workers on %zu replica(s) (batch %d): %.0f "
              "jobs/s\n",
              label.c_str(), static_cast<long long>(completed.load()), seconds, workers, addresses.size(), batch,
              jobs_per_s);
  return jobs_per_s;
}

}  // namespace

int main(int argc, char** argv) {
  const int total_jobs = IntFlag(argc, argv, "jobs", 20000);
  const int worker_count = IntFlag(argc, argv, "workers", 4);
  const int batch = IntFlag(argc, argv, "batch", 32);
  const int large_jobs = IntFlag(argc, argv, "large_jobs", 100000);

  // --database=CONNINFO runs against an existing, empty database (to watch it
  // with the server's own tools); by default a throwaway cluster is started.
  std::string database = StringFlag(argc, argv, "database", "");
  absl::StatusOr<std::unique_ptr<expsvc::testing::PostgresCluster>> cluster;
  if (database.empty()) {
    cluster = expsvc::testing::PostgresCluster::Start(/*durable=*/true);
    if (!cluster.ok()) {
      std::fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
      return 1;
    }
    database = *(*cluster)->CreateDatabase("bench");
  }
  const std::string* conninfo = &database;
  expsvc::server::ServerOptions options;
  options.database = *conninfo;
  options.listen_address = "127.0.0.1:0";
  char artifact_dir[] = "/tmp/expsvc-bench-XXXXXX";
  options.artifact_root = ::mkdtemp(artifact_dir);
  options.migrations_dir = EXPSVC_DEFAULT_MIGRATIONS_DIR;
  options.pool_size = 8;
  options.scheduler.max_lease_batch = IntFlag(argc, argv, "max_lease_batch", options.scheduler.max_lease_batch);
  auto server = expsvc::server::SchedulerServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());
  auto store = expsvc::storage::PostgresStore::Open(*conninfo, 1);
  expsvc::auth::TokenAuthenticator tokens(store->get());
  const std::string user_token = *tokens.CreateToken("bench-user", expsvc::auth::Role::kUser);
  const std::string worker_token = *tokens.CreateToken("bench-worker", expsvc::auth::Role::kWorker);

  // Baseline: single-row autocommit UPDATEs on the same cluster.
  double baseline_updates_per_s = 0;
  {
    pqxx::connection connection(*conninfo);
    pqxx::nontransaction setup(connection);
    setup.exec("CREATE TABLE IF NOT EXISTS bench_counter (id int PRIMARY KEY, n bigint NOT NULL)");
    setup.exec("INSERT INTO bench_counter VALUES (1, 0) ON CONFLICT DO NOTHING");
    connection.prepare("bump", "UPDATE bench_counter SET n = n + 1 WHERE id = 1");
    int updates = 0;
    const auto start = Clock::now();
    while (Clock::now() - start < std::chrono::seconds(3)) {
      setup.exec_prepared("bump");
      ++updates;
    }
    baseline_updates_per_s = updates / std::chrono::duration<double>(Clock::now() - start).count();
  }
  std::printf("baseline: %.0f single-row UPDATEs/s (one connection, autocommit, fsync on)\n", baseline_updates_per_s);

  Client user(address, user_token);

  // Submitting a 1,572-job sweep.
  std::vector<double> submit_ms;
  for (int repetition = 0; repetition < 5; ++repetition) {
    const std::string yaml = SaeSizedSweep(repetition);
    const auto start = Clock::now();
    const int64_t jobs = user.Submit(yaml).counts().total();
    submit_ms.push_back(Milliseconds(Clock::now() - start));
    if (jobs != 1572) {
      std::fprintf(stderr, "expected 1572 jobs, got %lld\n", static_cast<long long>(jobs));
      return 1;
    }
  }
  const double submit_p50_ms = Percentile(submit_ms, 0.5);
  std::printf("submit 1572-job sweep: median %.1f ms over %zu runs\n", submit_p50_ms, submit_ms.size());
  // Drain those so they do not mix with what follows.
  {
    Client drainer(address, worker_token);
    const std::string id = drainer.Register("drainer");
    while (true) {
      auto leased = drainer.Lease(id, 256, 0);
      if (leased.jobs_size() == 0) break;
      drainer.Complete(id, leased);
    }
  }

  // Lease latency of an idle worker while work is queued (one job per call).
  std::vector<double> lease_ms;
  {
    user.Submit(NoopSweep("latency", 2000));
    Client worker(address, worker_token);
    lease_ms = LeaseLatencies(worker, worker.Register("latency"), 2000);
  }
  const double lease_p50 = Percentile(lease_ms, 0.5), lease_p99 = Percentile(lease_ms, 0.99);
  std::printf("lease latency with work queued: p50 %.2f ms, p99 %.2f ms (%zu leases)\n", lease_p50, lease_p99,
              lease_ms.size());

  // Wake-up latency: the worker is long-polling when work arrives.
  Client waker(address, worker_token);
  const std::vector<double> wake_ms = WakeLatencies(user, waker, waker.Register("wakeup"), "wake");
  const double wake_p50 = Percentile(wake_ms, 0.5), wake_p99 = Percentile(wake_ms, 0.99);
  std::printf("long-poll wake-up (1-job submit called -> worker holds the job): p50 %.2f ms, p99 %.2f ms\n", wake_p50,
              wake_p99);

  // A second replica on the same database: work submitted through the
  // first reaches a worker long-polling the second through LISTEN/NOTIFY.
  expsvc::server::ServerOptions replica_options = options;
  auto replica = expsvc::server::SchedulerServer::Start(replica_options);
  if (!replica.ok()) {
    std::fprintf(stderr, "%s\n", replica.status().ToString().c_str());
    return 1;
  }
  const std::string replica_address = absl::StrCat("127.0.0.1:", (*replica)->port());
  while (!(*replica)->work_listener().listening()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Client replica_waker(replica_address, worker_token);
  const std::vector<double> cross_ms =
      WakeLatencies(user, replica_waker, replica_waker.Register("wakeup-replica"), "cross-wake");
  const double cross_p50 = Percentile(cross_ms, 0.5), cross_p99 = Percentile(cross_ms, 0.99);
  std::printf("long-poll wake-up across replicas (submit to one, worker polling the other): p50 %.2f ms, p99 %.2f ms\n",
              cross_p50, cross_p99);

  // Throughput: several workers lease and complete noop jobs in batches.
  const auto batches_before = (*server)->scheduler().lease_batch_stats();
  const double jobs_per_s = Throughput(user, {address}, worker_token, total_jobs, worker_count, batch, "throughput");
  const auto batches_after = (*server)->scheduler().lease_batch_stats();
  const double requests_per_commit =
      static_cast<double>(batches_after.requests - batches_before.requests) /
      static_cast<double>(std::max<int64_t>(1, batches_after.batches - batches_before.batches));
  std::printf("ratio to single-row UPDATE rate: %.2f (lease and completion requests per commit: %.2f)\n",
              jobs_per_s / baseline_updates_per_s, requests_per_commit);
  // The same with the workers spread over both replicas.
  const double replicas_jobs_per_s =
      Throughput(user, {address, replica_address}, worker_token, total_jobs, worker_count, batch, "replicas");
  (*replica)->Shutdown();

  // Scale: a large sweep submitted, then leases timed with it queued, quiet
  // and while one client pages through all its jobs and another watches it.
  const auto large_start = Clock::now();
  const int64_t large_sweep = user.Submit(NoopSweep("large", large_jobs)).id();
  const double large_submit_ms = Milliseconds(Clock::now() - large_start);
  std::printf("submit %d-job sweep: %.0f ms\n", large_jobs, large_submit_ms);
  Client large_worker(address, worker_token);
  const std::string large_worker_id = large_worker.Register("large");
  // Half the sweep at most for each phase, so a small --large_jobs still
  // leaves jobs for the second.
  const int probes = std::max(1, std::min(1000, large_jobs / 2));
  const std::vector<double> quiet_ms = LeaseLatencies(large_worker, large_worker_id, probes);
  std::atomic<bool> stop_readers{false};
  std::atomic<int64_t> listed{0};
  std::atomic<int> watch_updates{0};
  std::thread lister([&] {
    Client reader(address, user_token);
    while (!stop_readers) listed += reader.ListAllJobs(large_sweep, 1000);
  });
  std::thread watcher([&] {
    Client reader(address, user_token);
    watch_updates = reader.WatchUntil(large_sweep, stop_readers);
  });
  const auto busy_start = Clock::now();
  const std::vector<double> busy_ms = LeaseLatencies(large_worker, large_worker_id, probes);
  const double busy_seconds = std::chrono::duration<double>(Clock::now() - busy_start).count();
  stop_readers = true;
  lister.join();
  watcher.join();
  const double quiet_p50 = Percentile(quiet_ms, 0.5), quiet_p99 = Percentile(quiet_ms, 0.99);
  const double busy_p50 = Percentile(busy_ms, 0.5), busy_p99 = Percentile(busy_ms, 0.99);
  std::printf("lease latency with %d jobs queued: p50 %.2f ms, p99 %.2f ms (%zu leases)\n", large_jobs, quiet_p50,
              quiet_p99, quiet_ms.size());
  std::printf(
      "  while another client lists the sweep (%.0f jobs/s listed) and one watches it (%d updates): p50 %.2f ms, "
      "p99 %.2f ms; p50 ratio to quiet %.2f\n",
      static_cast<double>(listed.load()) / busy_seconds, watch_updates.load(), busy_p50, busy_p99,
      busy_p50 / quiet_p50);
  (*server)->Shutdown();
  std::error_code ignored;
  std::filesystem::remove_all(options.artifact_root, ignored);
  std::printf(
      "jobs_per_s=%.0f baseline_updates_per_s=%.0f ratio_vs_baseline=%.2f lease_p50_ms=%.2f lease_p99_ms=%.2f "
      "wakeup_p50_ms=%.2f wakeup_p99_ms=%.2f submit_1572_ms=%.1f large_jobs=%d submit_large_ms=%.0f "
      "large_lease_p50_ms=%.2f large_lease_p99_ms=%.2f listing_lease_p50_ms=%.2f listing_lease_p99_ms=%.2f "
      "requests_per_commit=%.2f replicas_jobs_per_s=%.0f cross_replica_wakeup_p50_ms=%.2f "
      "cross_replica_wakeup_p99_ms=%.2f workers=%d batch=%d\n",
      jobs_per_s, baseline_updates_per_s, jobs_per_s / baseline_updates_per_s, lease_p50, lease_p99, wake_p50, wake_p99,
      submit_p50_ms, large_jobs, large_submit_ms, quiet_p50, quiet_p99, busy_p50, busy_p99, requests_per_commit, replicas_jobs_per_s, cross_p50, cross_p99, worker_count, batch);
  return 0;
}
