#pragma once
// What the attention benches (CPU and GPU) share: the layer's size, the
// random 16-bar window they time, and the short names of the variants in
// their key=value lines, so their results join (attn, relattn, ripo,
// cirrel_s, cirrel_h).

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "worker/music/model/attention.h"

namespace expsvc::bench {

inline constexpr int64_t kAttentionModelDim = 256;
inline constexpr int64_t kAttentionHeads = 8;
inline constexpr int64_t kAttentionWindowBars = 16;

inline std::string AttentionKey(music::AttentionKind kind) {
  switch (kind) {
    case music::AttentionKind::kAttn: return "attn";
    case music::AttentionKind::kRelAttn: return "relattn";
    case music::AttentionKind::kRipoAttn: return "ripo";
    case music::AttentionKind::kCirRelAttnS: return "cirrel_s";
    case music::AttentionKind::kCirRelAttnH: return "cirrel_h";
  }
  return "unknown";
}

struct AttentionInputs {
  torch::Tensor x, times, pitches, has_pitch, grad_output;
};

// A 16-bar window: L tokens at sorted random grid positions, pitches of a
// piano range, 10% of the tokens (bars, BOS) without pitch; drawn on the
// CPU (the same values for every device), then moved to `device`.
inline AttentionInputs MakeAttentionInputs(int64_t batch, int64_t length, torch::Dtype dtype,
                                           const torch::Device& device, int64_t seed) {
  torch::manual_seed(seed);
  AttentionInputs in;
  in.x = torch::randn({batch, length, kAttentionModelDim}, dtype);
  in.times = std::get<0>(
      torch::sort(torch::randint(0, kAttentionWindowBars * music::kPositionsPerBar, {batch, length}, torch::kLong), 1));
  in.pitches = torch::randint(36, 97, {batch, length}, torch::kLong);
  in.has_pitch = torch::rand({batch, length}) > 0.1;
  in.grad_output = torch::randn({batch, length, kAttentionModelDim}, dtype);
  for (torch::Tensor* t : {&in.x, &in.times, &in.pitches, &in.has_pitch, &in.grad_output}) *t = t->to(device);
  return in;
}

inline void ClearGrads(torch::nn::Module& module) {
  for (torch::Tensor& p : module.parameters()) p.mutable_grad() = torch::Tensor();
}

}  // namespace expsvc::bench
