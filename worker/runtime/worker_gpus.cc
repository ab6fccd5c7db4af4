// The GPU half of the worker: which devices it offers (the driver's, or
// --gpus), which are busy, and which a leased job or group gets.

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/runtime/event_log.h"
#include "worker/runtime/worker.h"

namespace expsvc::worker {

namespace v1 = expsvc::v1;

absl::Status Worker::ChooseGpus() {
  cuda_devices_.clear();
  if (!options_.use_gpus) return absl::OkStatus();
  const absl::StatusOr<std::vector<v1::CudaDevice>> detected = DetectCudaDevices(options_.cuda_driver_library);
  if (options_.gpu_indices.empty()) {
    if (detected.ok()) {
      cuda_devices_ = *detected;
    } else {
      LogEventF("no GPUs: %s", detected.status().message());
    }
  }
  for (int index : options_.gpu_indices) {
    if (!detected.ok()) {
      // No driver to ask (e.g. a container that hides it): trust the list.
      v1::CudaDevice& device = cuda_devices_.emplace_back();
      device.set_index(index);
      device.set_name("declared by --gpus");
      continue;
    }
    const auto found = std::find_if(detected->begin(), detected->end(),
                                    [index](const v1::CudaDevice& device) { return device.index() == index; });
    if (found == detected->end()) {
      return absl::InvalidArgumentError(absl::StrCat("--gpus: device ", index, " does not exist; the driver shows ",
                                                     detected->size(), " device(s)"));
    }
    cuda_devices_.push_back(*found);
  }
  if (!options_.gpu_indices.empty() && !detected.ok()) {
    LogEventF("GPUs declared by --gpus without a driver to check them (their memory is unknown, so jobs asking for "
              "gpu_memory_gb never run here): %s",
              detected.status().message());
  }
  for (const v1::CudaDevice& device : cuda_devices_) LogEventF("GPU %s", DescribeCudaDevice(device));
  return absl::OkStatus();
}

std::set<int> Worker::BusyGpus() const {
  std::set<int> busy;
  for (const auto& [run_id, running] : running_) {
    for (int gpu : running->context->assigned_gpus()) busy.insert(gpu);
  }
  return busy;
}

std::vector<int> Worker::TakeGpus(const v1::Resources& wanted, RunningJob& job) {
  // Best fit: the smallest free devices with enough memory (lowest index
  // among equals), so a small job leaves a large device to a job that needs it.
  const std::set<int> busy = BusyGpus();
  std::vector<const v1::CudaDevice*> fitting;
  for (const v1::CudaDevice& device : cuda_devices_) {
    if (!busy.contains(device.index()) && DeviceMemoryGb(device) >= wanted.gpu_memory_gb()) fitting.push_back(&device);
  }
  std::stable_sort(fitting.begin(), fitting.end(), [](const v1::CudaDevice* a, const v1::CudaDevice* b) {
    return a->memory_mb() < b->memory_mb();
  });
  std::vector<int> gpus;
  for (const v1::CudaDevice* device : fitting) {
    if (static_cast<int>(gpus.size()) >= wanted.gpus()) break;
    gpus.push_back(device->index());
  }
  std::sort(gpus.begin(), gpus.end());
  if (static_cast<int>(gpus.size()) < wanted.gpus() && job.setup_error.ok()) {
    // The scheduler leased it on a count this worker no longer has free
    // (e.g. a job still holding devices after its lease was released), or
    // on its largest free device when the job needs several that large. The
    // job never started: its lease is handed back without spending an attempt.
    job.setup_error = absl::UnavailableError(absl::StrCat(
        "the job asks for ", wanted.gpus(), " GPU(s)",
        wanted.gpu_memory_gb() > 0 ? absl::StrCat(" of ", wanted.gpu_memory_gb(), " GiB") : "", ", ", gpus.size(),
        " of this worker's are free"));
    job.release_unstarted = true;
  }
  return gpus;
}

void Worker::LogAssignedGpus(RunningJob& job) const {
  std::vector<std::string> names;
  for (int gpu : job.context->assigned_gpus()) {
    for (const v1::CudaDevice& device : cuda_devices_) {
      if (device.index() == gpu) names.push_back(DescribeCudaDevice(device));
    }
  }
  if (!names.empty()) job.context->Log(absl::StrCat("GPU(s) of worker ", options_.name, ": ", absl::StrJoin(names, "; ")));
}

}  // namespace expsvc::worker
