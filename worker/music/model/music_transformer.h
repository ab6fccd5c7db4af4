#pragma once
// The decoder-only Transformer of Study 1: token embeddings (one per field,
// summed) → n pre-LayerNorm blocks of causal RelativeAttention + feed-forward
// → final LayerNorm → one linear head per field.
//
// Training-job entry points: MusicTransformer(options), Forward(batch) /
// Loss(batch) (validated, absl::Status on bad input), CountParameters().

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/music/data/token_sequence.h"
#include "worker/music/model/attention.h"

namespace expsvc::music {

// Representation, ParseRepresentation and RepresentationName come from the
// data library, so tokens and model always agree on what the names mean.
// Vocabulary size of each token field, in field order.
std::vector<int64_t> FieldVocabSizes(Representation representation);

struct MusicTransformerOptions {
  TORCH_ARG(Representation, representation) = Representation::kNoteBased;
  TORCH_ARG(int64_t, d_model) = 256;
  TORCH_ARG(int64_t, n_layers) = 4;
  TORCH_ARG(int64_t, n_heads) = 8;
  TORCH_ARG(int64_t, d_ff) = 1024;
  // Residual, feed-forward and attention-weight dropout.
  TORCH_ARG(double, dropout) = 0.1;
  // Longest index distance RelAttn embeds (longer ones are clamped).
  TORCH_ARG(int64_t, max_len) = 2048;
  TORCH_ARG(AttentionKind, attention) = AttentionKind::kAttn;
  // Bar distances beyond ± this many bars are clamped (S^T).
  TORCH_ARG(int64_t, max_relative_bars) = 16;
  // RIPOAttn's sinusoid base B (also used for the absolute encoding).
  TORCH_ARG(double, sinusoid_base) = 10000.0;
  // Adds a sinusoidal encoding of the token index to the embeddings, for
  // every attention kind alike (Attn has no other notion of order).
  TORCH_ARG(bool, absolute_positions) = true;
  // The fused-kernel setting of RelativeAttentionOptions (same values either way).
  TORCH_ARG(bool, fused_kernel) = true;
  TORCH_ARG(int64_t, query_chunk) = 128;
  // RelativeAttentionOptions' flash kernel (same values; no L×L tensor): the
  // model then builds a token layout (BuildTokenLayout) for its layers.
  TORCH_ARG(bool, flash_kernel) = false;

 public:
  RelativeAttentionOptions attention_options() const;
};

// One batch as the model reads it. All tensors on the same device.
struct MusicBatch {
  torch::Tensor tokens;        // [B, L, F] int64, F = number of fields
  torch::Tensor times;         // [B, L] int64, grid positions from the window start (48 per bar)
  torch::Tensor pitches;       // [B, L] int64, 0..127 where has_pitch
  torch::Tensor has_pitch;     // [B, L] bool; false for Bar/BOS/EOS-like tokens
  torch::Tensor padding_mask;  // [B, L] bool, true = padding; may be undefined

  MusicBatch To(const torch::Device& device) const;
};

// Shapes, dtypes, devices, token ranges and pitch ranges.
absl::Status ValidateMusicBatch(const MusicBatch& batch, const MusicTransformerOptions& options);

struct NextTokenLoss {
  torch::Tensor total;                   // scalar: sum of the field losses
  std::vector<torch::Tensor> per_field;  // scalar each
};

// Position t predicts token t+1; mean cross-entropy over targets that are
// not padding, per field, then summed over fields.
NextTokenLoss ComputeNextTokenLoss(const std::vector<torch::Tensor>& logits, const torch::Tensor& tokens,
                                   const torch::Tensor& padding_mask);

class DecoderBlockImpl : public torch::nn::Module {
 public:
  DecoderBlockImpl(const MusicTransformerOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const RelativeLayout& layout);
  // Incremental decoding (see RelativeAttentionImpl::ForwardCached).
  torch::Tensor ForwardCached(const torch::Tensor& x, AttentionCache& cache, const torch::Tensor& times,
                              const torch::Tensor& pitches, const torch::Tensor& has_pitch);

  RelativeAttention attention() const { return attention_; }

 private:
  torch::nn::LayerNorm attention_norm_{nullptr};
  RelativeAttention attention_{nullptr};
  torch::nn::LayerNorm feed_forward_norm_{nullptr};
  torch::nn::Linear feed_forward_in_{nullptr};
  torch::nn::Linear feed_forward_out_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(DecoderBlock);

// What incremental decoding keeps between steps: every layer's keys and
// values, and the metadata of every token so far.
struct MusicDecodeState {
  std::vector<AttentionCache> layers;
  torch::Tensor times;      // [B, T] int64
  torch::Tensor pitches;    // [B, T] int64
  torch::Tensor has_pitch;  // [B, T] bool
  int64_t length() const { return times.defined() ? times.size(1) : 0; }
};

class MusicTransformerImpl : public torch::nn::Module {
 public:
  explicit MusicTransformerImpl(MusicTransformerOptions options);

  // Unchecked (TORCH_CHECK on shape errors). Returns logits per field,
  // each [B, L, vocab_f].
  std::vector<torch::Tensor> forward(const torch::Tensor& tokens, const torch::Tensor& times,
                                     const torch::Tensor& pitches, const torch::Tensor& has_pitch,
                                     const torch::Tensor& padding_mask = {});

  // Validated; errors (bad input, c10::Error) come back as a Status.
  absl::StatusOr<std::vector<torch::Tensor>> Forward(const MusicBatch& batch);

  // Incremental decoding: feeds the n tokens that follow the ones already in
  // `state` (tokens [B,n,F], their times/pitches/has_pitch [B,n]; no
  // padding) and returns the logits of those n positions per field, equal
  // to forward() on the whole sequence. Call in eval mode (no dropout). The
  // first call (the prompt) fills the cache; later calls usually pass n = 1.
  std::vector<torch::Tensor> ForwardCached(const torch::Tensor& tokens, const torch::Tensor& times,
                                           const torch::Tensor& pitches, const torch::Tensor& has_pitch,
                                           MusicDecodeState& state);
  absl::StatusOr<NextTokenLoss> Loss(const MusicBatch& batch);

  const MusicTransformerOptions& options() const { return options_; }
  const std::vector<int64_t>& vocab_sizes() const { return vocab_sizes_; }
  DecoderBlock block(size_t index) const { return blocks_.at(index); }

 private:
  MusicTransformerOptions options_;
  std::vector<int64_t> vocab_sizes_;
  std::vector<torch::nn::Embedding> embeddings_;
  std::vector<DecoderBlock> blocks_;
  torch::nn::Dropout embedding_dropout_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};
  std::vector<torch::nn::Linear> heads_;
  // Sinusoidal encoding of token indices 0..max_len−1 (buffer, double).
  torch::Tensor absolute_encoding_;
};
TORCH_MODULE(MusicTransformer);

// Number of scalar parameters.
int64_t CountParameters(const torch::nn::Module& module);

}  // namespace expsvc::music
