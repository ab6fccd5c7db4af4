#include "worker/jobs/torch_job_support.h"

#include <fstream>
#include <thread>

namespace expsvc::worker {

absl::StatusOr<torch::Device> SelectDevice(const std::string& requested) {
  if (requested == "cuda" && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError("device 'cuda' was asked for but CUDA is not available on this worker");
  }
  return (requested == "cuda" || (requested == "auto" && torch::cuda::is_available())) ? torch::Device(torch::kCUDA)
                                                                                       : torch::Device(torch::kCPU);
}

void SetTorchThreads(int64_t threads) {
  torch::set_num_threads(static_cast<int>(threads > 0 ? threads : std::thread::hardware_concurrency()));
}

absl::Status StopStatus(const JobContext& context) {
  return context.shutting_down() ? absl::AbortedError("worker shutting down") : absl::CancelledError("cancelled");
}

absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace expsvc::worker
