#include "worker/torch/torch_job_support.h"

#include <algorithm>
#include <fstream>

#include <c10/core/impl/DeviceGuardImplInterface.h>

namespace expsvc::worker {

absl::StatusOr<torch::Device> SelectDevice(const std::string& requested, const JobContext& context) {
  if (requested != "auto" && requested != "cpu" && requested != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat("device must be auto, cpu or cuda, got '", requested, "'"));
  }
  if (requested == "cpu") return torch::Device(torch::kCPU);
  const std::vector<int> gpus = context.assigned_gpus();
  if (requested == "cuda") {
    if (!torch::cuda::is_available()) {
      return absl::FailedPreconditionError(
          "device 'cuda' was asked for but this worker's LibTorch has no CUDA (or sees no device)");
    }
    if (gpus.empty()) {
      return absl::FailedPreconditionError(
          "device 'cuda' needs a GPU reserved for the job: add resources: {gpus: 1} to its stage");
    }
  }
  if (gpus.empty() || !torch::cuda::is_available()) return torch::Device(torch::kCPU);
  if (gpus.front() >= static_cast<int>(torch::cuda::device_count())) {
    return absl::FailedPreconditionError(absl::StrCat("the job was given GPU ", gpus.front(), " but LibTorch sees ",
                                                      torch::cuda::device_count(), " device(s)"));
  }
  const torch::Device device(torch::kCUDA, static_cast<c10::DeviceIndex>(gpus.front()));
  // Per thread, like CUDA's own current device; each job's call sets it anew.
  c10::impl::getDeviceGuardImpl(torch::kCUDA)->setDevice(device);
  return device;
}

void SetTorchThreads(int64_t threads) {
  // Read before any job changes it (static initialisation is thread-safe).
  static const int torch_default = torch::get_num_threads();
  torch::set_num_threads(threads > 0 ? static_cast<int>(threads) : torch_default);
}

absl::Status StopStatus(const JobContext& context) {
  return context.shutting_down() ? absl::AbortedError("worker shutting down") : absl::CancelledError("cancelled");
}

absl::Status SaveTrainingState(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                               const TrainingState& state) {
  torch::serialize::OutputArchive archive;
  model.save(archive);
  torch::serialize::OutputArchive optimizer_archive;
  optimizer.save(optimizer_archive);
  archive.write("training/optimizer", optimizer_archive);
  archive.write("training/step", torch::tensor(state.step));
  for (const auto& [name, value] : state.scalars) {
    archive.write(absl::StrCat("training/", name), torch::tensor(value, torch::kFloat64));
  }
  archive.save_to(path);
  return absl::OkStatus();
}

absl::StatusOr<TrainingState> LoadTrainingState(const std::string& path, torch::nn::Module& model,
                                                torch::optim::Optimizer& optimizer, const torch::Device& device,
                                                const std::vector<std::string>& scalar_names) {
  torch::serialize::InputArchive archive;
  archive.load_from(path, device);
  model.load(archive);
  torch::serialize::InputArchive optimizer_archive;
  archive.read("training/optimizer", optimizer_archive);
  optimizer.load(optimizer_archive);
  TrainingState state;
  torch::Tensor step;
  archive.read("training/step", step);
  state.step = step.item<int64_t>();
  for (const std::string& name : scalar_names) {
    torch::Tensor value;
    archive.read(absl::StrCat("training/", name), value);
    state.scalars[name] = value.item<double>();
  }
  return state;
}

}  // namespace expsvc::worker
