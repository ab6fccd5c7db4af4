#pragma once
// Opens the tokenizer of a model folder: `tokenizer.model` (SentencePiece,
// run by libsentencepiece) when present, else `tokenizer.json` (Hugging Face
// Unigram, run by HfUnigramTokenizer). A folder we trained has both and gets
// the SentencePiece one; an LLM-jp-3 folder has only tokenizer.json.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/lm/tokenizer/tokenizer.h"

namespace expsvc::lm {

// NotFound, naming both files, when the folder has neither.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& folder);

// One file, by its extension: `.model` (SentencePiece) or `.json` (Hugging
// Face Unigram). InvalidArgument naming the file for any other name.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerFile(const std::string& path);

}  // namespace expsvc::lm
