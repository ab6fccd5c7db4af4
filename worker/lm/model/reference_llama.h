#pragma once
// Naive evaluation of a Llama forward pass, one position, one head, one
// scalar rotation at a time, in float64 on CPU. It shares no code with
// LlamaModel (RMSNorm, RoPE, softmax and SwiGLU are written out again here)
// so the tests can hold the model against it. Tests and lm_bench only
// (library expsvc_llama_reference); far too slow for real use.

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "worker/lm/checkpoint/llama_config.h"

namespace expsvc::lm {

struct ReferenceLlamaOutput {
  std::vector<torch::Tensor> residuals;  // one per block, [B, L, hidden] float64
  torch::Tensor logits;                  // [B, L, vocab] float64
};

// `weights`: Hugging Face names → tensors (any float dtype/device; read as
// float64 on CPU). `tokens`: [B, L] int64.
ReferenceLlamaOutput ReferenceLlamaForward(const LlamaConfig& config,
                                           const std::map<std::string, torch::Tensor>& weights,
                                           const torch::Tensor& tokens);

}  // namespace expsvc::lm
