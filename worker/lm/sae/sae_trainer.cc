#include "worker/lm/sae/sae_trainer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "worker/lm/sae/sparse_sae_step.h"

namespace expsvc::lm {

SaeTrainer::SaeTrainer(TopKSae sae, SaeTrainerOptions options) : sae_(std::move(sae)), options_(options) {
  optimizer_ = std::make_unique<torch::optim::Adam>(sae_->parameters(),
                                                    torch::optim::AdamOptions(options_.lr).eps(options_.adam_eps));
  // On the SAE's device, beside the codes that update it (move the SAE first).
  tokens_since_fired_ = torch::zeros({sae_->options().n_latents()},
                                     torch::TensorOptions().dtype(torch::kLong).device(sae_->w_enc.device()));
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

absl::Status SaeTrainer::Save(const std::string& path) {
  try {
    torch::serialize::OutputArchive archive;
    sae_->save(archive);
    torch::serialize::OutputArchive optimizer_archive;
    optimizer_->save(optimizer_archive);
    archive.write("trainer/optimizer", optimizer_archive);
    archive.write("trainer/step", torch::tensor(step_));
    archive.write("trainer/tokens_since_fired", tokens_since_fired_);
    archive.save_to(path);
  } catch (const c10::Error& error) {
    return absl::InternalError(
        absl::StrCat("saving the SAE resume point ", path, ": ", error.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::Status SaeTrainer::Load(const std::string& path) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, sae_->w_enc.device());
    sae_->load(archive);
    torch::serialize::InputArchive optimizer_archive;
    archive.read("trainer/optimizer", optimizer_archive);
    optimizer_->load(optimizer_archive);
    torch::Tensor step;
    archive.read("trainer/step", step);
    torch::Tensor counters;
    archive.read("trainer/tokens_since_fired", counters);
    if (!counters.sizes().equals(tokens_since_fired_.sizes())) {
      return absl::FailedPreconditionError(absl::StrCat("SAE resume point ", path, " was made for ", counters.numel(),
                                                        " latents, not ", tokens_since_fired_.numel()));
    }
    step_ = step.item<int64_t>();
    tokens_since_fired_ = counters.to(tokens_since_fired_.device(), torch::kLong);
  } catch (const c10::Error& error) {
    return absl::DataLossError(
        absl::StrCat("cannot load the SAE resume point ", path, ": ", error.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace expsvc::lm
