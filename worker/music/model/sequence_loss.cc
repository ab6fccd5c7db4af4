#include "worker/music/model/sequence_loss.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/music/model/collate_sequences.h"

namespace expsvc::music {

absl::StatusOr<double> MeanSequenceLoss(MusicTransformer& model, size_t count, const SequenceSource& sequence,
                                        int64_t batch_size, int64_t max_len, const torch::Device& device) {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be at least 1, got ", batch_size));
  }
  torch::NoGradGuard no_grad;
  // Restores the training flag on every return path.
  struct EvalMode {
    MusicTransformer& model;
    bool was_training;
    ~EvalMode() { model->train(was_training); }
  } eval_mode{model, model->is_training()};
  model->eval();
  double weighted = 0, weight = 0;
  for (size_t start = 0; start < count; start += static_cast<size_t>(batch_size)) {
    std::vector<TokenSequence> sequences;
    for (size_t i = start; i < std::min(count, start + static_cast<size_t>(batch_size)); ++i) {
      absl::StatusOr<TokenSequence> next = sequence(i);
      if (!next.ok()) return next.status();
      sequences.push_back(*std::move(next));
    }
    const MusicBatch batch = CollateSequences(sequences, max_len, device);
    absl::StatusOr<NextTokenLoss> loss = model->Loss(batch);
    if (!loss.ok()) return loss.status();
    const double targets = (~batch.padding_mask).narrow(1, 1, batch.padding_mask.size(1) - 1).sum().item<double>();
    weighted += loss->total.item<double>() * targets;
    weight += targets;
  }
  return weight > 0 ? weighted / weight : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace expsvc::music
