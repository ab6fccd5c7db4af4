#pragma once
// Token sequences (worker/music/data) to a padded MusicBatch: what training,
// evaluation and the GPU race all feed the model.

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "worker/music/data/token_sequence.h"
#include "worker/music/model/music_transformer.h"

namespace expsvc::music {

// Pads (or cuts) sequences to a common length of at most max_len tokens, on
// `device`. `sequences` must not be empty.
MusicBatch CollateSequences(const std::vector<TokenSequence>& sequences, int64_t max_len, const torch::Device& device);

}  // namespace expsvc::music
