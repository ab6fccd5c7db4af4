#pragma once
// LlamaModel ↔ Hugging Face model folder (config.json + safetensors weights,
// one file or sharded). Loading accepts F32, F16, BF16 and F64 tensors and
// converts them to the model's dtype; saving writes float32, so a saved
// float32 model reloads bit-identical.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/lm/checkpoint/hf_checkpoint.h"
#include "worker/lm/model/llama_model.h"

namespace expsvc::lm {

struct LlamaLoadOptions {
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
};

// Reads <dir>/config.json, builds the model and loads its weights.
absl::StatusOr<LlamaModel> LoadLlamaModel(const std::filesystem::path& dir, const LlamaLoadOptions& options = {});

// Copies every parameter of `model` from `checkpoint`, converted to the
// parameter's dtype and device. Errors name the folder and the tensor: a
// parameter the checkpoint lacks, a shape that differs, an integer dtype, or
// a checkpoint tensor the model has no place for (except Hugging Face's
// rotary_emb.inv_freq buffers and lm_head.weight of a tied model, ignored).
// On error the model may be partly overwritten.
absl::Status LoadLlamaWeights(LlamaModel& model, const HfCheckpoint& checkpoint);

struct LlamaSaveOptions {
  // 0: one model.safetensors; otherwise shards of at most this many bytes.
  uint64_t max_shard_bytes = 0;
  // Added to the files' "__metadata__" next to format=pt (e.g. the step).
  std::map<std::string, std::string> metadata;
};

// Writes <dir>/config.json (torch_dtype float32) and float32 weights; `dir`
// is created if missing.
absl::Status SaveLlamaModel(const LlamaModel& model, const std::filesystem::path& dir,
                            const LlamaSaveOptions& options = {});

}  // namespace expsvc::lm
