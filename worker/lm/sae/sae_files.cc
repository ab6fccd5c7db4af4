#include "worker/lm/sae/sae_files.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/lm/checkpoint/half_float.h"
#include "worker/lm/checkpoint/safetensors_file.h"
#include "worker/lm/checkpoint/safetensors_writer.h"

namespace expsvc::lm {
namespace {

using Json = nlohmann::json;

constexpr char kSaeLensWeightsFileName[] = "sae_weights.safetensors";  // sae_lens/constants.py
constexpr char kSparsifyWeightsFileName[] = "sae.safetensors";         // sparsify/sparse_coder.py
// SAELens 6.x takes a cfg.json as its own format only when metadata.sae_lens_version
// is ≥ 6.0.0-rc.0; older or absent versions go through handle_pre_6_0_config.
constexpr char kSaeLensVersion[] = "6.18.0";
// Our keys in SAELens's metadata and in sparsify's safetensors header.
constexpr char kInputsL2NormalizedKey[] = "expsvc_inputs_l2_normalized";

std::string ShapeString(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status FieldError(std::string_view source, std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(source), ": field \"", std::string(field), "\" ", std::string(problem)));
}

// Reads the fields of one JSON object; absent and null are the same (SAELens
// writes null for unknown values). Errors name the file and the field, with
// `prefix` for nested objects ("metadata.").
class Fields {
 public:
  Fields(const Json& object, std::string source, std::string prefix = "")
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  const std::string& source() const { return source_; }
  std::string Name(std::string_view field) const { return absl::StrCat(prefix_, std::string(field)); }
  absl::Status Error(std::string_view field, std::string_view problem) const {
    return FieldError(source_, Name(field), problem);
  }

  const Json* Find(std::string_view field) const {
    if (!object_.is_object()) return nullptr;
    const auto it = object_.find(std::string(field));
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  bool Has(std::string_view field) const { return Find(field) != nullptr; }

  absl::StatusOr<int64_t> Int(std::string_view field, std::optional<int64_t> fallback = std::nullopt) const {
    const Json* value = Find(field);
    if (value == nullptr) {
      if (fallback.has_value()) return *fallback;
      return Error(field, "is missing");
    }
    if (!value->is_number_integer() ||
        (value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
      return Error(field, absl::StrCat("must be an integer, got ", value->dump()));
    }
    return value->get<int64_t>();
  }

  absl::StatusOr<bool> Bool(std::string_view field, bool fallback) const {
    const Json* value = Find(field);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) return Error(field, absl::StrCat("must be true or false, got ", value->dump()));
    return value->get<bool>();
  }

  absl::StatusOr<std::string> String(std::string_view field, std::string_view fallback) const {
    const Json* value = Find(field);
    if (value == nullptr) return std::string(fallback);
    if (!value->is_string()) return Error(field, absl::StrCat("must be a string, got ", value->dump()));
    return value->get<std::string>();
  }

  // A field that must be false for our model; `why` says what true would mean.
  absl::Status RequireFalse(std::string_view field, std::string_view why) const {
    EXPSVC_ASSIGN_OR_RETURN(const bool value, Bool(field, false));
    return value ? Error(field, absl::StrCat("is true; ", std::string(why))) : absl::OkStatus();
  }

 private:
  const Json& object_;
  std::string source_;
  std::string prefix_;
};

absl::StatusOr<Json> ReadJsonObject(const std::filesystem::path& path) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(path));
  Json object;
  try {
    object = Json::parse(text);
  } catch (const Json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": invalid JSON: ", error.what()));
  }
  if (!object.is_object()) return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a JSON object"));
  return object;
}

// "blocks.5.hook_resid_post" (TransformerLens) or "layers.5" / "model.layers.5" (Hugging Face) → 5.
int64_t LayerFromHookpoint(const std::string& hookpoint) {
  static const std::regex pattern(R"((?:^|[._])(?:blocks|layers)[._](\d+)(?:$|[._]))");
  std::smatch match;
  int64_t layer = -1;
  if (std::regex_search(hookpoint, match, pattern) && absl::SimpleAtoi(match[1].str(), &layer)) return layer;
  return -1;
}

// The parameters every layout carries, in the shapes of TopKSae.
struct SaeShape {
  int64_t d_in = 0;
  int64_t n_latents = 0;
  int64_t k = 0;
  torch::Dtype dtype = torch::kFloat32;
};

// One tensor the layout requires: its name in the file, the shape cfg.json
// implies, and the cfg.json fields that imply it (for the error message).
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string shape_source;
};

absl::Status CheckPositive(const Fields& fields, std::string_view field, int64_t value) {
  return value > 0 ? absl::OkStatus() : fields.Error(field, absl::StrCat("must be positive, got ", value));
}

absl::Status CheckK(const Fields& fields, std::string_view field, int64_t k, int64_t n_latents) {
  if (k >= 1 && k <= n_latents) return absl::OkStatus();
  return fields.Error(field, absl::StrCat("(", k, ") must be in [1, ", n_latents, "]"));
}

// --- SAELens ----------------------------------------------------------------

// SAELens 6.18.0 (sae_lens/saes/sae.py SAEConfig, saes/topk_sae.py
// TopKSAEConfig): a TopK folder needs "architecture": "topk", "d_in",
// "d_sae" and "k" (without it SAELens silently uses 100, so we refuse), and
// metadata.sae_lens_version ≥ 6 for the fields to be read as 6.x writes them.
// Older files (SAELens < 6, which handle_pre_6_0_config converts) carry
// "activation_fn": "topk" with "activation_fn_kwargs": {"k": ..} instead.
absl::StatusOr<SaeShape> ParseSaeLensConfig(const Json& cfg, const std::string& source, SaeFileInfo& info) {
  const Fields top(cfg, source);
  if (const Json* metadata = top.Find("metadata"); metadata != nullptr && !metadata->is_object()) {
    return top.Error("metadata", "must be an object");
  }
  const Json empty = Json::object();
  const Fields meta(top.Has("metadata") ? cfg.at("metadata") : empty, source, "metadata.");

  const Fields& version_fields = top.Has("sae_lens_version") ? top : meta;  // SAELens looks at the top first
  EXPSVC_ASSIGN_OR_RETURN(const std::string version, version_fields.String("sae_lens_version", ""));
  int64_t major = 0;
  const bool version_6 = absl::SimpleAtoi(version.substr(0, version.find('.')), &major) && major >= 6;

  EXPSVC_ASSIGN_OR_RETURN(const std::string architecture, top.String("architecture", "standard"));
  const std::string activation_field = top.Has("activation_fn_str") ? "activation_fn_str" : "activation_fn";
  EXPSVC_ASSIGN_OR_RETURN(const std::string activation, top.String(activation_field, "relu"));
  // Before 6.0 a TopK SAE was "standard" with a topk activation; 6.x reads only "architecture".
  const bool topk = architecture == "topk" || (!version_6 && architecture == "standard" && activation == "topk");
  if (!topk) {
    return top.Error("architecture", absl::StrCat("is \"", architecture, "\" (activation \"", activation,
                                                  "\"); only TopK SAEs (\"topk\") can be loaded"));
  }

  SaeShape shape;
  EXPSVC_ASSIGN_OR_RETURN(shape.d_in, top.Int("d_in"));
  EXPSVC_RETURN_IF_ERROR(CheckPositive(top, "d_in", shape.d_in));
  EXPSVC_ASSIGN_OR_RETURN(shape.n_latents, top.Int("d_sae"));
  EXPSVC_RETURN_IF_ERROR(CheckPositive(top, "d_sae", shape.n_latents));
  if (top.Has("k")) {
    EXPSVC_ASSIGN_OR_RETURN(shape.k, top.Int("k"));
    EXPSVC_RETURN_IF_ERROR(CheckK(top, "k", shape.k, shape.n_latents));
  } else {
    const Json* kwargs = top.Find("activation_fn_kwargs");
    if (kwargs == nullptr || !kwargs->is_object() || !kwargs->contains("k")) {
      return top.Error("k", "is missing (nor is there an \"activation_fn_kwargs\" with \"k\")");
    }
    const Fields kwarg_fields(*kwargs, source, "activation_fn_kwargs.");
    EXPSVC_ASSIGN_OR_RETURN(shape.k, kwarg_fields.Int("k"));
    EXPSVC_RETURN_IF_ERROR(CheckK(kwarg_fields, "k", shape.k, shape.n_latents));
  }

  // SAELens converts every tensor to cfg "dtype" (sae_lens/constants.py DTYPE_MAP).
  EXPSVC_ASSIGN_OR_RETURN(std::string dtype, top.String("dtype", "float32"));
  if (dtype.starts_with("torch.")) dtype = dtype.substr(6);
  if (dtype == "bfloat16") {
    shape.dtype = torch::kBFloat16;
  } else if (dtype != "float32" && dtype != "float16" && dtype != "float64") {
    return top.Error("dtype", absl::StrCat("is \"", dtype, "\"; expected float32, bfloat16, float16 or float64"));
  }

  // What our Encode does not do.
  EXPSVC_ASSIGN_OR_RETURN(const bool subtracts_b_dec, top.Bool("apply_b_dec_to_input", true));
  if (!subtracts_b_dec) return top.Error("apply_b_dec_to_input", "is false; this SAE always subtracts b_dec first");
  const Json* normalize = top.Find("normalize_activations");
  if (normalize != nullptr && !(normalize->is_boolean() && !normalize->get<bool>()) &&
      !(normalize->is_string() && normalize->get<std::string>() == "none")) {
    return top.Error("normalize_activations",
                     absl::StrCat("is ", normalize->dump(), "; only \"none\" (inputs used as given) is supported"));
  }
  EXPSVC_RETURN_IF_ERROR(
      top.RequireFalse("rescale_acts_by_decoder_norm", "top-k by decoder-norm-scaled activations is not supported"));
  EXPSVC_RETURN_IF_ERROR(top.RequireFalse("finetuning_scaling_factor", "a scaling factor is not supported"));

  // 6.x keeps these in "metadata", older files at the top level.
  const auto pick = [&](std::string_view field) -> const Fields& { return meta.Has(field) ? meta : top; };
  const bool hook_point = !pick("hook_name").Has("hook_name") && top.Has("hook_point");  // before SAELens 5
  EXPSVC_ASSIGN_OR_RETURN(info.hookpoint,
                          hook_point ? top.String("hook_point", "") : pick("hook_name").String("hook_name", ""));
  EXPSVC_ASSIGN_OR_RETURN(info.model_name, pick("model_name").String("model_name", ""));
  EXPSVC_ASSIGN_OR_RETURN(info.context_size, pick("context_size").Int("context_size", 0));
  EXPSVC_ASSIGN_OR_RETURN(info.prepend_bos, pick("prepend_bos").Bool("prepend_bos", true));
  EXPSVC_ASSIGN_OR_RETURN(info.dataset_path, pick("dataset_path").String("dataset_path", ""));
  EXPSVC_ASSIGN_OR_RETURN(info.inputs_l2_normalized, meta.Bool(kInputsL2NormalizedKey, false));
  EXPSVC_ASSIGN_OR_RETURN(info.layer, top.Int("hook_layer", LayerFromHookpoint(info.hookpoint)));
  return shape;
}

std::vector<ExpectedTensor> SaeLensTensors(const SaeShape& shape, const std::string& cfg_source) {
  const std::string d = absl::StrCat("\"d_in\" = ", shape.d_in);
  const std::string n = absl::StrCat("\"d_sae\" = ", shape.n_latents);
  const auto from = [&](std::string_view fields) { return absl::StrCat(cfg_source, ": ", std::string(fields)); };
  return {{"W_enc", {shape.d_in, shape.n_latents}, from(absl::StrCat(d, ", ", n))},
          {"b_enc", {shape.n_latents}, from(n)},
          {"W_dec", {shape.n_latents, shape.d_in}, from(absl::StrCat(n, ", ", d))},
          {"b_dec", {shape.d_in}, from(d)}};
}

Json SaeLensConfig(const TopKSaeOptions& options, const SaeFileInfo& info) {
  const Json dataset = info.dataset_path.empty() ? Json(nullptr) : Json(info.dataset_path);
  const Json context = info.context_size > 0 ? Json(info.context_size) : Json(nullptr);
  Json metadata = {
      {"sae_lens_version", kSaeLensVersion},
      {"model_name", info.model_name},
      {"hook_name", info.hookpoint},
      {"hook_head_index", nullptr},
      {"context_size", context},
      {"prepend_bos", info.prepend_bos},
      {"dataset_path", dataset},
  };
  metadata[std::string(kInputsL2NormalizedKey)] = info.inputs_l2_normalized;
  const int64_t k = options.k();
  return {
      // SAELens 6.x: TopKSAEConfig's fields.
      {"architecture", "topk"},
      {"d_in", options.d_in()},
      {"d_sae", options.n_latents()},
      {"k", k},
      {"dtype", options.dtype() == torch::kBFloat16 ? "bfloat16" : "float32"},
      {"device", "cpu"},
      {"apply_b_dec_to_input", true},
      {"normalize_activations", "none"},
      {"reshape_activations", "none"},
      {"rescale_acts_by_decoder_norm", false},
      {"metadata", metadata},
      // SAELens 5.x reads these top-level fields (6.x ignores them).
      {"activation_fn", "topk"},
      {"activation_fn_kwargs", {{"k", k}}},
      {"finetuning_scaling_factor", false},
      {"model_name", info.model_name},
      {"hook_name", info.hookpoint},
      {"hook_layer", info.layer},
      {"hook_head_index", nullptr},
      {"context_size", context},
      {"prepend_bos", info.prepend_bos},
      {"dataset_path", dataset},
  };
}

// --- sparsify -----------------------------------------------------------------

// sparsify 1.3.0 (sparsify/config.py SparseCoderConfig, sparse_coder.py
// SparseCoder.load_from_disk): "d_in" is required; the rest default as
// sparsify's dataclass does, except "k" (required, as for SAELens).
absl::StatusOr<SaeShape> ParseSparsifyConfig(const Json& cfg, const std::string& source) {
  const Fields top(cfg, source);
  SaeShape shape;
  EXPSVC_ASSIGN_OR_RETURN(shape.d_in, top.Int("d_in"));
  EXPSVC_RETURN_IF_ERROR(CheckPositive(top, "d_in", shape.d_in));
  EXPSVC_ASSIGN_OR_RETURN(const std::string activation, top.String("activation", "topk"));
  if (activation != "topk") {
    return top.Error("activation", absl::StrCat("is \"", activation, "\"; only \"topk\" is supported"));
  }
  EXPSVC_RETURN_IF_ERROR(top.RequireFalse("skip_connection", "a skip connection (W_skip) is not supported"));
  EXPSVC_RETURN_IF_ERROR(top.RequireFalse("transcode", "a transcoder does not subtract b_dec; not supported"));
  EXPSVC_RETURN_IF_ERROR(top.RequireFalse("signed", "signed activations are not supported"));
  EXPSVC_ASSIGN_OR_RETURN(const int64_t num_latents, top.Int("num_latents", 0));
  if (num_latents < 0) return top.Error("num_latents", absl::StrCat("must not be negative, got ", num_latents));
  if (num_latents > 0) {
    shape.n_latents = num_latents;
  } else {
    EXPSVC_ASSIGN_OR_RETURN(const int64_t expansion, top.Int("expansion_factor", 32));
    if (expansion <= 0 || __builtin_mul_overflow(shape.d_in, expansion, &shape.n_latents)) {
      return top.Error("expansion_factor", absl::StrCat("(", expansion, ") with num_latents 0 gives no valid size"));
    }
  }
  EXPSVC_ASSIGN_OR_RETURN(shape.k, top.Int("k"));
  EXPSVC_RETURN_IF_ERROR(CheckK(top, "k", shape.k, shape.n_latents));
  return shape;
}

std::vector<ExpectedTensor> SparsifyTensors(const SaeShape& shape, const Json& cfg, const std::string& cfg_source) {
  const std::string d = absl::StrCat("\"d_in\" = ", shape.d_in);
  // The latent count comes from num_latents, or from expansion_factor × d_in when that is 0.
  const Json* num_latents = cfg.contains("num_latents") ? &cfg["num_latents"] : nullptr;
  const bool explicit_count =
      num_latents != nullptr && num_latents->is_number_integer() && num_latents->get<int64_t>() > 0;
  const std::string n = explicit_count ? absl::StrCat("\"num_latents\" = ", shape.n_latents)
                                       : absl::StrCat("\"expansion_factor\" = ", shape.n_latents / shape.d_in);
  const auto from = [&](std::string_view fields) { return absl::StrCat(cfg_source, ": ", std::string(fields)); };
  return {{"encoder.weight", {shape.n_latents, shape.d_in}, from(absl::StrCat(n, ", ", d))},
          {"encoder.bias", {shape.n_latents}, from(n)},
          {"W_dec", {shape.n_latents, shape.d_in}, from(absl::StrCat(n, ", ", d))},
          {"b_dec", {shape.d_in}, from(d)}};
}

Json SparsifyConfig(const TopKSaeOptions& options) {
  // num_latents wins over expansion_factor in sparsify; the factor is informative.
  return {
      {"activation", "topk"},      {"expansion_factor", std::max<int64_t>(1, options.n_latents() / options.d_in())},
      {"normalize_decoder", true}, {"num_latents", options.n_latents()},
      {"k", options.k()},          {"multi_topk", false},
      {"skip_connection", false},  {"transcode", false},
      {"d_in", options.d_in()},
  };
}

std::map<std::string, std::string> SparsifyMetadata(const SaeFileInfo& info) {
  return {
      {"hookpoint", info.hookpoint},
      {"model_name", info.model_name},
      {"layer", absl::StrCat(info.layer)},
      {"context_size", absl::StrCat(info.context_size)},
      {"prepend_bos", info.prepend_bos ? "true" : "false"},
      {"dataset_path", info.dataset_path},
      {std::string(kInputsL2NormalizedKey), info.inputs_l2_normalized ? "true" : "false"},
  };
}

// What sparsify's cfg.json cannot hold: from our header metadata when the
// file is ours, else from the folder name (sparsify names folders by hookpoint).
absl::Status ReadSparsifyInfo(const SafetensorsFile& file, const std::filesystem::path& dir, SaeFileInfo& info) {
  const auto& metadata = file.metadata();
  const auto text = [&](const std::string& key, std::string fallback) {
    const auto it = metadata.find(key);
    return it == metadata.end() ? fallback : it->second;
  };
  const auto integer = [&](const std::string& key, int64_t fallback) -> absl::StatusOr<int64_t> {
    const auto it = metadata.find(key);
    if (it == metadata.end()) return fallback;
    int64_t value = 0;
    if (!absl::SimpleAtoi(it->second, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.source(), ": metadata \"", key, "\" is not an integer: \"", it->second, "\""));
    }
    return value;
  };
  const auto flag = [&](const std::string& key, bool fallback) -> absl::StatusOr<bool> {
    const std::string value = text(key, fallback ? "true" : "false");
    if (value != "true" && value != "false") {
      return absl::InvalidArgumentError(
          absl::StrCat(file.source(), ": metadata \"", key, "\" must be true or false, got \"", value, "\""));
    }
    return value == "true";
  };
  const std::filesystem::path folder = dir.has_filename() ? dir : dir.parent_path();
  info.hookpoint = text("hookpoint", folder.filename().string());
  info.model_name = text("model_name", "");
  info.dataset_path = text("dataset_path", "");
  EXPSVC_ASSIGN_OR_RETURN(info.layer, integer("layer", LayerFromHookpoint(info.hookpoint)));
  EXPSVC_ASSIGN_OR_RETURN(info.context_size, integer("context_size", 0));
  EXPSVC_ASSIGN_OR_RETURN(info.prepend_bos, flag("prepend_bos", true));
  EXPSVC_ASSIGN_OR_RETURN(info.inputs_l2_normalized, flag(std::string(kInputsL2NormalizedKey), false));
  return absl::OkStatus();
}

// --- tensors --------------------------------------------------------------------

// `view` as a CPU tensor of `dtype`: the bytes themselves when the dtypes
// agree (bit-exact), else through float32.
absl::StatusOr<torch::Tensor> TensorFromView(const TensorView& view, torch::Dtype dtype, const std::string& context) {
  const std::vector<int64_t> shape(view.shape.begin(), view.shape.end());
  if ((view.dtype == DType::kF32 && dtype == torch::kFloat32) ||
      (view.dtype == DType::kBF16 && dtype == torch::kBFloat16)) {
    torch::Tensor tensor = torch::empty(shape, dtype);
    std::memcpy(tensor.data_ptr(), view.bytes.data(), view.bytes.size());  // the view may be unaligned
    return tensor;
  }
  absl::StatusOr<std::vector<float>> values = DecodeToFloat32(view.dtype, view.bytes);
  if (!values.ok()) return absl::InvalidArgumentError(absl::StrCat(context, ": ", values.status().message()));
  return torch::from_blob(values->data(), shape, torch::kFloat32).to(dtype);
}

// Every expected tensor present with its shape and a floating dtype, and no other.
absl::StatusOr<std::vector<torch::Tensor>> ReadTensors(const SafetensorsFile& file,
                                                       const std::vector<ExpectedTensor>& expected,
                                                       torch::Dtype dtype) {
  std::set<std::string> names;
  std::vector<torch::Tensor> tensors;
  for (const ExpectedTensor& tensor : expected) {
    names.insert(tensor.name);
    EXPSVC_ASSIGN_OR_RETURN(const TensorView view, file.Get(tensor.name));
    const std::string context = absl::StrCat(file.source(), ": tensor '", tensor.name, "'");
    if (!IsFloatingPoint(view.dtype)) {
      return absl::InvalidArgumentError(
          absl::StrCat(context, " has dtype ", std::string(DTypeName(view.dtype)), "; SAE weights are floating point"));
    }
    if (!std::equal(view.shape.begin(), view.shape.end(), tensor.shape.begin(), tensor.shape.end())) {
      return absl::InvalidArgumentError(absl::StrCat(context, " has shape ", ShapeString(view.shape), ", expected ",
                                                     ShapeString(tensor.shape), " (", tensor.shape_source, ")"));
    }
    EXPSVC_ASSIGN_OR_RETURN(torch::Tensor value, TensorFromView(view, dtype, context));
    tensors.push_back(std::move(value));
  }
  std::vector<std::string> unexpected;
  for (const std::string& name : file.names()) {
    if (!names.contains(name)) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.source(), " has tensors a TopK SAE does not: '", absl::StrJoin(unexpected, "', '"), "'"));
  }
  return tensors;
}

}  // namespace

std::string_view SaeFileLayoutName(SaeFileLayout layout) {
  return layout == SaeFileLayout::kSaeLens ? "saelens" : "sparsify";
}

absl::StatusOr<SaeFileLayout> ParseSaeFileLayout(std::string_view name) {
  if (name == "saelens") return SaeFileLayout::kSaeLens;
  if (name == "sparsify") return SaeFileLayout::kSparsify;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown SAE file layout \"", std::string(name), "\"; expected \"saelens\" or \"sparsify\""));
}

std::string_view SaeWeightsFileName(SaeFileLayout layout) {
  return layout == SaeFileLayout::kSaeLens ? kSaeLensWeightsFileName : kSparsifyWeightsFileName;
}

std::string DefaultSaeHookpoint(SaeFileLayout layout, int64_t layer) {
  return layout == SaeFileLayout::kSaeLens ? absl::StrCat("blocks.", layer, ".hook_resid_post")
                                           : absl::StrCat("layers.", layer);
}

absl::Status SaveSae(const TopKSae& sae, SaeFileLayout layout, const SaeFileInfo& info,
                     const std::filesystem::path& hookpoint_dir) {
  const std::string target = hookpoint_dir.string();
  if (info.hookpoint.empty()) return absl::InvalidArgumentError(absl::StrCat("saving ", target, ": no hookpoint"));
  if (info.layer < 0 || info.context_size < 0) {
    return absl::InvalidArgumentError(absl::StrCat("saving ", target, ": layer (", info.layer, ") and context size (",
                                                   info.context_size, ") must not be negative"));
  }
  const TopKSaeOptions& options = sae->options();
  const bool bf16 = options.dtype() == torch::kBFloat16;
  const DType file_dtype = bf16 ? DType::kBF16 : DType::kF32;
  const bool saelens = layout == SaeFileLayout::kSaeLens;
  // Host copies in the file's layout; they keep the bytes alive while writing.
  std::vector<std::pair<std::string, torch::Tensor>> host;
  try {
    const auto to_host = [&](const torch::Tensor& tensor) {
      return tensor.detach().to(torch::kCPU, bf16 ? torch::kBFloat16 : torch::kFloat32).contiguous();
    };
    host = {{saelens ? "W_enc" : "encoder.weight", saelens ? to_host(sae->w_enc.t()) : to_host(sae->w_enc)},
            {saelens ? "b_enc" : "encoder.bias", to_host(sae->b_enc)},
            {"W_dec", to_host(sae->w_dec)},
            {"b_dec", to_host(sae->b_pre)}};
  } catch (const c10::Error& error) {
    return absl::InternalError(
        absl::StrCat("copying the SAE for ", target, " failed: ", error.what_without_backtrace()));
  }
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, tensor] : host) {
    const auto* bytes = static_cast<const std::byte*>(tensor.data_ptr());
    tensors.push_back({name, file_dtype, tensor.sizes().vec(),
                       std::span<const std::byte>(bytes, tensor.numel() * tensor.element_size())});
  }

  std::error_code error;
  std::filesystem::create_directories(hookpoint_dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", target, ": ", error.message()));
  // Weights first, cfg.json last: a reader that races the save sees a shape
  // mismatch or a missing file, not a config that claims the new weights.
  EXPSVC_RETURN_IF_ERROR(WriteSafetensorsFile(hookpoint_dir / SaeWeightsFileName(layout), tensors,
                                              saelens ? std::map<std::string, std::string>{} : SparsifyMetadata(info)));
  const Json cfg = saelens ? SaeLensConfig(options, info) : SparsifyConfig(options);
  EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically(hookpoint_dir / kSaeConfigFileName, cfg.dump(2) + "\n"));
  const std::filesystem::path other =
      hookpoint_dir / SaeWeightsFileName(saelens ? SaeFileLayout::kSparsify : SaeFileLayout::kSaeLens);
  std::filesystem::remove(other, error);
  if (error) return absl::InternalError(absl::StrCat("cannot remove ", other.string(), ": ", error.message()));
  return absl::OkStatus();
}

absl::StatusOr<LoadedSae> LoadSae(const std::filesystem::path& hookpoint_dir) {
  const std::string folder = hookpoint_dir.string();
  std::error_code error;
  if (!std::filesystem::is_directory(hookpoint_dir, error)) {
    return absl::NotFoundError(absl::StrCat("SAE folder ", folder, " does not exist"));
  }
  const std::filesystem::path saelens_weights = hookpoint_dir / kSaeLensWeightsFileName;
  const std::filesystem::path sparsify_weights = hookpoint_dir / kSparsifyWeightsFileName;
  const bool has_saelens = std::filesystem::exists(saelens_weights, error);
  const bool has_sparsify = std::filesystem::exists(sparsify_weights, error);
  if (has_saelens && has_sparsify) {
    return absl::FailedPreconditionError(absl::StrCat("SAE folder ", folder, " holds both ", kSaeLensWeightsFileName,
                                                      " (SAELens) and ", kSparsifyWeightsFileName,
                                                      " (sparsify); remove one"));
  }
  if (!has_saelens && !has_sparsify) {
    return absl::NotFoundError(absl::StrCat("SAE folder ", folder, " holds neither ", kSaeLensWeightsFileName,
                                            " (SAELens) nor ", kSparsifyWeightsFileName, " (sparsify)"));
  }

  LoadedSae loaded;
  loaded.layout = has_saelens ? SaeFileLayout::kSaeLens : SaeFileLayout::kSparsify;
  const std::filesystem::path cfg_path = hookpoint_dir / kSaeConfigFileName;
  EXPSVC_ASSIGN_OR_RETURN(const Json cfg, ReadJsonObject(cfg_path));
  EXPSVC_ASSIGN_OR_RETURN(const std::unique_ptr<SafetensorsFile> file,
                          SafetensorsFile::Open(has_saelens ? saelens_weights : sparsify_weights));

  SaeShape shape;
  std::vector<ExpectedTensor> expected;
  if (has_saelens) {
    EXPSVC_ASSIGN_OR_RETURN(shape, ParseSaeLensConfig(cfg, cfg_path.string(), loaded.info));
    expected = SaeLensTensors(shape, cfg_path.string());
  } else {
    EXPSVC_ASSIGN_OR_RETURN(shape, ParseSparsifyConfig(cfg, cfg_path.string()));
    expected = SparsifyTensors(shape, cfg, cfg_path.string());
    EXPSVC_RETURN_IF_ERROR(ReadSparsifyInfo(*file, hookpoint_dir, loaded.info));
    // sparsify builds the module in the dtype of the first tensor by name: W_dec.
    EXPSVC_ASSIGN_OR_RETURN(const TensorView w_dec, file->Get("W_dec"));
    if (w_dec.dtype == DType::kBF16) shape.dtype = torch::kBFloat16;
  }

  try {
    EXPSVC_ASSIGN_OR_RETURN(const std::vector<torch::Tensor> tensors, ReadTensors(*file, expected, shape.dtype));
    loaded.sae = TopKSae(TopKSaeOptions(shape.d_in, shape.n_latents, shape.k).dtype(shape.dtype));
    torch::NoGradGuard no_grad;
    // SAELens stores W_enc as [d_in, d_sae]; ours is one row per latent.
    loaded.sae->w_enc.copy_(has_saelens ? tensors[0].t() : tensors[0]);
    loaded.sae->b_enc.copy_(tensors[1]);
    loaded.sae->w_dec.copy_(tensors[2]);
    loaded.sae->b_pre.copy_(tensors[3]);
  } catch (const c10::Error& error) {
    return absl::InternalError(
        absl::StrCat("loading the SAE of ", folder, " failed: ", error.what_without_backtrace()));
  }
  return loaded;
}

}  // namespace expsvc::lm
