#pragma once
// Relative-attention logits on the CPU and on CUDA: adds the relative-distance terms
// (index, time, pitch) from small per-chunk tables and the causal/blocked
// mask to the content logits in one pass, forward and backward, without
// ever building an L×L×D tensor. A hand-written kernel with its own
// autograd; relative_logits_reference.h is the plain-loop reference the
// test compares it with. Used by worker/music/model/attention.cc.
//
// Each query chunk k (rows [s_k, e_k)) has ONE table: its Q rows times the
// concatenation of every embedding row it can need, [B,H,n_k,W_k]:
//   columns [0, e_k)           q_i·R_idx[d] for index distance d
//   then the time segment      q_i·E_time[r] for the time rows r of the chunk
//   then the pitch segment     q_i·E_pitch[r] (+ a zero column for "no pitch")
// For CirRelAttn-S the segments stay split (bar, position, octave, semitone)
// and a row r reads coarse[r / period] + fine[r % period], since
// Q·(E1[a] + E2[b]) = Q·E1[a] + Q·E2[b]. The kernel then computes, for key
// j ≤ i that is not blocked,
//   logits[b,h,i,j] = content[b,h,i,j] + table[i−j] + table[time col] + table[pitch col]
// in place, −inf elsewhere; the backward pass scatters the gradient into the
// same columns. Reading column i−j is what the skew trick lines up. One
// matrix product per chunk and one pass over the L×L logits each way.

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "worker/kernels/relative_logits/relative_logits_shapes.h"

namespace expsvc::kernels {

struct FusedLogitsArgs {
  TableMode mode = TableMode::kMaskOnly;
  torch::Tensor blocked;    // [B,1,L,L] bool, contiguous
  torch::Tensor time_row;   // [B,1,L,L] int64 (kCombined, kSplit)
  torch::Tensor pitch_row;  // [B,1,L,L] int64, no_pitch where a token lacks pitch
  int64_t query_chunk = 0;
  int64_t no_pitch = 0;
  // kSplit: a time row r reads bar r / time_period and position
  // r % time_period; a pitch row p reads octave p / pitch_period and
  // semitone p % pitch_period (48 and 12 in the music study).
  int64_t time_period = 1;
  int64_t pitch_period = 1;
  // Per chunk: the layout's time rows start at this row of the chunk's time
  // segment (the chunk only spans the bars its own pairs use).
  std::vector<int64_t> time_row_offset;
  std::vector<ChunkColumns> columns;
};

// Adds the terms to `content` ([B,H,L,L], contiguous) in place and returns
// it; differentiable in `content` and every chunk table. Every tensor on one
// device, whose pass RelativeLogitsRunsOn must accept.
torch::Tensor RelativeLogits(torch::Tensor content, at::TensorList chunk_tables, const FusedLogitsArgs& args);

// Whether RelativeLogits takes logits of this device and dtype: float32 or
// float64, on the CPU always, on CUDA where this build has the CUDA pass (a
// CUDA LibTorch and nvcc: the target defines EXPSVC_RELATIVE_LOGITS_CUDA).
bool RelativeLogitsRunsOn(const torch::Device& device, torch::ScalarType dtype);

}  // namespace expsvc::kernels
