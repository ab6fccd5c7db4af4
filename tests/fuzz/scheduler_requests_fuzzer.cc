// Fuzz target: the scheduler's request handlers (scheduler.h, what every RPC
// calls after authentication) fed arbitrary protobuf messages, against a real
// throwaway PostgreSQL holding a small sweep and a worker. The first byte
// picks the RPC, the rest is parsed as its request message (inputs that do
// not parse are skipped, as gRPC would refuse them). Any request must get OK
// or an error with a message, and never INTERNAL: bad input is the caller's
// error (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/scheduler/scheduler.h"
#include "server/storage/migrator.h"
#include "server/testing/postgres_cluster.h"

namespace {

namespace v1 = expsvc::v1;

struct World {
  std::unique_ptr<expsvc::testing::PostgresCluster> cluster;
  std::unique_ptr<expsvc::storage::PostgresStore> store;
  std::unique_ptr<expsvc::scheduler::ArtifactStore> artifacts;
  std::unique_ptr<expsvc::scheduler::Scheduler> scheduler;
};

World* world = nullptr;

void Die(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
  std::abort();
}

// INTERNAL means the handler let bad input through to somewhere that broke;
// an error without a message tells the user nothing.
void Check(const char* rpc, const absl::Status& status) {
  if (status.ok()) return;
  if (status.code() == absl::StatusCode::kInternal || status.message().empty()) Die(rpc, status);
}

template <typename Request>
bool Parse(const uint8_t* data, size_t size, Request& request) {
  return request.ParseFromArray(data, static_cast<int>(size));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  world = new World();
  auto cluster = expsvc::testing::PostgresCluster::Start();
  if (!cluster.ok()) Die("starting PostgreSQL", cluster.status());
  world->cluster = std::move(*cluster);
  auto conninfo = world->cluster->CreateDatabase("fuzz");
  if (!conninfo.ok()) Die("creating the database", conninfo.status());
  auto migrated = expsvc::storage::ApplyMigrations(*conninfo, EXPSVC_DEFAULT_MIGRATIONS_DIR);
  if (!migrated.ok()) Die("migrating", migrated.status());
  auto store = expsvc::storage::PostgresStore::Open(*conninfo, 2);
  if (!store.ok()) Die("opening the store", store.status());
  world->store = std::move(*store);
  char pattern[] = "/tmp/expsvc-fuzz-artifacts-XXXXXX";
  world->artifacts = std::make_unique<expsvc::scheduler::ArtifactStore>(::mkdtemp(pattern));
  if (absl::Status status = world->artifacts->Initialize(); !status.ok()) Die("artifact root", status);
  expsvc::scheduler::SchedulerOptions options;
  options.max_sweep_jobs = 200;
  options.max_lease_wait_ms = 0;
  world->scheduler = std::make_unique<expsvc::scheduler::Scheduler>(world->store.get(), world->artifacts.get(), options);
  // Something for the requests to find: a sweep of 6 jobs in two stages and
  // a group, a worker, one job leased.
  v1::SubmitSweepRequest submit;
  submit.set_spec_yaml(
      "name: seed\nstages:\n  - {name: a, kind: sleep, grid: {seed: [1, 2], layer: [1, 2]}, group_by: [seed]}\n"
      "  - {name: b, kind: noop, depends_on: a, grid: {seed: [1, 2]}}\n");
  if (auto submitted = world->scheduler->SubmitSweep(submit); !submitted.ok()) Die("seeding", submitted.status());
  v1::RegisterWorkerRequest registration;
  registration.set_name("fuzz-worker");
  auto worker = world->scheduler->RegisterWorker(registration);
  if (!worker.ok()) Die("registering", worker.status());
  v1::LeaseJobsRequest lease;
  lease.set_worker_id(worker->worker_id());
  lease.set_max_jobs(1);
  lease.mutable_free()->set_cpu_cores(64);
  lease.mutable_free()->set_memory_mb(1 << 20);
  if (auto leased = world->scheduler->LeaseJobs(lease, nullptr); !leased.ok()) Die("leasing", leased.status());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  expsvc::scheduler::Scheduler& scheduler = *world->scheduler;
  const uint8_t rpc = data[0] % 20;
  ++data;
  --size;
  switch (rpc) {
    case 0: {
      v1::SubmitSweepRequest request;
      if (Parse(data, size, request)) Check("SubmitSweep", scheduler.SubmitSweep(request).status());
      break;
    }
    case 1: {
      v1::GetSweepRequest request;
      if (Parse(data, size, request)) Check("GetSweep", scheduler.GetSweep(request.sweep_id()).status());
      break;
    }
    case 2: {
      v1::ListSweepsRequest request;
      if (Parse(data, size, request)) Check("ListSweeps", scheduler.ListSweeps(request).status());
      break;
    }
    case 3: {
      v1::CancelSweepRequest request;
      if (Parse(data, size, request)) Check("CancelSweep", scheduler.CancelSweep(request).status());
      break;
    }
    case 4: {
      v1::ListJobsRequest request;
      if (Parse(data, size, request)) Check("ListJobs", scheduler.ListJobs(request).status());
      break;
    }
    case 5: {
      v1::GetJobRequest request;
      if (Parse(data, size, request)) Check("GetJob", scheduler.GetJob(request.job_id()).status());
      break;
    }
    case 6: {
      v1::CancelJobRequest request;
      if (Parse(data, size, request)) Check("CancelJob", scheduler.CancelJob(request).status());
      break;
    }
    case 7: {
      v1::RetryJobRequest request;
      if (Parse(data, size, request)) Check("RetryJob", scheduler.RetryJob(request).status());
      break;
    }
    case 8: {
      v1::GetJobLogsRequest request;
      if (Parse(data, size, request)) Check("GetJobLogs", scheduler.GetJobLogs(request).status());
      break;
    }
    case 9: {
      v1::RegisterWorkerRequest request;
      if (Parse(data, size, request)) Check("RegisterWorker", scheduler.RegisterWorker(request).status());
      break;
    }
    case 10: {
      v1::ListWorkersRequest request;
      if (Parse(data, size, request)) Check("ListWorkers", scheduler.ListWorkers(request).status());
      break;
    }
    case 11: {
      v1::LeaseJobsRequest request;
      if (!Parse(data, size, request)) break;
      request.set_wait_ms(0);  // no long poll in a fuzz loop
      Check("LeaseJobs", scheduler.LeaseJobs(request, nullptr).status());
      break;
    }
    case 12: {
      v1::HeartbeatRequest request;
      if (Parse(data, size, request)) Check("Heartbeat", scheduler.Heartbeat(request).status());
      break;
    }
    case 13: {
      v1::ReportMetricsRequest request;
      if (Parse(data, size, request)) Check("ReportMetrics", scheduler.ReportMetrics(request).status());
      break;
    }
    case 14: {
      v1::AppendLogsRequest request;
      if (Parse(data, size, request)) Check("AppendLogs", scheduler.AppendLogs(request));
      break;
    }
    case 15: {
      v1::CompleteJobsRequest request;
      if (Parse(data, size, request)) Check("CompleteJobs", scheduler.CompleteJobs(request).status());
      break;
    }
    case 16: {
      v1::FailJobRequest request;
      if (Parse(data, size, request)) Check("FailJob", scheduler.FailJob(request).status());
      break;
    }
    case 17: {
      v1::UploadArtifactRequest request;
      if (!Parse(data, size, request) || !request.has_header()) break;
      auto upload = scheduler.BeginArtifactUpload(request.header());
      Check("BeginArtifactUpload", upload.status());
      if (!upload.ok()) break;
      absl::Status appended = (*upload)->Append(std::string(reinterpret_cast<const char*>(data), size));
      Check("UploadArtifact (data)", appended);
      if (appended.ok()) Check("FinishArtifactUpload", scheduler.FinishArtifactUpload(request.header(), **upload).status());
      break;
    }
    case 18: {
      v1::QueryMetricsRequest request;
      if (Parse(data, size, request)) Check("QueryMetrics", scheduler.QueryMetrics(request).status());
      break;
    }
    default: {
      v1::ListArtifactsRequest request;
      if (Parse(data, size, request)) Check("ListArtifacts", scheduler.ListArtifacts(request).status());
      break;
    }
  }
  return 0;
}
