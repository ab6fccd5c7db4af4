#include "worker/lm/model/llama_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace expsvc::lm {
namespace {

namespace F = torch::nn::functional;

// Hugging Face's LlamaPreTrainedModel initialiser: normal(0, 0.02).
constexpr double kInitializerRange = 0.02;

// Softmax and RMSNorm run in at least float32 (float64 stays float64).
torch::Dtype ComputeDtype(const torch::Tensor& x) {
  return x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}

torch::nn::Linear Projection(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

}  // namespace

RotaryTables MakeRotaryTables(int64_t length, int64_t head_dim, double theta, const torch::TensorOptions& options) {
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(options.device());
  // frequency k = θ^(−2k/D) = 1 / θ^(2k/D)
  const torch::Tensor frequencies =
      1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, f64) / static_cast<double>(head_dim));
  const torch::Tensor angles = torch::outer(torch::arange(length, f64), frequencies);  // [L, D/2]
  const torch::Tensor both_halves = torch::cat({angles, angles}, -1);                  // [L, D]
  return {both_halves.cos().to(options.dtype()), both_halves.sin().to(options.dtype())};
}

torch::Tensor RotateHalf(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

torch::Tensor ApplyRotaryEmbedding(const torch::Tensor& x, const RotaryTables& tables) {
  return x * tables.cos + RotateHalf(x) * tables.sin;
}

LlamaRmsNormImpl::LlamaRmsNormImpl(int64_t size, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({size}));
}

torch::Tensor LlamaRmsNormImpl::forward(const torch::Tensor& x) {
  const torch::Tensor wide = x.to(ComputeDtype(x));
  const torch::Tensor normalized = wide * torch::rsqrt(wide.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight * normalized.to(x.scalar_type());
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& config)
    : heads_(config.num_attention_heads), kv_heads_(config.num_key_value_heads), head_dim_(config.head_dim()) {
  q_proj = register_module("q_proj", Projection(config.hidden_size, heads_ * head_dim_));
  k_proj = register_module("k_proj", Projection(config.hidden_size, kv_heads_ * head_dim_));
  v_proj = register_module("v_proj", Projection(config.hidden_size, kv_heads_ * head_dim_));
  o_proj = register_module("o_proj", Projection(heads_ * head_dim_, config.hidden_size));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const RotaryTables& rotary,
                                          const torch::Tensor& causal_mask) {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  // [B, L, heads·D] → [B, heads, L, D]
  torch::Tensor q = q_proj(x).view({batch, length, heads_, head_dim_}).transpose(1, 2);
  torch::Tensor k = k_proj(x).view({batch, length, kv_heads_, head_dim_}).transpose(1, 2);
  torch::Tensor v = v_proj(x).view({batch, length, kv_heads_, head_dim_}).transpose(1, 2);
  q = ApplyRotaryEmbedding(q, rotary);
  k = ApplyRotaryEmbedding(k, rotary);
  if (kv_heads_ != heads_) {
    const int64_t group = heads_ / kv_heads_;
    k = k.repeat_interleave(group, /*dim=*/1);
    v = v.repeat_interleave(group, /*dim=*/1);
  }
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim_)));
  scores = scores.masked_fill(causal_mask, -std::numeric_limits<double>::infinity());
  const torch::Tensor weights = torch::softmax(scores, -1, ComputeDtype(scores)).to(q.scalar_type());
  const torch::Tensor context = torch::matmul(weights, v).transpose(1, 2).reshape({batch, length, heads_ * head_dim_});
  return o_proj(context);
}

LlamaMlpImpl::LlamaMlpImpl(const LlamaConfig& config) {
  gate_proj = register_module("gate_proj", Projection(config.hidden_size, config.intermediate_size));
  up_proj = register_module("up_proj", Projection(config.hidden_size, config.intermediate_size));
  down_proj = register_module("down_proj", Projection(config.intermediate_size, config.hidden_size));
}

torch::Tensor LlamaMlpImpl::forward(const torch::Tensor& x) {
  return down_proj(F::silu(gate_proj(x)) * up_proj(x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& config) {
  input_layernorm = register_module("input_layernorm", LlamaRmsNorm(config.hidden_size, config.rms_norm_eps));
  self_attn = register_module("self_attn", LlamaAttention(config));
  post_attention_layernorm =
      register_module("post_attention_layernorm", LlamaRmsNorm(config.hidden_size, config.rms_norm_eps));
  mlp = register_module("mlp", LlamaMlp(config));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const RotaryTables& rotary,
                                             const torch::Tensor& causal_mask) {
  const torch::Tensor h = x + self_attn(input_layernorm(x), rotary, causal_mask);
  return h + mlp(post_attention_layernorm(h));
}

LlamaDecoderStackImpl::LlamaDecoderStackImpl(const LlamaConfig& config) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(config.vocab_size, config.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(config));
  norm = register_module("norm", LlamaRmsNorm(config.hidden_size, config.rms_norm_eps));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& config) : config_(config) {
  const absl::Status valid = ValidateLlamaConfig(config);
  TORCH_CHECK(valid.ok(), std::string(valid.message()));
  model = register_module("model", LlamaDecoderStack(config));
  if (!config.tie_word_embeddings) {
    lm_head = register_module("lm_head", Projection(config.hidden_size, config.vocab_size));
  }
  torch::NoGradGuard no_grad;
  for (auto& parameter : named_parameters()) {
    const bool is_norm = parameter.key().ends_with("norm.weight");
    if (is_norm) {
      parameter.value().fill_(1.0);
    } else {
      parameter.value().normal_(0.0, kInitializerRange);
    }
  }
}

LlamaForwardOutput LlamaModelImpl::forward(const torch::Tensor& tokens, const LlamaForwardOptions& options) {
  const int64_t length = tokens.size(1);
  const int64_t num_layers = config_.num_hidden_layers;
  std::vector<bool> wanted(num_layers, false);
  int64_t deepest = -1;
  for (int64_t layer : options.residual_layers) {
    wanted.at(layer) = true;
    deepest = std::max(deepest, layer);
  }
  const int64_t last_layer = options.stop_after_deepest_layer ? deepest : num_layers - 1;

  LlamaForwardOutput output;
  torch::Tensor hidden = model->embed_tokens(tokens);
  const RotaryTables rotary = MakeRotaryTables(length, config_.head_dim(), config_.rope_theta, hidden.options());
  const torch::Tensor causal_mask =
      torch::ones({length, length}, torch::TensorOptions().dtype(torch::kBool).device(tokens.device())).triu(1);
  for (int64_t i = 0; i <= last_layer; ++i) {
    hidden = model->layer(i)(hidden, rotary, causal_mask);
    if (options.edit_residual && options.edit_residual_after == i) hidden = options.edit_residual(hidden);
    if (wanted[i]) output.residuals[i] = hidden;
  }
  if (options.compute_logits) {
    const torch::Tensor normalized = model->norm(hidden);
    output.logits = !lm_head.is_empty() ? lm_head(normalized) : F::linear(normalized, model->embed_tokens->weight);
  }
  return output;
}

absl::StatusOr<LlamaModel> CreateLlamaModel(const LlamaConfig& config) {
  EXPSVC_RETURN_IF_ERROR(ValidateLlamaConfig(config));
  try {
    return LlamaModel(config);
  } catch (const c10::Error& error) {
    return absl::InternalError(absl::StrCat("building the Llama model failed: ", error.what_without_backtrace()));
  }
}

absl::StatusOr<LlamaForwardOutput> LlamaModelImpl::Forward(const torch::Tensor& tokens,
                                                           const LlamaForwardOptions& options) {
  if (!tokens.defined() || tokens.dim() != 2 || tokens.size(0) == 0 || tokens.size(1) == 0) {
    return absl::InvalidArgumentError("tokens must be a non-empty [batch, length] tensor");
  }
  if (tokens.scalar_type() != torch::kLong) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens must be int64, got ", std::string(c10::toString(tokens.scalar_type()))));
  }
  if (tokens.device() != device()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens are on ", tokens.device().str(), ", the model on ", device().str()));
  }
  std::set<int64_t> seen;
  if (options.edit_residual &&
      (options.edit_residual_after < 0 || options.edit_residual_after >= config_.num_hidden_layers)) {
    return absl::InvalidArgumentError(absl::StrCat("edit_residual_after ", options.edit_residual_after,
                                                   " is outside 0..", config_.num_hidden_layers - 1));
  }
  for (int64_t layer : options.residual_layers) {
    if (layer < 0 || layer >= config_.num_hidden_layers) {
      return absl::InvalidArgumentError(
          absl::StrCat("residual layer ", layer, " is outside 0..", config_.num_hidden_layers - 1));
    }
    if (!seen.insert(layer).second) {
      return absl::InvalidArgumentError(absl::StrCat("residual layer ", layer, " is requested twice"));
    }
  }
  if (options.stop_after_deepest_layer && options.compute_logits) {
    return absl::InvalidArgumentError("stop_after_deepest_layer needs compute_logits = false");
  }
  if (!options.compute_logits && options.residual_layers.empty()) {
    return absl::InvalidArgumentError("nothing requested: no residual layers and no logits");
  }
  try {
    const int64_t smallest = tokens.min().item<int64_t>();
    const int64_t largest = tokens.max().item<int64_t>();
    if (smallest < 0 || largest >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token ids span ", smallest, "..", largest,
                                                     ", outside the vocabulary 0..", config_.vocab_size - 1));
    }
    return forward(tokens, options);
  } catch (const c10::Error& error) {
    return absl::InternalError(absl::StrCat("Llama forward failed: ", error.what_without_backtrace()));
  }
}

}  // namespace expsvc::lm
