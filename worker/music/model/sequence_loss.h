#pragma once
// The mean next-token loss over token sequences, as the music jobs report
// validation and test loss and the GPU race scores its variants.

#include <cstddef>
#include <cstdint>
#include <functional>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "worker/music/data/token_sequence.h"
#include "worker/music/model/music_transformer.h"

namespace expsvc::music {

// Sequence i of `count`, made on demand (windows are tokenized lazily).
using SequenceSource = std::function<absl::StatusOr<TokenSequence>(size_t index)>;

// The sum of field losses, averaged over every predicted token: batches of
// batch_size sequences (cut to max_len, as in training), each batch's mean
// weighted by its targets. Runs in eval mode without gradients and restores
// the model's training flag. NaN when no sequence has a token to predict.
absl::StatusOr<double> MeanSequenceLoss(MusicTransformer& model, size_t count, const SequenceSource& sequence,
                                        int64_t batch_size, int64_t max_len, const torch::Device& device);

}  // namespace expsvc::music
