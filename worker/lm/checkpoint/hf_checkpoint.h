#pragma once
// The weights of a Hugging Face model folder, as one name → tensor map:
//   <dir>/model.safetensors                      one file, or
//   <dir>/model.safetensors.index.json           {"metadata": {"total_size": N},
//   <dir>/model-00001-of-00002.safetensors ...     "weight_map": {"name": "model-00001-of-00002.safetensors"}}
// The index wins when both exist (as in transformers). config.json is read
// separately (llama_config.h).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/lm/checkpoint/safetensors_file.h"
#include "worker/lm/checkpoint/safetensors_writer.h"

namespace expsvc::lm {

inline constexpr std::string_view kSingleWeightsFileName = "model.safetensors";
inline constexpr std::string_view kWeightsIndexFileName = "model.safetensors.index.json";

// "model-00001-of-00003.safetensors" for shard_number 1 of 3 (1-based).
std::string ShardFileName(int shard_number, int shard_count);

class HfCheckpoint {
 public:
  // Maps the weight file(s) of `model_dir`. With an index, every weight_map
  // entry must name a plain file in the folder that holds that tensor;
  // tensors a shard holds but the weight_map does not list are ignored.
  static absl::StatusOr<std::unique_ptr<HfCheckpoint>> Open(const std::filesystem::path& model_dir);

  const std::filesystem::path& dir() const { return dir_; }
  // Sorted tensor names.
  std::vector<std::string> names() const;
  // nullptr when absent.
  const TensorView* Find(std::string_view name) const;
  // NotFound naming the folder and the tensor when absent.
  absl::StatusOr<TensorView> Get(std::string_view name) const;
  // The path of the file holding `name` ("" when absent).
  std::string FileOf(std::string_view name) const;
  // All files' "__metadata__", merged (the first file wins on a clash).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  size_t num_files() const { return files_.size(); }

 private:
  struct Located {
    TensorView view;
    const SafetensorsFile* file;
  };

  HfCheckpoint() = default;
  absl::Status OpenSingle(const std::filesystem::path& path);
  absl::Status OpenSharded(const std::filesystem::path& index_path);

  std::filesystem::path dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Located, std::less<>> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct HfWeightsWriteOptions {
  // 0: everything in one model.safetensors. Otherwise tensors are packed, in
  // the order given, into shards of at most this many bytes (a larger tensor
  // gets a shard of its own) plus model.safetensors.index.json.
  uint64_t max_shard_bytes = 0;
  // Written into every file's "__metadata__" (transformers expects format=pt).
  std::map<std::string, std::string> metadata = {{"format", "pt"}};
};

// Writes the weights of `model_dir` (created if missing). Each file is
// written atomically; the index last, as the commit point of a sharded set.
// Weight files of an earlier layout (a stale index, model.safetensors or
// shards not in the new set) are removed afterwards so they cannot shadow it.
absl::Status WriteHfWeights(const std::filesystem::path& model_dir, std::span<const TensorToWrite> tensors,
                            const HfWeightsWriteOptions& options = {});

}  // namespace expsvc::lm
