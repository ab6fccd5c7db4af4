#pragma once
// Llama-architecture decoder (the LLM-jp-3 family and the study's own tiny
// bilingual LM) in LibTorch, with Hugging Face parameter names so checkpoints
// load unchanged:
//   model.embed_tokens.weight
//   model.layers.{i}.input_layernorm.weight
//   model.layers.{i}.self_attn.{q,k,v,o}_proj.weight      (no biases)
//   model.layers.{i}.post_attention_layernorm.weight
//   model.layers.{i}.mlp.{gate,up,down}_proj.weight
//   model.norm.weight
//   lm_head.weight                                       (absent when tied)
//
// Block i: h = x + o_proj(Attn(RoPE(q), RoPE(k), v)(RMSNorm(x))),
//          out = h + down_proj(silu(gate_proj(n)) ⊙ up_proj(n)), n = RMSNorm(h).
// The "residual after block i" is `out` (before the final norm, also for the
// last block), which is what the study's SAEs read.

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "worker/lm/checkpoint/llama_config.h"

namespace expsvc::lm {

// ---- Rotary position embedding (Hugging Face convention) -------------------
// Frequency k (0 ≤ k < D/2) is θ^(−2k/D); dimension pairs are (k, k + D/2):
// the first half of each head rotates against the second half (rotate_half),
// not adjacent pairs as in the original RoPE paper.

struct RotaryTables {
  torch::Tensor cos;  // [L, D]: cos(position · frequency[k mod D/2])
  torch::Tensor sin;  // [L, D]
};

// Tables for positions 0..length−1, computed in float64 and cast to `options`.
RotaryTables MakeRotaryTables(int64_t length, int64_t head_dim, double theta, const torch::TensorOptions& options);

// rotate_half(x) = cat(−x[..., D/2:], x[..., :D/2]).
torch::Tensor RotateHalf(const torch::Tensor& x);

// x · cos + rotate_half(x) · sin, x: [..., L, D].
torch::Tensor ApplyRotaryEmbedding(const torch::Tensor& x, const RotaryTables& tables);

// ---- Modules ---------------------------------------------------------------

// weight ⊙ x / sqrt(mean(x²) + eps), computed in float32 (float64 for a
// float64 input) and cast back, as Hugging Face does.
class LlamaRmsNormImpl : public torch::nn::Module {
 public:
  LlamaRmsNormImpl(int64_t size, double eps);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(LlamaRmsNorm);

// Causal multi-head attention; with num_key_value_heads < num_attention_heads
// (grouped-query), key/value head g serves query heads g·r … g·r + r − 1,
// r = heads / kv_heads.
class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const LlamaConfig& config);
  // x: [B, L, hidden]; causal_mask: [L, L] bool, true = blocked.
  torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rotary, const torch::Tensor& causal_mask);

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_;
  int64_t kv_heads_;
  int64_t head_dim_;
};
TORCH_MODULE(LlamaAttention);

// SwiGLU feed-forward: down(silu(gate(x)) ⊙ up(x)).
class LlamaMlpImpl : public torch::nn::Module {
 public:
  explicit LlamaMlpImpl(const LlamaConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMlp);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaDecoderLayerImpl(const LlamaConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rotary, const torch::Tensor& causal_mask);

  LlamaRmsNorm input_layernorm{nullptr};
  LlamaAttention self_attn{nullptr};
  LlamaRmsNorm post_attention_layernorm{nullptr};
  LlamaMlp mlp{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

// The "model." part: embeddings, blocks, final norm.
class LlamaDecoderStackImpl : public torch::nn::Module {
 public:
  explicit LlamaDecoderStackImpl(const LlamaConfig& config);

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  LlamaRmsNorm norm{nullptr};

  LlamaDecoderLayer layer(int64_t index) const { return layers->ptr<LlamaDecoderLayerImpl>(index); }
};
TORCH_MODULE(LlamaDecoderStack);

// What a forward pass computes and returns.
struct LlamaForwardOptions {
  // Blocks (0-based) whose output residual stream is returned.
  std::vector<int64_t> residual_layers;
  // false: skip the final norm and the LM head (activations only).
  bool compute_logits = true;
  // Run no block past the deepest requested one (needs compute_logits = false).
  bool stop_after_deepest_layer = false;
  // When set, the residual after block `edit_residual_after` is replaced by
  // edit_residual(residual) [B, L, hidden] before the next block reads it
  // (the intervention experiment steers the stream this way).
  int64_t edit_residual_after = -1;
  std::function<torch::Tensor(const torch::Tensor&)> edit_residual;
};

struct LlamaForwardOutput {
  std::map<int64_t, torch::Tensor> residuals;  // block → [B, L, hidden], model dtype
  torch::Tensor logits;                        // [B, L, vocab]; undefined unless computed
};

class LlamaModelImpl : public torch::nn::Module {
 public:
  // Float32 on CPU; weights drawn as Hugging Face initialises Llama (normal,
  // std 0.02; norms 1). Use ->to(dtype/device) afterwards. `config` must be
  // valid (ValidateLlamaConfig); an invalid one throws c10::Error here, so
  // callers holding untrusted configs validate first (LoadLlamaModel does).
  explicit LlamaModelImpl(const LlamaConfig& config);

  // Unchecked: tokens [B, L] int64 on the model's device.
  LlamaForwardOutput forward(const torch::Tensor& tokens, const LlamaForwardOptions& options = {});

  // Validated (shape, dtype, device, token range, layer indices, option
  // combination); errors, c10::Error included, come back as a Status.
  absl::StatusOr<LlamaForwardOutput> Forward(const torch::Tensor& tokens, const LlamaForwardOptions& options = {});

  const LlamaConfig& config() const { return config_; }
  torch::Device device() const { return model->embed_tokens->weight.device(); }
  torch::Dtype dtype() const { return model->embed_tokens->weight.scalar_type(); }

  LlamaDecoderStack model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings

 private:
  LlamaConfig config_;
};
TORCH_MODULE(LlamaModel);

// Validates `config` and builds the model (float32, CPU) without throwing.
absl::StatusOr<LlamaModel> CreateLlamaModel(const LlamaConfig& config);

}  // namespace expsvc::lm
