#pragma once
// The two decisions train_sae makes before training a group, kept free of
// Torch so they are tested directly:
//  - WindowOrder: which training windows feed step s. Each pass over the
//    split is a SplitMix64 shuffle seeded by (seed, pass), so a batch
//    depends only on seed and step: a resumed member sees the same data.
//  - PlanMemberSubsets: which members train together. Each member keeps its
//    SAE, gradients and Adam state resident; the step's transient buffers
//    and the LM are shared. A group that does not fit the worker's budget is
//    trained in subsets, each with its own passes over the data.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace expsvc::worker {

class WindowOrder {
 public:
  // `windows` > 0.
  WindowOrder(uint64_t seed, int64_t windows);
  // The window indices of step `step` (0-based): batch_windows of them,
  // wrapping into the next pass when a pass ends mid-batch.
  std::vector<int64_t> Batch(int64_t step, int64_t batch_windows);

 private:
  const std::vector<int64_t>& Pass(int64_t pass);

  uint64_t seed_;
  int64_t windows_;
  int64_t cached_pass_ = -1;
  std::vector<int64_t> order_;
};

// `wanted` window indices spread evenly over [0, available), in increasing
// order (all of them when wanted is 0 or ≥ available). A split lists one
// language's documents before the other's, so its first N windows could
// all be English: a cap must sample across the split instead.
std::vector<int64_t> EvenlySpacedWindows(int64_t available, int64_t wanted);

struct SaeMemoryEstimate {
  int64_t resident_bytes = 0;   // per member: parameters, gradients, Adam m and v
  int64_t transient_bytes = 0;  // per step, once for the subset: pre-activations, codes, reconstruction
};

// d_in, n_latents, k, bytes per parameter (4 float32, 2 bfloat16), rows per
// step, bytes per encoder-product element (4 float32, 2 bfloat16).
SaeMemoryEstimate EstimateSaeMemory(int64_t d_in, int64_t n_latents, int64_t k, int64_t parameter_bytes,
                                    int64_t batch_rows, int64_t encoder_bytes = 4);

// Splits members (their resident bytes) into consecutive subsets so that
// shared_bytes + max transient + Σ resident of each subset ≤ budget.
// ResourceExhausted naming the member when one alone does not fit.
absl::StatusOr<std::vector<std::vector<int>>> PlanMemberSubsets(const std::vector<SaeMemoryEstimate>& members,
                                                                int64_t shared_bytes, int64_t budget_bytes);

}  // namespace expsvc::worker
