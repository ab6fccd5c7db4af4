#pragma once
// FlashAttention-style causal attention with the relative terms of the music
// study: each query row streams over its keys with an online softmax, adds
//
//   q_i·k_j + q_i·E_idx[min(i−j, rows−1)] + QT[i, time col(i,j)] + QP[i, pitch col(i,j)]
//
// (the terms a kind has), and accumulates the output, so no L×L tensor is
// built: the scores are recomputed in the backward from the saved per-row
// log-sum-exp. Memory is linear in L (the score tables QT and QP are Q
// times the kind's small time and pitch tables, bounded by the window).
// Dropout on the attention weights comes from a counter-based hash of
// (seed, b, h, i, j), so the backward needs no stored mask.
//
// Passes: CUDA kernels where built (a CUDA LibTorch and nvcc; the target
// then defines EXPSVC_FLASH_RELATIVE_CUDA), and the CPU pass, which runs
// the same row code and is the reference the gpu test compares them with.
// worker/music/model/attention.cc uses it when its option flash_kernel is
// set.

#include <cstdint>

#include <torch/torch.h>

#include "worker/kernels/flash_relative/flash_relative_shapes.h"

namespace expsvc::kernels {

struct FlashRelativeArgs {
  // [B,L] on Q's device: times and pitches int64, has_pitch bool (needed
  // with the score tables), padding bool or undefined (true = padding key).
  torch::Tensor times;
  torch::Tensor pitches;
  torch::Tensor has_pitch;
  torch::Tensor padding;
  // The score tables' column rules; the tables are rules.TimeColumns() and
  // rules.PitchColumns() wide.
  FlashColumnRules rules;
  double dropout = 0.0;
  uint64_t seed = 0;
};

// q (already scaled by 1/√D_h), k, v: [B,H,L,D_h]; index_embedding
// [rows, D_h] or undefined; time_table [B,H,L,C_t] and pitch_table
// [B,H,L,C_p], both or neither. Returns [B,H,L,D_h], differentiable in
// every tensor argument. All on one device, one dtype, which
// FlashRelativeRunsOn must accept.
torch::Tensor FlashRelativeAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& index_embedding, const torch::Tensor& time_table,
                                     const torch::Tensor& pitch_table, const FlashRelativeArgs& args);

// float32 or float64, a head size the kernels are built for (8, 16, 32,
// 64, 128), on the CPU or on CUDA where this build has the kernels.
bool FlashRelativeRunsOn(const torch::Device& device, torch::ScalarType dtype, int64_t head_dim);

}  // namespace expsvc::kernels
