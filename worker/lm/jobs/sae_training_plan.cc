#include "worker/lm/jobs/sae_training_plan.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/splitmix64.h"

namespace expsvc::worker {

WindowOrder::WindowOrder(uint64_t seed, int64_t windows) : seed_(seed), windows_(std::max<int64_t>(windows, 1)) {}

const std::vector<int64_t>& WindowOrder::Pass(int64_t pass) {
  if (pass == cached_pass_) return order_;
  order_.resize(static_cast<size_t>(windows_));
  std::iota(order_.begin(), order_.end(), 0);
  // Fisher-Yates with SplitMix64, so the order is the same on every platform.
  SplitMix64 random(seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(pass) + 1);
  for (int64_t i = windows_ - 1; i > 0; --i) {
    std::swap(order_[static_cast<size_t>(i)],
              order_[static_cast<size_t>(random.UniformBelow(static_cast<uint64_t>(i) + 1))]);
  }
  cached_pass_ = pass;
  return order_;
}

std::vector<int64_t> WindowOrder::Batch(int64_t step, int64_t batch_windows) {
  std::vector<int64_t> batch;
  batch.reserve(static_cast<size_t>(batch_windows));
  for (int64_t i = step * batch_windows; i < (step + 1) * batch_windows; ++i) {
    batch.push_back(Pass(i / windows_)[static_cast<size_t>(i % windows_)]);
  }
  return batch;
}

std::vector<int64_t> EvenlySpacedWindows(int64_t available, int64_t wanted) {
  const int64_t count = wanted > 0 ? std::min(wanted, available) : available;
  std::vector<int64_t> windows;
  windows.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) {
    // floor(i · available / count), in 128 bits: no overflow, strictly increasing.
    windows.push_back(static_cast<int64_t>(static_cast<__int128>(i) * available / count));
  }
  return windows;
}

SaeMemoryEstimate EstimateSaeMemory(int64_t d_in, int64_t n_latents, int64_t k, int64_t parameter_bytes,
                                    int64_t batch_rows, int64_t encoder_bytes) {
  const int64_t parameters = 2 * n_latents * d_in + n_latents + d_in;
  SaeMemoryEstimate estimate;
  // Parameters and their gradients in the parameter dtype, Adam's two moments too.
  estimate.resident_bytes = parameters * parameter_bytes * 4 + n_latents * 8;
  // The encoder product [rows, n] and its float32 copy for the top-k (or
  // ReLU), codes [rows, k] (values and int64 indices), input,
  // reconstruction and its gradient [rows, d].
  estimate.transient_bytes = batch_rows * (n_latents * (encoder_bytes + 4) + k * 12 + 4 * d_in * 4);
  return estimate;
}

absl::StatusOr<std::vector<std::vector<int>>> PlanMemberSubsets(const std::vector<SaeMemoryEstimate>& members,
                                                                int64_t shared_bytes, int64_t budget_bytes) {
  std::vector<std::vector<int>> subsets;
  int64_t resident = 0;
  int64_t transient = 0;
  for (int i = 0; i < static_cast<int>(members.size()); ++i) {
    const SaeMemoryEstimate& member = members[static_cast<size_t>(i)];
    const int64_t alone = shared_bytes + member.transient_bytes + member.resident_bytes;
    if (alone > budget_bytes) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "member %d needs about %.0f MiB (SAE, Adam state and step buffers, plus the LM) but the worker's budget "
          "is %.0f MiB; lower n_latents or batch_windows, or raise --group_memory_budget_mb",
          i, alone / 1048576.0, budget_bytes / 1048576.0));
    }
    const int64_t with_member =
        shared_bytes + std::max(transient, member.transient_bytes) + resident + member.resident_bytes;
    if (subsets.empty() || with_member > budget_bytes) {
      subsets.emplace_back();
      resident = 0;
      transient = 0;
    }
    subsets.back().push_back(i);
    resident += member.resident_bytes;
    transient = std::max(transient, member.transient_bytes);
  }
  return subsets;
}

}  // namespace expsvc::worker
