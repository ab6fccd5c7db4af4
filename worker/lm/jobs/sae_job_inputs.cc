#include "worker/lm/jobs/sae_job_inputs.h"

#include <algorithm>
#include <optional>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "worker/lm/corpus/corpus_file_format.h"
#include "worker/lm/model/model_tokenizer_check.h"
#include "worker/lm/model/models_dir.h"

namespace expsvc::worker {
namespace {

namespace fs = std::filesystem;
namespace v1 = expsvc::v1;

// Step of an iter_NNNNNNN name, or nullopt.
std::optional<int64_t> IterStep(const std::string& name) {
  static const std::regex pattern("^iter_([0-9]{7,})$");
  std::smatch match;
  if (!std::regex_match(name, match, pattern)) return std::nullopt;
  return std::stoll(match[1].str());
}

absl::Status CopyInto(const std::string& from, const fs::path& to) {
  std::error_code error;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, error);
  if (error) return absl::InternalError(absl::StrCat("copy ", from, " to ", to.string(), ": ", error.message()));
  return absl::OkStatus();
}

absl::StatusOr<LmCheckpointFolder> FromModelsDir(const std::string& model, int64_t step) {
  if (step > 0) {
    EXPSVC_ASSIGN_OR_RETURN(fs::path dir, lm::ResolveCheckpointDir(model, step));
    return LmCheckpointFolder{dir, step};
  }
  // Step 0: the newest iter_NNNNNNN folder of the model.
  EXPSVC_ASSIGN_OR_RETURN(const fs::path model_dir, lm::ResolveModelPath(model));
  LmCheckpointFolder newest;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(model_dir, error)) {
    std::optional<int64_t> found = IterStep(entry.path().filename().string());
    if (found.has_value() && entry.is_directory() && *found > newest.step) newest = {entry.path(), *found};
  }
  if (newest.step == 0) return absl::NotFoundError(absl::StrCat(model_dir.string(), " has no iter_NNNNNNN folders"));
  return newest;
}

}  // namespace

absl::StatusOr<lm::LmCorpus> FetchParentCorpus(JobContext& context) {
  std::optional<v1::ArtifactRef> artifact = context.FindParentArtifact(kCorpusArtifactName);
  if (!artifact.has_value()) {
    return absl::FailedPreconditionError(
        "no parent job has a corpus.bin: the stage must depend on a build_corpus stage");
  }
  EXPSVC_ASSIGN_OR_RETURN(std::string path, context.FetchArtifact(*artifact));
  return lm::ReadCorpusFile(path);
}

absl::StatusOr<LmCheckpointFolder> FetchLmCheckpoint(JobContext& context, const std::string& model, int64_t step) {
  if (!model.empty()) return FromModelsDir(model, step);
  // The parent train_lm job stores iter_NNNNNNN.config.json and
  // iter_NNNNNNN.model.safetensors; put them back together as a folder.
  int64_t newest = 0;
  for (const v1::ArtifactRef& artifact : context.leased_job().parent_artifacts()) {
    const std::string& name = artifact.name();
    const size_t dot = name.find('.');
    if (dot == std::string::npos || name.substr(dot) != ".model.safetensors") continue;
    newest = std::max(newest, IterStep(name.substr(0, dot)).value_or(0));
  }
  const int64_t wanted = step > 0 ? step : newest;
  if (wanted == 0) {
    return absl::FailedPreconditionError(
        "no parent job has LM checkpoints (iter_NNNNNNN.*): depend on a train_lm stage or set `model`");
  }
  const std::string folder = lm::CheckpointFolderName(wanted);
  const fs::path dir = fs::path(context.scratch_dir()) / "lm" / folder;
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", error.message()));
  for (const char* file : {"config.json", "model.safetensors"}) {
    const std::string name = absl::StrCat(folder, ".", file);
    std::optional<v1::ArtifactRef> artifact = context.FindParentArtifact(name);
    if (!artifact.has_value()) {
      return absl::NotFoundError(absl::StrCat("the parent train_lm job has no checkpoint at step ", wanted, " (no ",
                                              name, "); its checkpoint_steps decide which exist"));
    }
    EXPSVC_ASSIGN_OR_RETURN(std::string path, context.FetchArtifact(*artifact));
    EXPSVC_RETURN_IF_ERROR(CopyInto(path, dir / file));
  }
  // The tokenizer lives beside the checkpoints, as in LLM-jp's releases.
  for (const char* file : {"tokenizer.json", "tokenizer.model"}) {
    std::optional<v1::ArtifactRef> artifact = context.FindParentArtifact(file);
    if (!artifact.has_value()) continue;
    EXPSVC_ASSIGN_OR_RETURN(std::string path, context.FetchArtifact(*artifact));
    EXPSVC_RETURN_IF_ERROR(CopyInto(path, dir / file));
  }
  return LmCheckpointFolder{dir, wanted};
}

absl::Status CheckCorpusFitsModel(JobContext& context, const lm::LmCorpus& corpus, const fs::path& model_dir) {
  EXPSVC_ASSIGN_OR_RETURN(const lm::CorpusModelCheck check, lm::CheckCorpusMatchesModel(corpus, model_dir));
  if (!check.warning.empty()) context.Log(absl::StrCat("warning: ", check.warning));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> BlockOfLayer(int64_t layer, int64_t model_layers) {
  if (layer < 1 || layer > model_layers) {
    return absl::InvalidArgumentError(absl::StrCat("layer ", layer, " does not exist: the model has layers 1..",
                                                   model_layers, " (layer l is the residual after block l-1)"));
  }
  return layer - 1;
}

absl::StatusOr<fs::path> FetchParentSae(JobContext& context, const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", error.message()));
  int fetched = 0;
  for (const v1::ArtifactRef& artifact : context.leased_job().parent_artifacts()) {
    if (!absl::StartsWith(artifact.name(), kSaeArtifactPrefix)) continue;
    EXPSVC_ASSIGN_OR_RETURN(std::string path, context.FetchArtifact(artifact));
    EXPSVC_RETURN_IF_ERROR(CopyInto(path, dir / artifact.name().substr(std::string(kSaeArtifactPrefix).size())));
    ++fetched;
  }
  if (fetched == 0) {
    return absl::FailedPreconditionError(
        "no parent job has SAE files (sae.*): the stage must depend on a train_sae stage");
  }
  return dir;
}

}  // namespace expsvc::worker
