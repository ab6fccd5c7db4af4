#pragma once
// Tests only: where the real LLM-jp v3 tokenizer (SentencePiece, 99,574
// pieces) is, when this machine has it: $EXPSVC_DATA_DIR/llm-jp-tokenizer/.
// Tests that need it skip with kLlmJpTokenizerSkipMessage otherwise.

#include <cstdlib>
#include <filesystem>
#include <string>

namespace expsvc::lm::test_support {

inline constexpr char kLlmJpTokenizerModelFile[] = "llm-jp-tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model";
inline constexpr char kLlmJpTokenizerSkipMessage[] =
    "the LLM-jp tokenizer was not found: set EXPSVC_DATA_DIR to the folder holding "
    "llm-jp-tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model";
inline constexpr int kLlmJpTokenizerVocabSize = 99574;

// "" when absent.
inline std::string LlmJpTokenizerModelPath() {
  const char* data_dir = std::getenv("EXPSVC_DATA_DIR");
  if (data_dir == nullptr || *data_dir == '\0') return "";
  const std::filesystem::path path = std::filesystem::path(data_dir) / kLlmJpTokenizerModelFile;
  return std::filesystem::exists(path) ? path.string() : "";
}

}  // namespace expsvc::lm::test_support
