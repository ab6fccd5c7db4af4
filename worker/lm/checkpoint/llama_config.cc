#include "worker/lm/checkpoint/llama_config.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"

namespace expsvc::lm {
namespace {

using Json = nlohmann::json;

// Reads fields of one config object; every error names the file and field.
class FieldReader {
 public:
  FieldReader(const Json& object, std::string_view source) : object_(object), source_(source) {}

  absl::Status Error(std::string_view field, std::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": field \"", std::string(field), "\" ", std::string(problem)));
  }

  // nullptr when absent or null.
  const Json* Find(std::string_view field) const {
    const auto it = object_.find(std::string(field));
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::StatusOr<int64_t> RequiredInt(std::string_view field) const {
    const Json* value = Find(field);
    if (value == nullptr) return Error(field, "is missing");
    return Int(field, *value);
  }

  absl::StatusOr<int64_t> OptionalInt(std::string_view field, int64_t fallback) const {
    const Json* value = Find(field);
    return value == nullptr ? absl::StatusOr<int64_t>(fallback) : Int(field, *value);
  }

  absl::StatusOr<double> OptionalDouble(std::string_view field, double fallback) const {
    const Json* value = Find(field);
    if (value == nullptr) return fallback;
    if (!value->is_number()) return Error(field, absl::StrCat("must be a number, got ", value->dump()));
    return value->get<double>();
  }

  absl::StatusOr<bool> OptionalBool(std::string_view field, bool fallback) const {
    const Json* value = Find(field);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) return Error(field, absl::StrCat("must be true or false, got ", value->dump()));
    return value->get<bool>();
  }

  absl::StatusOr<std::string> OptionalString(std::string_view field, std::string_view fallback) const {
    const Json* value = Find(field);
    if (value == nullptr) return std::string(fallback);
    if (!value->is_string()) return Error(field, absl::StrCat("must be a string, got ", value->dump()));
    return value->get<std::string>();
  }

  // An id, null, or a list of ids (the first is kept).
  absl::StatusOr<std::optional<int64_t>> OptionalTokenId(std::string_view field,
                                                         std::optional<int64_t> fallback) const {
    const auto it = object_.find(std::string(field));
    if (it == object_.end()) return fallback;
    if (it->is_null()) return std::optional<int64_t>();
    if (it->is_array()) {
      if (it->empty()) return std::optional<int64_t>();
      EXPSVC_ASSIGN_OR_RETURN(const int64_t id, Int(field, it->front()));
      return std::optional<int64_t>(id);
    }
    EXPSVC_ASSIGN_OR_RETURN(const int64_t id, Int(field, *it));
    return std::optional<int64_t>(id);
  }

 private:
  absl::StatusOr<int64_t> Int(std::string_view field, const Json& value) const {
    if (!value.is_number_integer()) return Error(field, absl::StrCat("must be an integer, got ", value.dump()));
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return Error(field, absl::StrCat("is out of range: ", value.dump()));
    }
    return value.get<int64_t>();
  }

  const Json& object_;
  std::string source_;
};

absl::Status FieldError(std::string_view source, std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(source), ": field \"", std::string(field), "\" ", std::string(problem)));
}

// Settings of Hugging Face's Llama that this implementation does not have.
absl::Status RejectUnsupported(const FieldReader& fields, std::string_view source) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string model_type, fields.OptionalString("model_type", "llama"));
  if (model_type != "llama") {
    return FieldError(source, "model_type", absl::StrCat("is \"", model_type, "\"; only \"llama\" is supported"));
  }
  EXPSVC_ASSIGN_OR_RETURN(const std::string hidden_act, fields.OptionalString("hidden_act", "silu"));
  if (hidden_act != "silu") {
    return FieldError(source, "hidden_act", absl::StrCat("is \"", hidden_act, "\"; only \"silu\" is supported"));
  }
  if (fields.Find("rope_scaling") != nullptr) {
    return FieldError(source, "rope_scaling", "is set; RoPE scaling is not supported");
  }
  for (std::string_view bias_field : {"attention_bias", "mlp_bias"}) {
    EXPSVC_ASSIGN_OR_RETURN(const bool has_bias, fields.OptionalBool(bias_field, false));
    if (has_bias) return FieldError(source, bias_field, "is true; biases are not supported");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateLlamaConfig(const LlamaConfig& config, std::string_view source) {
  const auto positive = [&](std::string_view field, int64_t value) -> absl::Status {
    if (value > 0) return absl::OkStatus();
    return FieldError(source, field, absl::StrCat("must be a positive integer, got ", value));
  };
  EXPSVC_RETURN_IF_ERROR(positive("vocab_size", config.vocab_size));
  EXPSVC_RETURN_IF_ERROR(positive("hidden_size", config.hidden_size));
  EXPSVC_RETURN_IF_ERROR(positive("intermediate_size", config.intermediate_size));
  EXPSVC_RETURN_IF_ERROR(positive("num_hidden_layers", config.num_hidden_layers));
  EXPSVC_RETURN_IF_ERROR(positive("num_attention_heads", config.num_attention_heads));
  EXPSVC_RETURN_IF_ERROR(positive("num_key_value_heads", config.num_key_value_heads));
  EXPSVC_RETURN_IF_ERROR(positive("max_position_embeddings", config.max_position_embeddings));
  if (config.hidden_size % config.num_attention_heads != 0) {
    return FieldError(
        source, "num_attention_heads",
        absl::StrCat("(", config.num_attention_heads, ") must divide hidden_size (", config.hidden_size, ")"));
  }
  if (config.head_dim() % 2 != 0) {
    return FieldError(
        source, "num_attention_heads",
        absl::StrCat("gives an odd head dimension ", config.head_dim(), "; rotary embeddings need an even one"));
  }
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    return FieldError(source, "num_key_value_heads",
                      absl::StrCat("(", config.num_key_value_heads, ") must divide num_attention_heads (",
                                   config.num_attention_heads, ")"));
  }
  if (!(config.rms_norm_eps > 0) || !std::isfinite(config.rms_norm_eps)) {
    return FieldError(source, "rms_norm_eps", absl::StrCat("must be positive, got ", config.rms_norm_eps));
  }
  if (!(config.rope_theta > 0) || !std::isfinite(config.rope_theta)) {
    return FieldError(source, "rope_theta", absl::StrCat("must be positive, got ", config.rope_theta));
  }
  for (const auto& [field, id] :
       {std::pair<std::string_view, std::optional<int64_t>>{"bos_token_id", config.bos_token_id},
        {"eos_token_id", config.eos_token_id}}) {
    if (id.has_value() && (*id < 0 || *id >= config.vocab_size)) {
      return FieldError(source, field, absl::StrCat("(", *id, ") is outside the vocabulary of ", config.vocab_size));
    }
  }
  if (config.torch_dtype != "float32" && config.torch_dtype != "float16" && config.torch_dtype != "bfloat16" &&
      config.torch_dtype != "float64") {
    return FieldError(source, "torch_dtype",
                      absl::StrCat("is \"", config.torch_dtype, "\"; expected float32, float16, bfloat16 or float64"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LlamaConfig> ParseLlamaConfig(std::string_view json_text, std::string_view source) {
  Json object;
  try {
    object = Json::parse(json_text);
  } catch (const Json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": invalid JSON: ", error.what()));
  }
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": not a JSON object"));
  }
  const FieldReader fields(object, source);
  EXPSVC_RETURN_IF_ERROR(RejectUnsupported(fields, source));

  LlamaConfig config;
  EXPSVC_ASSIGN_OR_RETURN(config.vocab_size, fields.RequiredInt("vocab_size"));
  EXPSVC_ASSIGN_OR_RETURN(config.hidden_size, fields.RequiredInt("hidden_size"));
  EXPSVC_ASSIGN_OR_RETURN(config.intermediate_size, fields.RequiredInt("intermediate_size"));
  EXPSVC_ASSIGN_OR_RETURN(config.num_hidden_layers, fields.RequiredInt("num_hidden_layers"));
  EXPSVC_ASSIGN_OR_RETURN(config.num_attention_heads, fields.RequiredInt("num_attention_heads"));
  EXPSVC_ASSIGN_OR_RETURN(config.num_key_value_heads,
                          fields.OptionalInt("num_key_value_heads", config.num_attention_heads));
  EXPSVC_ASSIGN_OR_RETURN(config.rms_norm_eps, fields.OptionalDouble("rms_norm_eps", config.rms_norm_eps));
  EXPSVC_ASSIGN_OR_RETURN(config.rope_theta, fields.OptionalDouble("rope_theta", config.rope_theta));
  EXPSVC_ASSIGN_OR_RETURN(config.max_position_embeddings,
                          fields.OptionalInt("max_position_embeddings", config.max_position_embeddings));
  EXPSVC_ASSIGN_OR_RETURN(config.tie_word_embeddings,
                          fields.OptionalBool("tie_word_embeddings", config.tie_word_embeddings));
  EXPSVC_ASSIGN_OR_RETURN(config.bos_token_id, fields.OptionalTokenId("bos_token_id", config.bos_token_id));
  EXPSVC_ASSIGN_OR_RETURN(config.eos_token_id, fields.OptionalTokenId("eos_token_id", config.eos_token_id));
  EXPSVC_ASSIGN_OR_RETURN(config.torch_dtype, fields.OptionalString("torch_dtype", config.torch_dtype));
  if (const Json* head_dim = fields.Find("head_dim"); head_dim != nullptr && config.num_attention_heads > 0) {
    if (!head_dim->is_number_integer() || head_dim->get<int64_t>() != config.head_dim()) {
      return FieldError(source, "head_dim",
                        absl::StrCat("is ", head_dim->dump(), "; only hidden_size / num_attention_heads (",
                                     config.head_dim(), ") is supported"));
    }
  }
  EXPSVC_RETURN_IF_ERROR(ValidateLlamaConfig(config, source));
  return config;
}

absl::StatusOr<LlamaConfig> ReadLlamaConfig(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / kConfigFileName;
  EXPSVC_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(path));
  return ParseLlamaConfig(text, path.string());
}

std::string LlamaConfigToJson(const LlamaConfig& config) {
  const auto id_or_null = [](const std::optional<int64_t>& id) { return id ? Json(*id) : Json(nullptr); };
  const Json object = {
      {"architectures", Json::array({"LlamaForCausalLM"})},
      {"model_type", "llama"},
      {"hidden_act", "silu"},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"rope_scaling", nullptr},
      {"vocab_size", config.vocab_size},
      {"hidden_size", config.hidden_size},
      {"intermediate_size", config.intermediate_size},
      {"num_hidden_layers", config.num_hidden_layers},
      {"num_attention_heads", config.num_attention_heads},
      {"num_key_value_heads", config.num_key_value_heads},
      {"rms_norm_eps", config.rms_norm_eps},
      {"rope_theta", config.rope_theta},
      {"max_position_embeddings", config.max_position_embeddings},
      {"tie_word_embeddings", config.tie_word_embeddings},
      {"bos_token_id", id_or_null(config.bos_token_id)},
      {"eos_token_id", id_or_null(config.eos_token_id)},
      {"torch_dtype", config.torch_dtype},
  };
  return object.dump(2) + "\n";
}

absl::Status WriteLlamaConfig(const std::filesystem::path& model_dir, const LlamaConfig& config) {
  const std::filesystem::path path = model_dir / kConfigFileName;
  EXPSVC_RETURN_IF_ERROR(ValidateLlamaConfig(config, path.string()));
  return fs::WriteFileAtomically(path, LlamaConfigToJson(config));
}

}  // namespace expsvc::lm
