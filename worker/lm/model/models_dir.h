#pragma once
// Where the worker finds models: $EXPSVC_MODELS_DIR holds one folder per
// model (llm-jp-3-150m/), each with its tokenizer and, for LLM-jp's
// intermediate checkpoints, iter_NNNNNNN/ folders in the Hugging Face layout:
//
//   $EXPSVC_MODELS_DIR/llm-jp-3-150m/tokenizer.json
//   $EXPSVC_MODELS_DIR/llm-jp-3-150m/iter_0000010/config.json, model.safetensors
//
// Jobs name models relative to it ("llm-jp-3-150m", "llm-jp-3-150m/iter_0000010"),
// so sweep files carry no machine paths; an absolute path is taken as is.
// No LibTorch.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace expsvc::lm {

inline constexpr char kModelsDirVariable[] = "EXPSVC_MODELS_DIR";

// $EXPSVC_MODELS_DIR; FailedPrecondition when unset or empty.
absl::StatusOr<std::filesystem::path> ModelsDir();

// An absolute path must exist; a relative one is looked up under
// $EXPSVC_MODELS_DIR (".." is refused, so a name cannot leave it). The file
// or folder must exist: NotFound naming EXPSVC_MODELS_DIR and the path tried.
absl::StatusOr<std::filesystem::path> ResolveModelPath(std::string_view name_or_path);

// "iter_0000010".
std::string CheckpointFolderName(int64_t step);

// <resolved model>/iter_%07d, which must be a folder. NotFound naming the
// path and the checkpoint steps the model does have.
absl::StatusOr<std::filesystem::path> ResolveCheckpointDir(std::string_view model_name, int64_t step);

// The tokenizer file of a model: `path` itself when it is a tokenizer.model
// / tokenizer.json style file (.model, .json), else in the folder
// tokenizer.model, then tokenizer.json, then the same two in its parent (an
// iter_NNNNNNN checkpoint shares its model's tokenizer). NotFound naming the
// paths tried.
absl::StatusOr<std::filesystem::path> FindModelTokenizerFile(const std::filesystem::path& path);

}  // namespace expsvc::lm
