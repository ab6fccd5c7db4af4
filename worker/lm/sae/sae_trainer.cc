#include "worker/lm/sae/sae_trainer.h"

#include <algorithm>

#include "worker/lm/sae/sparse_sae_step.h"

namespace expsvc::lm {

SaeTrainer::SaeTrainer(TopKSae sae, SaeTrainerOptions options) : sae_(std::move(sae)), options_(options) {
  optimizer_ = std::make_unique<torch::optim::Adam>(sae_->parameters(),
                                                    torch::optim::AdamOptions(options_.lr).eps(options_.adam_eps));
  tokens_since_fired_ = torch::zeros({sae_->options().n_latents()}, torch::kLong);
}

SaeStepStats SaeTrainer::Step(const torch::Tensor& x) {
  if (step_ == 0) sae_->InitializePreBias(x);
  // Constant after a linear warm-up, as get_constant_schedule_with_warmup.
  const double scale =
      options_.warmup_steps > 0 ? std::min(1.0, static_cast<double>(step_ + 1) / options_.warmup_steps) : 1.0;
  for (auto& group : optimizer_->param_groups()) {
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(options_.lr * scale);
  }
  optimizer_->zero_grad();
  const SaeStepResult result = SparseSaeForwardBackward(*sae_, x);
  if (options_.project_decoder_gradient) sae_->ProjectDecoderGradient();
  optimizer_->step();
  sae_->NormalizeDecoderRows();
  ++step_;

  {
    torch::NoGradGuard no_grad;
    const torch::Tensor fired = torch::zeros_like(tokens_since_fired_, torch::kBool)
                                    .index_put_({result.codes.indices.masked_select(result.codes.values.gt(0))}, true);
    tokens_since_fired_.add_(x.size(0)).masked_fill_(fired, 0);
  }
  return SaeStepStats{step_, result.loss.item<double>(), DeadFraction()};
}

double SaeTrainer::DeadFraction() const {
  return tokens_since_fired_.ge(options_.dead_after_tokens).to(torch::kDouble).mean().item<double>();
}

}  // namespace expsvc::lm
