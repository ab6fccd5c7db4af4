#pragma once
// Naive O(L²·D_h) evaluation of RelativeAttention, for tests and the
// benchmark's validation only. It builds every relative-embedding tensor
// explicitly as [L, L, D_h] or [B, L, L, D_h] (the formulas of the slides,
// op by op) from the module's own parameters, sharing no code with the
// index-based path: not the masks, the floor division, the sinusoid or the
// projections.

#include <torch/torch.h>

#include "worker/music/model/attention.h"

namespace expsvc::music {

// Same conventions as RelativeAttentionImpl::ComputeLogitTerms (each term
// divided by √D_h); all entries are defined, blocked ones included.
AttentionLogitTerms ReferenceLogitTerms(const RelativeAttentionImpl& attention, const torch::Tensor& x,
                                        const torch::Tensor& times, const torch::Tensor& pitches,
                                        const torch::Tensor& has_pitch, const torch::Tensor& padding_mask = {});

// [B,1,L,L]: j > i, or key j is padding and j ≠ i.
torch::Tensor ReferenceBlocked(const torch::Tensor& times, const torch::Tensor& padding_mask);

// The attention output [B,L,D] (no dropout).
torch::Tensor ReferenceAttentionForward(const RelativeAttentionImpl& attention, const torch::Tensor& x,
                                        const torch::Tensor& times, const torch::Tensor& pitches,
                                        const torch::Tensor& has_pitch, const torch::Tensor& padding_mask = {});

}  // namespace expsvc::music
