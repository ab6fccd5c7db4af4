#pragma once
// A trained TopKSae as a folder other tools open, and our loader for such
// folders. One folder per hookpoint, in one of two layouts (README.md):
//
//   kSaeLens   cfg.json + sae_weights.safetensors   SAELens 6.18.0
//              (sae_lens/saes/sae.py SAE.load_from_disk, saes/topk_sae.py);
//              W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in]
//   kSparsify  cfg.json + sae.safetensors               EleutherAI sparsify 1.3.0
//              (sparsify/sparse_coder.py SparseCoder.load_from_disk);
//              encoder.weight [n, d], encoder.bias [n], W_dec [n, d], b_dec [d]
//
// Both tools compute TopK(ReLU(W_enc (x − b_dec) + b_enc)) (SAELens as ReLU
// of the top k, the same values), so our b_pre is their b_dec. Tensors are
// written in the SAE's own dtype (float32 or bfloat16, bit for bit).

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/lm/sae/topk_sae.h"

namespace expsvc::lm {

enum class SaeFileLayout { kSaeLens, kSparsify };

// "saelens" / "sparsify": the spelling of a job parameter.
std::string_view SaeFileLayoutName(SaeFileLayout layout);
absl::StatusOr<SaeFileLayout> ParseSaeFileLayout(std::string_view name);

// The weights file that marks a folder as `layout`.
std::string_view SaeWeightsFileName(SaeFileLayout layout);
inline constexpr std::string_view kSaeConfigFileName = "cfg.json";

// Where the SAE reads the model. Written to cfg.json (SAELens) or to the
// safetensors header's metadata (sparsify, whose cfg.json has no such fields).
struct SaeFileInfo {
  // The hook: TransformerLens's "blocks.5.hook_resid_post" for SAELens,
  // the module name "layers.5" for sparsify (DefaultSaeHookpoint).
  std::string hookpoint;
  std::string model_name;    // e.g. "llm-jp/llm-jp-3-1.8b"; may be empty
  int64_t layer = -1;        // block index; -1 when a foreign folder does not say
  int64_t context_size = 0;  // tokens per training window, BOS included; 0 unknown
  bool prepend_bos = true;   // our windows start with BOS
  std::string dataset_path;  // may be empty
  // The activation source L2-normalises every input; neither tool has that
  // normalisation, so a user must apply it before Encode.
  bool inputs_l2_normalized = true;
};

// The residual stream after block `layer`, as each tool names it.
std::string DefaultSaeHookpoint(SaeFileLayout layout, int64_t layer);

// Writes `hookpoint_dir` (created if needed): the weights file, then
// cfg.json, each atomically; a weights file of the other layout left in the
// folder is removed last, so the folder holds one layout.
absl::Status SaveSae(const TopKSae& sae, SaeFileLayout layout, const SaeFileInfo& info,
                     const std::filesystem::path& hookpoint_dir);

struct LoadedSae {
  TopKSae sae{nullptr};
  SaeFileLayout layout = SaeFileLayout::kSaeLens;
  SaeFileInfo info;
};

// Reads a folder in either layout (told apart by its weights file): checks
// cfg.json's fields and every tensor's name, dtype and shape against them;
// errors name the file and the field or tensor. NotFound when the folder or
// its files are missing. Parameters are bfloat16 when the file's are
// (SAELens: cfg "dtype"; sparsify: W_dec's dtype, as each tool decides),
// float32 otherwise.
absl::StatusOr<LoadedSae> LoadSae(const std::filesystem::path& hookpoint_dir);

}  // namespace expsvc::lm
