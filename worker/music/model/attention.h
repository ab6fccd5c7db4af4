#pragma once
// Causal multi-head self-attention with the relative terms compared in
// Study 1 (Inaba, Yoshii, Nakamura 2024):
//
//   logits = (Q·Kᵀ + S_idx + S^T + S^P) / √D_h      (only the terms a kind has)
//
//   Attn          Q·Kᵀ
//   RelAttn       + S_idx = Q·R_idx[i−j]ᵀ             (skew trick)
//   RIPOAttn      + S_idx + S^T = Q·SPE(ΔT)ᵀ + S^P = Q·SPE(ΔP)ᵀ
//   CirRelAttn-H  + S_idx + S^T = Q·(R_bar[ΔT div 48] ⊙ R_pos[ΔT mod 48])ᵀ
//                         + S^P = Q·(R_oct[ΔP div 12] ⊙ R_semi[ΔP mod 12])ᵀ
//   CirRelAttn-S  as -H with ⊙ replaced by + (our reading of "S")
//
// S^T and S^P use the index-based algorithm: Q is multiplied with the small
// table of distinct relative-distance embeddings ([B,H,L,rows]) and the
// result is gathered with an L×L row-index matrix, so no L×L×D_h tensor is
// ever built. Two implementations give the same values: a generic one from
// tensor ops (skew, gather) and a fused kernel (CPU, and CUDA where built)
// that adds every term and the mask in one pass over the logits, per chunk
// of query rows so that causality halves the tables. worker/music/model/README.md
// has the details and the choices made.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"

#include "worker/music/data/music_grid.h"
#include "worker/music/model/relative_layout.h"

namespace expsvc::music {

enum class AttentionKind { kAttn, kRelAttn, kRipoAttn, kCirRelAttnS, kCirRelAttnH };

// "Attn", "RelAttn", "RIPOAttn", "CirRelAttn-S", "CirRelAttn-H".
absl::StatusOr<AttentionKind> ParseAttentionKind(std::string_view name);
std::string AttentionKindName(AttentionKind kind);
std::vector<AttentionKind> AllAttentionKinds();
// Every kind but Attn has the index term S_idx (the slides' RIPO and CirRel
// formulas both keep RelAttn's term).
bool HasIndexBias(AttentionKind kind);
// RIPOAttn and both CirRelAttn kinds have S^T and S^P.
bool HasTimePitchBias(AttentionKind kind);

// Fixed sinusoidal encoding of (possibly negative) integer distances:
// E[n, k] = sin(Δ_n·w_k) for even k, cos(Δ_n·w_k) for odd k, with
// w_k = 1 / base^(2⌊k/2⌋/dim). Returns [N, dim] of `dtype` on distances' device.
torch::Tensor SinusoidalEncoding(const torch::Tensor& distances, int64_t dim, double base, torch::Dtype dtype);

struct RelativeAttentionOptions {
  RelativeAttentionOptions(int64_t d_model, int64_t n_heads) : d_model_(d_model), n_heads_(n_heads) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, n_heads);
  TORCH_ARG(AttentionKind, kind) = AttentionKind::kAttn;
  // RelAttn: index distances 0..max_len−1 have embeddings; longer ones are
  // clamped to max_len−1.
  TORCH_ARG(int64_t, max_len) = 2048;
  // S^T: bar distances (ΔT div 48) are clamped to ±max_relative_bars, keeping
  // the position within the bar (ΔT mod 48). 16 covers a 16-bar window.
  TORCH_ARG(int64_t, max_relative_bars) = 16;
  // RIPOAttn's sinusoid base B.
  TORCH_ARG(double, sinusoid_base) = 10000.0;
  // Dropout on the attention weights.
  TORCH_ARG(double, dropout) = 0.0;
  // Add the relative terms and the mask in one hand-written pass (forward
  // and backward) over query chunks (worker/kernels/relative_logits), on the
  // CPU, and on CUDA where the build has that kernel; otherwise the generic
  // skew + gather path of tensor ops. Same values; false forces the generic
  // path (tests compare both).
  TORCH_ARG(bool, fused_kernel) = true;
  // Query rows per chunk of the fused path (MakeLayout passes it on).
  TORCH_ARG(int64_t, query_chunk) = 128;
  // FlashAttention-style instead (worker/kernels/flash_relative): each query
  // row streams over its keys with an online softmax, so neither the logits
  // nor the weights are stored as L×L tensors; the index term is a dot
  // product with its embedding row, the time and pitch terms are read from
  // Q times their small tables. Takes a token layout (BuildTokenLayout, or
  // any layout: it reads the token metadata only). Meant for CUDA; its CPU
  // pass is the kernels' reference and slower than the fused path there.
  TORCH_ARG(bool, flash_kernel) = false;
};

// The pre-softmax logits split by term, each [B,H,L,L] and already divided
// by √D_h. Undefined for terms the kind does not have. Entries at blocked
// positions are unspecified (the skew trick leaves wrap-around values there).
struct AttentionLogitTerms {
  torch::Tensor content;
  torch::Tensor index_bias;
  torch::Tensor time_bias;
  torch::Tensor pitch_bias;
};

// Bytes held by the tensors the relative terms create in one forward (from
// their actual shapes), grouped by what they carry and how they grow.
struct RelativeTermBytes {
  // Relative-embedding rows gathered, combined or stacked ([rows, D_h]): the
  // only tensors with a D_h axis. Index rows grow as L·D_h; time/pitch rows
  // are bounded by the window (bars × 48, octaves × 12). The naive method
  // expands these to [B, L, L, D_h].
  int64_t embedding_rows = 0;
  // Q times the time/pitch rows: [B,H,L,rows], linear in L.
  int64_t score_tables = 0;
  // L×L-shaped maps without a D axis, the same order as the Q·Kᵀ logits
  // every kind has: index scores q_i·R[d], skewed/gathered biases, row
  // indices [B,1,L,L].
  int64_t pair_maps = 0;
};

// Keys and values of the tokens decoded so far, for incremental generation
// (one per layer). Empty at the start; ForwardCached appends to it.
struct AttentionCache {
  torch::Tensor keys;    // [B,H,T,D_h]
  torch::Tensor values;  // [B,H,T,D_h]
  int64_t length() const { return keys.defined() ? keys.size(2) : 0; }
};

class RelativeAttentionImpl : public torch::nn::Module {
 public:
  explicit RelativeAttentionImpl(RelativeAttentionOptions options);

  void reset();

  // x: [B,L,D] → [B,L,D].
  torch::Tensor forward(const torch::Tensor& x, const RelativeLayout& layout);
  // Convenience: builds the layout for this single layer.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& times, const torch::Tensor& pitches,
                        const torch::Tensor& has_pitch, const torch::Tensor& padding_mask = {});

  // Incremental decoding: x holds the n newest tokens [B,n,D], which come
  // right after the cache's tokens; times, pitches, has_pitch cover all
  // tokens so far ([B, cache.length() + n]). Appends the new keys/values to
  // the cache and returns [B,n,D], equal to the rows of forward() on the
  // whole sequence. The relative terms of each new query against every
  // cached key are computed on the fly: Q times the whole (small) table of
  // index, time and pitch embeddings, then a gather with the pair indices.
  torch::Tensor ForwardCached(const torch::Tensor& x, AttentionCache& cache, const torch::Tensor& times,
                              const torch::Tensor& pitches, const torch::Tensor& has_pitch);

  // The layout forward() needs: a token layout with flash_kernel, the full
  // one otherwise.
  RelativeLayout MakeLayout(const torch::Tensor& times, const torch::Tensor& pitches, const torch::Tensor& has_pitch,
                            const torch::Tensor& padding_mask = {}) const;

  // For tests and inspection: the pre-softmax terms.
  AttentionLogitTerms ComputeLogitTerms(const torch::Tensor& x, const RelativeLayout& layout);
  // For the benchmark: sizes of the tensors the relative terms allocate.
  RelativeTermBytes MeasureRelativeTerms(const torch::Tensor& x, const RelativeLayout& layout);

  const RelativeAttentionOptions& options() const { return options_; }
  int64_t head_dim() const { return options_.d_model() / options_.n_heads(); }

  // Parameters, exposed for the naive reference. The relative embeddings
  // have D_h columns and are shared by all heads of this layer; undefined
  // when the kind does not use them.
  torch::nn::Linear qkv_projection() const { return qkv_; }
  torch::nn::Linear output_projection() const { return out_; }
  const torch::Tensor& index_embedding() const { return index_embedding_; }        // [max_len, D_h]
  const torch::Tensor& bar_embedding() const { return bar_embedding_; }            // [2M+1, D_h], row b+M
  const torch::Tensor& position_embedding() const { return position_embedding_; }  // [48, D_h]
  const torch::Tensor& octave_embedding() const { return octave_embedding_; }      // [22, D_h], row o+11
  const torch::Tensor& semitone_embedding() const { return semitone_embedding_; }  // [12, D_h]

 private:
  struct Projections {
    torch::Tensor q;  // [B,H,L,D_h], already scaled by 1/√D_h
    torch::Tensor k;
    torch::Tensor v;
  };
  Projections Project(const torch::Tensor& x);
  // Whether the fused kernel takes these Q·Kᵀ logits (device and dtype).
  bool UseFusedKernel(const torch::Tensor& logits) const;
  // Generic path. Q·E_idxᵀ with column c holding distance L−1−c, [B,H,L,L].
  torch::Tensor IndexTable(const torch::Tensor& q, RelativeTermBytes* bytes) const;
  // Q times the time embeddings of bars [first_bar, first_bar + num_bars) ×
  // 48 positions: [B,H,L',num_bars·48].
  torch::Tensor TimeTable(const torch::Tensor& q, int64_t first_bar, int64_t num_bars, RelativeTermBytes* bytes) const;
  // Q times the pitch embeddings of the layout's octave span, plus a zero
  // column for pairs without pitch: [B,H,L,num_octaves·12 + 1].
  torch::Tensor PitchTable(const torch::Tensor& q, const RelativeLayout& layout, RelativeTermBytes* bytes) const;
  // Q·(combined table)ᵀ for a circular pair of embeddings: [B,H,L',n1·n2],
  // row a·n2 + b combining coarse[a] and fine[b].
  torch::Tensor CircularTable(const torch::Tensor& q, const torch::Tensor& coarse, const torch::Tensor& fine,
                              RelativeTermBytes* bytes) const;
  // Generic path: the [B,H,L,L] terms (skew for S_idx, gathers for S^T, S^P).
  AttentionLogitTerms GenericTerms(const Projections& p, const RelativeLayout& layout, RelativeTermBytes* bytes) const;
  // Flash path: the attention context [B,L,D] from the token layout.
  torch::Tensor FlashContext(const Projections& p, const RelativeLayout& layout) const;
  // Fused path: adds every relative term to `content` in place and
  // masks it; returns content.
  torch::Tensor FusedLogits(torch::Tensor content, const torch::Tensor& q, const RelativeLayout& layout,
                            RelativeTermBytes* bytes) const;
  // needs_pair_maps: the generic and fused paths read the L×L maps; the
  // flash path reads the token metadata only.
  void CheckLayout(const torch::Tensor& x, const RelativeLayout& layout, bool needs_pair_maps) const;

  RelativeAttentionOptions options_;
  torch::nn::Linear qkv_{nullptr};
  torch::nn::Linear out_{nullptr};
  torch::nn::Dropout attention_dropout_{nullptr};
  torch::Tensor index_embedding_;
  torch::Tensor bar_embedding_;
  torch::Tensor position_embedding_;
  torch::Tensor octave_embedding_;
  torch::Tensor semitone_embedding_;
  // RIPOAttn's fixed sinusoids: [(2M+1)·48, D_h] for ΔT = −48M … 48M+47 and
  // [22·12, D_h] for ΔP = −132 … 131 (buffers, double).
  torch::Tensor time_encoding_;
  torch::Tensor pitch_encoding_;
};
TORCH_MODULE(RelativeAttention);

}  // namespace expsvc::music
