#include "worker/lm/checkpoint/hf_checkpoint.h"

#include <regex>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"

namespace expsvc::lm {
namespace {

using Json = nlohmann::json;

bool IsShardFileName(const std::string& name) {
  static const std::regex kShardPattern(R"(model-\d{5}-of-\d{5}\.safetensors)");
  return std::regex_match(name, kShardPattern);
}

// A weight_map value must stay inside the folder: a bare file name.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

absl::StatusOr<Json> ParseIndex(const std::filesystem::path& index_path) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(index_path));
  Json index;
  try {
    index = Json::parse(text);
  } catch (const Json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": invalid JSON: ", error.what()));
  }
  if (!index.is_object()) return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": not a JSON object"));
  const auto weight_map = index.find("weight_map");
  if (weight_map == index.end() || !weight_map->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": missing \"weight_map\" object"));
  }
  return index;
}

// Removes weight files of another layout; failures are reported, not fatal
// to the data already committed, but the caller hears about them.
absl::Status RemoveStaleWeightFiles(const std::filesystem::path& dir, const std::set<std::string>& keep) {
  std::error_code error;
  std::vector<std::filesystem::path> stale;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    const bool weight_file = name == kSingleWeightsFileName || name == kWeightsIndexFileName || IsShardFileName(name);
    if (weight_file && !keep.contains(name)) stale.push_back(entry.path());
  }
  if (error) return absl::InternalError(absl::StrCat("cannot list ", dir.string(), ": ", error.message()));
  for (const std::filesystem::path& path : stale) {
    if (!std::filesystem::remove(path, error) && error) {
      return absl::InternalError(absl::StrCat("cannot remove stale ", path.string(), ": ", error.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string ShardFileName(int shard_number, int shard_count) {
  return absl::StrFormat("model-%05d-of-%05d.safetensors", shard_number, shard_count);
}

absl::StatusOr<std::unique_ptr<HfCheckpoint>> HfCheckpoint::Open(const std::filesystem::path& model_dir) {
  std::unique_ptr<HfCheckpoint> checkpoint(new HfCheckpoint());
  checkpoint->dir_ = model_dir;
  std::error_code error;
  const std::filesystem::path index_path = model_dir / kWeightsIndexFileName;
  const std::filesystem::path single_path = model_dir / kSingleWeightsFileName;
  if (std::filesystem::exists(index_path, error)) {
    EXPSVC_RETURN_IF_ERROR(checkpoint->OpenSharded(index_path));
  } else if (std::filesystem::exists(single_path, error)) {
    EXPSVC_RETURN_IF_ERROR(checkpoint->OpenSingle(single_path));
  } else {
    return absl::NotFoundError(absl::StrCat(model_dir.string(), " holds neither ", std::string(kSingleWeightsFileName),
                                            " nor ", std::string(kWeightsIndexFileName)));
  }
  for (const auto& file : checkpoint->files_)
    checkpoint->metadata_.insert(file->metadata().begin(), file->metadata().end());
  return checkpoint;
}

absl::Status HfCheckpoint::OpenSingle(const std::filesystem::path& path) {
  EXPSVC_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
  for (const TensorView& view : file->tensors()) tensors_.emplace(std::string(view.name), Located{view, file.get()});
  files_.push_back(std::move(file));
  return absl::OkStatus();
}

absl::Status HfCheckpoint::OpenSharded(const std::filesystem::path& index_path) {
  EXPSVC_ASSIGN_OR_RETURN(const Json index, ParseIndex(index_path));
  std::map<std::string, const SafetensorsFile*> opened;
  for (const auto& [name, file_value] : index.at("weight_map").items()) {
    if (!file_value.is_string() || !IsPlainFileName(file_value.get<std::string>())) {
      return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": weight_map entry of '", name,
                                                     "' must be a file name in the folder, got ", file_value.dump()));
    }
    const std::string file_name = file_value.get<std::string>();
    auto it = opened.find(file_name);
    if (it == opened.end()) {
      EXPSVC_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(dir_ / file_name));
      it = opened.emplace(file_name, file.get()).first;
      files_.push_back(std::move(file));
    }
    const TensorView* view = it->second->Find(name);
    if (view == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": weight_map puts tensor '", name, "' in ",
                                                     file_name, ", which has no such tensor"));
    }
    tensors_.emplace(name, Located{*view, it->second});
  }
  return absl::OkStatus();
}

std::vector<std::string> HfCheckpoint::names() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, located] : tensors_) names.push_back(name);
  return names;
}

const TensorView* HfCheckpoint::Find(std::string_view name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second.view;
}

absl::StatusOr<TensorView> HfCheckpoint::Get(std::string_view name) const {
  if (const TensorView* view = Find(name)) return *view;
  return absl::NotFoundError(absl::StrCat("checkpoint ", dir_.string(), " has no tensor '", std::string(name), "'"));
}

std::string HfCheckpoint::FileOf(std::string_view name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? std::string() : it->second.file->source();
}

absl::Status WriteHfWeights(const std::filesystem::path& model_dir, std::span<const TensorToWrite> tensors,
                            const HfWeightsWriteOptions& options) {
  std::error_code error;
  std::filesystem::create_directories(model_dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", model_dir.string(), ": ", error.message()));
  std::set<std::string_view> names;
  for (const TensorToWrite& tensor : tensors) {
    if (!names.insert(tensor.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(model_dir.string(), ": tensor '", tensor.name, "' is given twice"));
    }
  }

  // Greedy packing in the given order.
  std::vector<std::vector<TensorToWrite>> shards(1);
  uint64_t shard_bytes = 0;
  uint64_t total_bytes = 0;
  for (const TensorToWrite& tensor : tensors) {
    const uint64_t size = tensor.bytes.size();
    if (options.max_shard_bytes > 0 && !shards.back().empty() && shard_bytes + size > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(tensor);
    shard_bytes += size;
    total_bytes += size;
  }

  if (shards.size() == 1) {
    EXPSVC_RETURN_IF_ERROR(WriteSafetensorsFile(model_dir / kSingleWeightsFileName, shards.front(), options.metadata));
    return RemoveStaleWeightFiles(model_dir, {std::string(kSingleWeightsFileName)});
  }

  const int count = static_cast<int>(shards.size());
  Json weight_map = Json::object();
  std::set<std::string> written{std::string(kWeightsIndexFileName)};
  for (int i = 0; i < count; ++i) {
    const std::string file_name = ShardFileName(i + 1, count);
    EXPSVC_RETURN_IF_ERROR(WriteSafetensorsFile(model_dir / file_name, shards[i], options.metadata));
    for (const TensorToWrite& tensor : shards[i]) weight_map[tensor.name] = file_name;
    written.insert(file_name);
  }
  const Json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
  std::string index_text;
  try {
    index_text = index.dump(2) + "\n";
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(model_dir.string(), ": cannot encode the index: ", e.what()));
  }
  EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically(model_dir / kWeightsIndexFileName, index_text));
  return RemoveStaleWeightFiles(model_dir, written);
}

}  // namespace expsvc::lm
