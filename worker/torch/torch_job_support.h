#pragma once
// Small pieces every LibTorch job kind needs: where it runs (device,
// threads), how Torch's exceptions become a Status at the job's edge, what a
// stopping job returns, and writing a small text file for an artifact.

#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "worker/runtime/job_context.h"

namespace expsvc::worker {

// Where a job's Torch work runs. "cpu"; "cuda": the first GPU the worker
// reserved for the job (resources.gpus ≥ 1), an error without one or
// without CUDA in this LibTorch; "auto": that GPU when there is one, else
// the CPU. A job never takes a GPU the scheduler did not reserve for it.
// A GPU also becomes the calling thread's current CUDA device, so code that
// names "cuda" without an index (or asks for the current stream) lands on
// the job's GPU and not on device 0 of a worker with several.
absl::StatusOr<torch::Device> SelectDevice(const std::string& requested, const JobContext& context);

// torch::set_num_threads(threads), or, when 0, Torch's own default (its count
// of physical cores), which the first call records. Not every logical core:
// on our 2-vCPU build machines two threads made an attention layer 1.5-2x
// slower than one, and SMT siblings rarely help dense kernels anyway.
void SetTorchThreads(int64_t threads);

// For a job that saw should_stop(): Aborted when the worker is shutting
// down (the lease is released, no attempt spent), else Cancelled.
absl::Status StopStatus(const JobContext& context);

// A resumable training point: the model, the optimizer's state, the step and
// named scalars (e.g. the best validation loss so far) in one Torch archive.
struct TrainingState {
  int64_t step = 0;
  std::map<std::string, double> scalars;
};
absl::Status SaveTrainingState(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                               const TrainingState& state);
// Loads into `model` and `optimizer`; reads back the scalars named in
// `scalar_names`.
absl::StatusOr<TrainingState> LoadTrainingState(const std::string& path, torch::nn::Module& model,
                                                torch::optim::Optimizer& optimizer, const torch::Device& device,
                                                const std::vector<std::string>& scalar_names = {});

// Runs `body` (returning absl::Status); Torch errors and other exceptions
// become INTERNAL errors naming the job kind, so none crosses the module.
template <typename Body>
absl::Status RunAtTorchEdge(const char* kind, Body body) {
  try {
    return body();
  } catch (const c10::Error& error) {
    return absl::InternalError(absl::StrCat(kind, ": torch: ", error.what_without_backtrace()));
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat(kind, ": ", error.what()));
  }
}

}  // namespace expsvc::worker
