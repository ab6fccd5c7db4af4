#include "worker/lm/model/models_dir.h"

#include <algorithm>
#include <cstdlib>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace expsvc::lm {
namespace {

namespace fs = std::filesystem;

constexpr char kModelFile[] = "tokenizer.model";
constexpr char kJsonFile[] = "tokenizer.json";
constexpr size_t kStepsListed = 20;

bool Exists(const fs::path& path) {
  std::error_code ignored;
  return fs::exists(path, ignored);
}

// "iter_0000010, iter_0000020, ..." of a model folder; "none" when it has none.
std::string CheckpointsIn(const fs::path& model_dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(model_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("iter_", 0) == 0 && entry.is_directory(error)) names.push_back(name);
  }
  if (names.empty()) return "none";
  std::sort(names.begin(), names.end());
  const size_t total = names.size();
  if (total > kStepsListed) names.resize(kStepsListed);
  return absl::StrCat(absl::StrJoin(names, ", "),
                      total > kStepsListed ? absl::StrCat(", ... (", total, " in all)") : "");
}

}  // namespace

absl::StatusOr<fs::path> ModelsDir() {
  const char* value = std::getenv(kModelsDirVariable);
  if (value == nullptr || *value == '\0') {
    return absl::FailedPreconditionError(
        absl::StrCat(kModelsDirVariable,
                     " is not set: set it on the worker to the folder holding the model folders, "
                     "or give an absolute path"));
  }
  return fs::path(value);
}

absl::StatusOr<fs::path> ResolveModelPath(std::string_view name_or_path) {
  const std::string name(name_or_path);
  if (name.empty()) return absl::InvalidArgumentError("empty model name");
  const fs::path given(name);
  if (given.is_absolute()) {
    if (!Exists(given)) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
    return given;
  }
  for (const fs::path& part : given) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("model name '", name, "' must not contain '..': names are relative to ", kModelsDirVariable));
    }
  }
  absl::StatusOr<fs::path> models_dir = ModelsDir();
  if (!models_dir.ok()) {
    return absl::Status(models_dir.status().code(),
                        absl::StrCat("cannot find model '", name, "': ", models_dir.status().message()));
  }
  const fs::path candidate = *models_dir / given;
  if (!Exists(candidate)) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' not found: tried ", candidate.string(), " (",
                                            kModelsDirVariable, "=", models_dir->string(), ")"));
  }
  return candidate;
}

std::string CheckpointFolderName(int64_t step) {
  return absl::StrFormat("iter_%07d", step);
}

absl::StatusOr<fs::path> ResolveCheckpointDir(std::string_view model_name, int64_t step) {
  if (step < 0) return absl::InvalidArgumentError(absl::StrCat("checkpoint step ", step, " is negative"));
  EXPSVC_ASSIGN_OR_RETURN(const fs::path model_dir, ResolveModelPath(model_name));
  const fs::path checkpoint = model_dir / CheckpointFolderName(step);
  std::error_code error;
  if (!fs::is_directory(checkpoint, error)) {
    return absl::NotFoundError(absl::StrCat("model '", std::string(model_name), "' has no checkpoint at step ", step,
                                            ": ", checkpoint.string(),
                                            " is not a folder (checkpoints there: ", CheckpointsIn(model_dir), ")"));
  }
  return checkpoint;
}

absl::StatusOr<fs::path> FindModelTokenizerFile(const fs::path& path) {
  std::error_code error;
  if (fs::is_regular_file(path, error)) {
    if (path.extension() == ".model" || path.extension() == ".json") return path;
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), " is not a tokenizer file (expected ", kModelFile, " or ", kJsonFile, ")"));
  }
  if (!fs::is_directory(path, error)) return absl::NotFoundError(absl::StrCat(path.string(), " does not exist"));
  std::vector<std::string> tried;
  const fs::path folder =
      path.lexically_normal().has_filename() ? path.lexically_normal() : path.lexically_normal().parent_path();
  for (const fs::path& dir : {folder, folder.parent_path()}) {
    for (const char* name : {kModelFile, kJsonFile}) {
      const fs::path candidate = dir / name;
      if (fs::is_regular_file(candidate, error)) return candidate;
      tried.push_back(candidate.string());
    }
  }
  return absl::NotFoundError(absl::StrCat("no tokenizer for ", path.string(), ": tried ", absl::StrJoin(tried, ", ")));
}

}  // namespace expsvc::lm
