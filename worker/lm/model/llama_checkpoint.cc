#include "worker/lm/model/llama_checkpoint.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/lm/checkpoint/half_float.h"

namespace expsvc::lm {
namespace {

std::string ShapeString(c10::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Checkpoint tensors that carry no parameter and are safe to skip.
bool IsIgnorable(const std::string& name, const LlamaConfig& config) {
  if (name.ends_with(".rotary_emb.inv_freq")) return true;  // older transformers saved this buffer
  return config.tie_word_embeddings && name == "lm_head.weight";
}

// The bytes of `view` as a CPU tensor of a floating dtype that holds them exactly.
absl::StatusOr<torch::Tensor> ToCpuTensor(const TensorView& view, const std::string& context) {
  const std::vector<int64_t> shape(view.shape.begin(), view.shape.end());
  switch (view.dtype) {
    case DType::kF32:
    case DType::kF64: {
      torch::Tensor tensor = torch::empty(shape, view.dtype == DType::kF32 ? torch::kFloat : torch::kDouble);
      std::memcpy(tensor.data_ptr(), view.bytes.data(), view.bytes.size());  // the view may be unaligned
      return tensor;
    }
    case DType::kF16:
    case DType::kBF16: {
      absl::StatusOr<std::vector<float>> values = DecodeToFloat32(view.dtype, view.bytes);
      if (!values.ok()) return absl::InvalidArgumentError(absl::StrCat(context, ": ", values.status().message()));
      return torch::from_blob(values->data(), shape, torch::kFloat).clone();
    }
    case DType::kI64:
    case DType::kI32: break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(context, " has dtype ", std::string(DTypeName(view.dtype)), "; weights must be floating point"));
}

}  // namespace

absl::Status LoadLlamaWeights(LlamaModel& model, const HfCheckpoint& checkpoint) {
  const std::string folder = checkpoint.dir().string();
  try {
    torch::NoGradGuard no_grad;
    const auto parameters = model->named_parameters();
    for (const auto& parameter : parameters) {
      const std::string& name = parameter.key();
      torch::Tensor target = parameter.value();
      const TensorView* view = checkpoint.Find(name);
      if (view == nullptr) {
        return absl::NotFoundError(absl::StrCat("checkpoint ", folder, " has no tensor '", name, "' (expected shape ",
                                                ShapeString(target.sizes()), ")"));
      }
      const std::string context = absl::StrCat("checkpoint ", folder, ": tensor '", name, "'");
      if (!std::equal(view->shape.begin(), view->shape.end(), target.sizes().begin(), target.sizes().end())) {
        return absl::InvalidArgumentError(
            absl::StrCat(context, " has shape ", ShapeString(c10::IntArrayRef(view->shape.data(), view->shape.size())),
                         ", the model needs ", ShapeString(target.sizes())));
      }
      EXPSVC_ASSIGN_OR_RETURN(const torch::Tensor source, ToCpuTensor(*view, context));
      target.copy_(source);  // converts dtype and moves to the parameter's device
    }
    std::vector<std::string> unexpected;
    for (const std::string& name : checkpoint.names()) {
      if (!parameters.contains(name) && !IsIgnorable(name, model->config())) unexpected.push_back(name);
    }
    if (!unexpected.empty()) {
      if (unexpected.size() > 5) unexpected.resize(5);
      return absl::InvalidArgumentError(absl::StrCat("checkpoint ", folder, " has tensors the model does not: '",
                                                     absl::StrJoin(unexpected, "', '"), "'"));
    }
  } catch (const c10::Error& error) {
    return absl::InternalError(
        absl::StrCat("loading weights from ", folder, " failed: ", error.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::StatusOr<LlamaModel> LoadLlamaModel(const std::filesystem::path& dir, const LlamaLoadOptions& options) {
  EXPSVC_ASSIGN_OR_RETURN(const LlamaConfig config, ReadLlamaConfig(dir));
  EXPSVC_ASSIGN_OR_RETURN(const std::unique_ptr<HfCheckpoint> checkpoint, HfCheckpoint::Open(dir));
  EXPSVC_ASSIGN_OR_RETURN(LlamaModel model, CreateLlamaModel(config));
  try {
    model->to(options.device, options.dtype);
  } catch (const c10::Error& error) {
    return absl::InternalError(absl::StrCat("moving the model of ", dir.string(), " to ", options.device.str(),
                                            " failed: ", error.what_without_backtrace()));
  }
  EXPSVC_RETURN_IF_ERROR(LoadLlamaWeights(model, *checkpoint));
  return model;
}

absl::Status SaveLlamaModel(const LlamaModel& model, const std::filesystem::path& dir,
                            const LlamaSaveOptions& options) {
  std::vector<torch::Tensor> host_copies;  // keeps the bytes alive while writing
  std::vector<TensorToWrite> tensors;
  try {
    for (const auto& parameter : model->named_parameters()) {
      torch::Tensor host = parameter.value().detach().to(torch::kCPU, torch::kFloat).contiguous();
      const auto* bytes = static_cast<const std::byte*>(host.data_ptr());
      tensors.push_back({parameter.key(), DType::kF32, host.sizes().vec(),
                         std::span<const std::byte>(bytes, host.numel() * sizeof(float))});
      host_copies.push_back(std::move(host));
    }
  } catch (const c10::Error& error) {
    return absl::InternalError(
        absl::StrCat("copying weights for ", dir.string(), " failed: ", error.what_without_backtrace()));
  }
  HfWeightsWriteOptions write_options;
  write_options.max_shard_bytes = options.max_shard_bytes;
  write_options.metadata.insert(options.metadata.begin(), options.metadata.end());
  EXPSVC_RETURN_IF_ERROR(WriteHfWeights(dir, tensors, write_options));
  LlamaConfig config = model->config();
  config.torch_dtype = "float32";
  return WriteLlamaConfig(dir, config);
}

}  // namespace expsvc::lm
