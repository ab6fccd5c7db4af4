#pragma once
// One SAE's training loop state: Adam (the authors' lr 1e-3 and eps
// 6.25e-10, constant after a linear warm-up), the sparse forward/backward,
// the decoder-row projection and renormalisation around each step, b_pre at
// the geometric median of the first batch, and dead-latent tracking over a
// window of tokens.

#include <cstdint>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "absl/status/status.h"

#include "worker/lm/sae/topk_sae.h"

namespace expsvc::lm {

struct SaeTrainerOptions {
  double lr = 1e-3;
  double adam_eps = 6.25e-10;
  int64_t warmup_steps = 1000;
  // A latent that has not fired for this many training tokens counts as dead.
  int64_t dead_after_tokens = 10'000'000;
  // false reproduces the authors exactly (no projection of the decoder gradient).
  bool project_decoder_gradient = true;
};

struct SaeStepStats {
  int64_t step = 0;  // steps done, this one included
  double fvu = 0;    // this batch, before the update
  double dead_fraction = 0;
};

class SaeTrainer {
 public:
  SaeTrainer(TopKSae sae, SaeTrainerOptions options);

  // One optimiser step on the batch x [N, d_in].
  SaeStepStats Step(const torch::Tensor& x);

  // Latents that have not fired within the last dead_after_tokens tokens.
  double DeadFraction() const;
  int64_t step() const { return step_; }
  // A resume point: the SAE's parameters, Adam's state, the step and the
  // dead-latent counters, so a resumed trainer continues bit for bit.
  absl::Status Save(const std::string& path);
  // Errors name the file (missing, corrupt, or made for another shape).
  absl::Status Load(const std::string& path);
  TopKSae& sae() { return sae_; }
  torch::optim::Adam& optimizer() { return *optimizer_; }

 private:
  TopKSae sae_;
  SaeTrainerOptions options_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  torch::Tensor tokens_since_fired_;  // [n] int64
  int64_t step_ = 0;
};

}  // namespace expsvc::lm
