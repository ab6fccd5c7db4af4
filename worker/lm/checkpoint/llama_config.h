#pragma once
// The architecture part of a Hugging Face Llama config.json (LLM-jp-3 uses
// this model type), without LibTorch so data and analysis code can read it.
//
// Required: vocab_size, hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads. Optional, with Hugging Face's LlamaConfig defaults:
// num_key_value_heads (= num_attention_heads), rms_norm_eps (1e-6),
// rope_theta (10000), max_position_embeddings (2048), tie_word_embeddings
// (false), bos_token_id (1), eos_token_id (2), torch_dtype ("float32").
// Features this model does not implement are refused rather than ignored:
// model_type other than "llama", hidden_act other than "silu", a non-null
// rope_scaling, attention_bias / mlp_bias true, head_dim ≠ hidden/heads.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace expsvc::lm {

inline constexpr std::string_view kConfigFileName = "config.json";

struct LlamaConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  std::optional<int64_t> bos_token_id = 1;
  // A list in config.json keeps its first entry.
  std::optional<int64_t> eos_token_id = 2;
  // "float32", "float16" or "bfloat16": the dtype the weights were saved in.
  std::string torch_dtype = "float32";

  int64_t head_dim() const { return num_attention_heads > 0 ? hidden_size / num_attention_heads : 0; }

  friend bool operator==(const LlamaConfig&, const LlamaConfig&) = default;
};

// Positive sizes, heads dividing hidden_size into an even head_dim, KV heads
// dividing the heads, eps and theta positive, token ids inside the vocab.
// `source` names the file in the message.
absl::Status ValidateLlamaConfig(const LlamaConfig& config, std::string_view source = "config");

// Parses config.json text; `source` (a path) prefixes every error, which also
// names the offending field.
absl::StatusOr<LlamaConfig> ParseLlamaConfig(std::string_view json_text, std::string_view source = kConfigFileName);

// Reads <model_dir>/config.json.
absl::StatusOr<LlamaConfig> ReadLlamaConfig(const std::filesystem::path& model_dir);

// config.json text a Hugging Face LlamaForCausalLM loads (architectures,
// model_type, hidden_act and every field above).
std::string LlamaConfigToJson(const LlamaConfig& config);

// Validates, then writes <model_dir>/config.json atomically (the folder must exist).
absl::Status WriteLlamaConfig(const std::filesystem::path& model_dir, const LlamaConfig& config);

}  // namespace expsvc::lm
