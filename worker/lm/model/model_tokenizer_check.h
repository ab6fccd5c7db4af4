#pragma once
// Whether a corpus and a model speak the same token ids. A corpus.bin
// records its tokenizer's identity (tokenizer_identity.h); a model folder
// carries its tokenizer as tokenizer.model / tokenizer.json (LLM-jp's
// folders, and every checkpoint train_lm writes), in the folder or its
// parent, and train_lm also writes the identity into the safetensors
// "__metadata__" as tokenizer_sha256. No LibTorch.

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "worker/lm/corpus/lm_corpus.h"

namespace expsvc::lm {

// The safetensors metadata key train_lm writes the identity under.
inline constexpr char kTokenizerIdentityMetadataKey[] = "tokenizer_sha256";

// The identity of the model's tokenizer: computed from its tokenizer file
// (FindModelTokenizerFile: the folder, then its parent) when there is one,
// else read from the weights' tokenizer_sha256 metadata. NotFound when
// neither exists; a tokenizer file that does not read is an error.
absl::StatusOr<std::string> ModelTokenizerIdentity(const std::filesystem::path& model_dir);

struct CorpusModelCheck {
  // Both identities were known and are equal.
  bool identity_matched = false;
  // Non-empty when one side had no identity and only the vocabulary sizes
  // could be compared: what is missing. The caller logs it as a warning.
  std::string warning;
};

// Checks that the corpus's ids fit the model: its vocabulary must not be
// larger than the model's config.json vocab_size (LLM-jp pads 99,574 to
// 99,584), and when both tokenizer identities are known they must be equal.
// FailedPrecondition naming both identities (12 characters each) when they
// differ, or both sizes; OK with a warning when either identity is unknown
// (a version-1 corpus.bin, a folder without tokenizer or metadata).
absl::StatusOr<CorpusModelCheck> CheckCorpusMatchesModel(const LmCorpus& corpus,
                                                         const std::filesystem::path& model_dir);

}  // namespace expsvc::lm
