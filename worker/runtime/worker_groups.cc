// The group-kind half of the worker (job_group.h): all leased members of a
// group run on one thread, through one call of the kind's function, each
// finished through the same FinishJob as an ordinary job.

#include <algorithm>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/runtime/event_log.h"
#include "worker/runtime/worker.h"

namespace expsvc::worker {

namespace v1 = expsvc::v1;

// The share of a GPU's memory a group plans to use.
constexpr int64_t kUsableGpuMemoryPercent = 90;

// What a group kind's function sees: the members still running, each
// finished through the worker as soon as the function says so.
class Worker::LeasedGroup : public JobGroup {
 public:
  LeasedGroup(Worker& worker, std::vector<std::shared_ptr<RunningJob>> members)
      : worker_(worker), members_(std::move(members)), finished_(members_.size(), false) {}

  int size() const override { return static_cast<int>(members_.size()); }
  JobContext& member(int index) override { return *members_.at(index)->context; }
  void Finish(int index, absl::Status status) override {
    if (finished_.at(index)) return;
    finished_[index] = true;
    worker_.FinishJob(*members_[index], status);
  }
  bool finished(int index) const override { return finished_.at(index); }
  int64_t memory_budget_mb() const override {
    return worker_.options_.group_memory_budget_mb > 0 ? worker_.options_.group_memory_budget_mb
                                                       : worker_.options_.memory_mb;
  }
  int64_t gpu_memory_budget_mb() const override {
    const std::vector<int> gpus = members_.front()->context->assigned_gpus();
    if (gpus.empty()) return 0;
    if (worker_.options_.group_memory_budget_mb > 0) return worker_.options_.group_memory_budget_mb;
    // Less what the CUDA context and the caching allocator's fragments take.
    for (const v1::CudaDevice& device : worker_.cuda_devices_) {
      if (device.index() == gpus.front() && device.memory_mb() > 0) {
        return device.memory_mb() * kUsableGpuMemoryPercent / 100;
      }
    }
    return 0;
  }
  // Gives every unfinished member `status`.
  void FinishRest(const absl::Status& status) {
    for (int i = 0; i < size(); ++i) Finish(i, status);
  }

 private:
  Worker& worker_;
  std::vector<std::shared_ptr<RunningJob>> members_;
  std::vector<bool> finished_;
};

void Worker::StartGroup(std::vector<v1::LeasedJob> members, const GroupJobFunction& function) {
  std::vector<std::shared_ptr<RunningJob>> jobs;
  for (v1::LeasedJob& leased : members) jobs.push_back(PrepareJob(std::move(leased)));
  auto group = std::make_shared<RunningGroup>();
  absl::MutexLock lock(&mu_);
  // The members run in one function on the same devices: the group takes
  // as many GPUs as its largest request, and every member names them.
  v1::Resources wanted;
  for (const auto& job : jobs) {
    const v1::Resources& member = job->context->leased_job().job().resources();
    wanted.set_gpus(std::max(wanted.gpus(), member.gpus()));
    wanted.set_gpu_memory_gb(std::max(wanted.gpu_memory_gb(), member.gpu_memory_gb()));
  }
  RunningJob shortfall;  // collects a GPU shortfall, if any, for every member
  const std::vector<int> gpus = TakeGpus(wanted, shortfall);
  for (const auto& job : jobs) {
    if (job->setup_error.ok() && !shortfall.setup_error.ok()) {
      job->setup_error = shortfall.setup_error;
      job->release_unstarted = true;
    }
    job->context->AssignGpus(gpus);
    LogAssignedGpus(*job);
  }
  for (const auto& job : jobs) running_.emplace(next_run_id_++, job);
  groups_.push_back(group);
  group->thread = std::thread([this, jobs, group, &function] {
    // Members whose parameters or scratch folder failed end at once; the
    // rest run together.
    std::vector<std::shared_ptr<RunningJob>> runnable;
    for (const auto& job : jobs) {
      absl::Status ready = job->setup_error;
      if (ready.ok()) ready = PrepareScratch(*job);
      if (ready.ok()) {
        runnable.push_back(job);
      } else {
        FinishJob(*job, ready);
      }
    }
    if (!runnable.empty()) {
      LeasedGroup leased_group(*this, runnable);
      LogEventF("running %d member(s) of group %s together", leased_group.size(),
                runnable.front()->context->leased_job().job().group_key());
      try {
        function(leased_group);
        leased_group.FinishRest(absl::InternalError("the group function returned without an outcome for this job"));
      } catch (const std::exception& exception) {
        leased_group.FinishRest(absl::InternalError(absl::StrCat("job threw an exception: ", exception.what())));
      } catch (...) {
        leased_group.FinishRest(absl::InternalError("job threw a non-standard exception"));
      }
    }
    {
      absl::MutexLock lock(&mu_);
      group->finished = true;
      ++finished_unreaped_;
    }
    changed_.SignalAll();
  });
}

}  // namespace expsvc::worker
