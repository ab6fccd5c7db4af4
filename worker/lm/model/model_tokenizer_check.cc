#include "worker/lm/model/model_tokenizer_check.h"

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/lm/checkpoint/hf_checkpoint.h"
#include "worker/lm/checkpoint/llama_config.h"
#include "worker/lm/model/models_dir.h"
#include "worker/lm/tokenizer/tokenizer_identity.h"

namespace expsvc::lm {

absl::StatusOr<std::string> ModelTokenizerIdentity(const std::filesystem::path& model_dir) {
  absl::StatusOr<std::filesystem::path> tokenizer = FindModelTokenizerFile(model_dir);
  if (tokenizer.ok()) return TokenizerIdentityOfFile(*tokenizer);
  if (!absl::IsNotFound(tokenizer.status())) return tokenizer.status();
  absl::StatusOr<std::unique_ptr<HfCheckpoint>> weights = HfCheckpoint::Open(model_dir);
  if (weights.ok()) {
    const auto it = (*weights)->metadata().find(kTokenizerIdentityMetadataKey);
    if (it != (*weights)->metadata().end()) {
      if (!IsTokenizerIdentity(it->second)) {
        return absl::DataLossError(absl::StrCat(model_dir.string(), ": metadata ", kTokenizerIdentityMetadataKey, " \"",
                                                it->second, "\" is not a tokenizer identity"));
      }
      return it->second;
    }
  }
  return absl::NotFoundError(absl::StrCat(model_dir.string(), " has no tokenizer file (", tokenizer.status().message(),
                                          ") and no ", kTokenizerIdentityMetadataKey, " in its weights' metadata"));
}

absl::StatusOr<CorpusModelCheck> CheckCorpusMatchesModel(const LmCorpus& corpus,
                                                         const std::filesystem::path& model_dir) {
  EXPSVC_ASSIGN_OR_RETURN(const LlamaConfig config, ReadLlamaConfig(model_dir));
  if (corpus.vocab_size() > config.vocab_size) {
    return absl::FailedPreconditionError(absl::StrCat("the corpus has ", corpus.vocab_size(),
                                                      " token ids but the model ", model_dir.string(),
                                                      " has a vocabulary of ", config.vocab_size));
  }
  CorpusModelCheck check;
  if (corpus.tokenizer_identity().empty()) {
    check.warning = "the corpus records no tokenizer identity (a version-1 corpus.bin): only vocabulary sizes checked";
    return check;
  }
  absl::StatusOr<std::string> model_identity = ModelTokenizerIdentity(model_dir);
  if (!model_identity.ok() && !absl::IsNotFound(model_identity.status())) return model_identity.status();
  if (!model_identity.ok()) {
    check.warning = absl::StrCat("no tokenizer identity for the model: ", model_identity.status().message(),
                                 "; only vocabulary sizes checked");
    return check;
  }
  if (*model_identity != corpus.tokenizer_identity()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the corpus was tokenised with tokenizer ", ShortTokenizerIdentity(corpus.tokenizer_identity()),
                     " but the model ", model_dir.string(), " uses tokenizer ", ShortTokenizerIdentity(*model_identity),
                     ": their token ids differ"));
  }
  check.identity_matched = true;
  return check;
}

}  // namespace expsvc::lm
